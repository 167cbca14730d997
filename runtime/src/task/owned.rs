//! The runtime's list of every live task, so that shutdown can drop them all.
//!
//! A task that waits on a socket or a timer is referenced only by wakers; if the runtime shut
//! down by just emptying its run queues, such tasks (and everything their futures own) would
//! leak. `OwnedTasks` keeps one reference to every task from `spawn` until it completes; shutdown
//! closes the list and cancels whatever is still in it, so every future's destructor runs.
//!
//! The list is sharded by task id (see [`shard_of`]), so two workers spawning at once rarely
//! take the same lock. A task remembers its key in its shard in `Header::slot` (`raw::Slot`); the
//! shard follows from its id.
//!
//! Invariants:
//! - INVARIANT: a task is in the list from `bind` until `remove` (at completion) or `close_and_shutdown_all`;
//!   the list's entry owns one task reference.
//! - INVARIANT: once a shard is closed no task is added to it; `bind` cancels the task instead.

use std::panic::Location;

use slab::Slab;

use super::id::{self, Id};
use super::raw::{self, RawTask};
use super::{Notified, Schedule, Task};
use crate::loom::Mutex;

/// Number of shards.
const SHARDS: usize = 16;

/// Every live task of one runtime.
pub(crate) struct OwnedTasks {
    /// INVARIANT: each slab entry is a task reference owned by the list.
    shards: Box<[Mutex<Shard>]>,
}

/// One lock's worth of the list.
struct Shard {
    /// The tasks, by slab key.
    tasks: Slab<RawTask>,
    /// Set at shutdown; no more tasks may be added.
    closed: bool,
    /// Tasks ever added to this shard (for metrics; counted under the lock `bind` takes anyway).
    spawned: u64,
}

/// The shard of task `id`. One thread's spawns take consecutive ids (`id.rs`), so they go
/// round the shards; adding the id's block number makes threads holding different blocks
/// start at different shards, so two threads spawning at once rarely meet on one lock.
fn shard_of(id: Id) -> usize {
    let n = id.as_u64();
    (n.wrapping_add(n / id::ID_BLOCK) % SHARDS as u64) as usize
}

impl OwnedTasks {
    pub(crate) fn new() -> OwnedTasks {
        OwnedTasks {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        tasks: Slab::new(),
                        closed: false,
                        spawned: 0,
                    })
                })
                .collect(),
        }
    }

    /// Adds a freshly created task. Returns its first queue entry, or `None` if the runtime is
    /// shutting down (the task is then cancelled at once and its `JoinHandle` reports that).
    pub(crate) fn bind<S: Schedule>(
        &self,
        task: Task<S>,
        notified: Notified<S>,
    ) -> Option<Notified<S>> {
        let shard_index = shard_of(task.id());
        let mut shard = self.shards[shard_index].lock();
        if shard.closed {
            drop(shard);
            drop(notified);
            task.shutdown();
            return None;
        }
        assert!(
            (shard.tasks.len() as u64) < raw::NO_KEY,
            "too many live tasks (2^{} per shard of the task list)",
            raw::KEY_BITS
        );
        let raw = task.into_raw();
        shard.spawned += 1;
        let key = shard.tasks.insert(raw);
        raw::Slot::of(&raw).set_key(key as u64);
        Some(notified)
    }

    /// Takes a completing task out of the list, returning the list's reference.
    pub(crate) fn remove<S: Schedule>(&self, task: &Task<S>) -> Option<Task<S>> {
        let key = raw::Slot::of(&task.raw()).key();
        if key == raw::NO_KEY {
            return None; // never bound (a blocking task)
        }
        let key = key as usize;
        let mut shard = self.shards[shard_of(task.id())].lock();
        match shard.tasks.get(key) {
            Some(&raw) if raw == task.raw() => {
                shard.tasks.remove(key);
                Some(Task::from_raw(raw))
            }
            // Already taken by shutdown.
            _ => None,
        }
    }

    /// Closes every shard and cancels every task still listed (their futures are dropped here,
    /// on the calling thread). Safe to call more than once.
    pub(crate) fn close_and_shutdown_all<S: Schedule>(&self) {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
        for shard in self.shards.iter() {
            loop {
                // Take tasks out one batch at a time and cancel them with the lock released:
                // a future's destructor may spawn (and find the list closed) or wake other tasks.
                let batch: Vec<RawTask> = {
                    let mut shard = shard.lock();
                    let keys: Vec<usize> = shard.tasks.iter().map(|(k, _)| k).take(64).collect();
                    keys.into_iter().map(|k| shard.tasks.remove(k)).collect()
                };
                if batch.is_empty() {
                    break;
                }
                for raw in batch {
                    Task::<S>::from_raw(raw).shutdown();
                }
            }
        }
    }

    /// The spawn site and name of live task `id`, if it is in the list (the long-poll monitor's
    /// question, `monitor/record.rs`). Walks every shard: time in proportion to the live tasks,
    /// asked once per long poll found, never on a hot path.
    pub(crate) fn describe(&self, id: Id) -> Option<(&'static Location<'static>, Option<String>)> {
        self.shards.iter().find_map(|shard| {
            let shard = shard.lock();
            shard.tasks.iter().find_map(|(_, raw)| {
                // The list's reference keeps the task alive while we hold the shard's lock
                // (INVARIANT of the list), so its header and name can be read.
                let header = raw.header();
                (header.id == id).then(|| {
                    let meta = &header.meta;
                    (meta.spawned_at(), meta.name().map(str::to_owned))
                })
            })
        })
    }

    /// Number of live tasks (for tests and metrics).
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.counts().0
    }

    /// Live tasks, and tasks ever added (for metrics).
    pub(crate) fn counts(&self) -> (usize, u64) {
        self.shards.iter().fold((0, 0), |(alive, spawned), s| {
            let s = s.lock();
            (alive + s.tasks.len(), spawned + s.spawned)
        })
    }
}

impl std::fmt::Debug for OwnedTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedTasks").finish_non_exhaustive()
    }
}

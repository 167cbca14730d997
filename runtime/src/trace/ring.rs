//! One thread's flight recorder: a bounded ring of [`Event`]s, and the [`Writer`] through which
//! its own thread fills it.
//!
//! The protocol between the thread that records and a thread that dumps:
//!
//! ```text
//!   owning thread:  event ─► Writer::batch (its own Vec, no lock)
//!                   every BATCH events, and before it sleeps:  lock ring ─► copy batch in ─► unlock
//!   dumping thread: lock ring ─► copy the ring out ─► unlock        (any time, any thread)
//! ```
//!
//! So the lock is taken by the writer once per [`BATCH`] events, never per event, and the two
//! sides only ever meet on it: a dump sees every event up to the writer's last flush, in order,
//! never a half-written one. What a dump misses is the writer's unflushed batch (at most
//! `BATCH - 1` events; none for a thread that is asleep, since it flushes before it parks).
//! The ring keeps the newest `capacity` events: once full, each new event replaces the oldest.
//!
//! Invariants:
//! - INVARIANT (one writer): a ring has at most one [`Writer`] at a time, owned by the thread
//!   that records into it (a worker, a blocking-pool thread, a current-thread loop's thread).
//! - INVARIANT (order): events enter the ring in the order the writer recorded them, so each
//!   thread's events are in the order of their end times (a span is recorded when it ends).
//!
//! Talks to: `trace/mod.rs` (owns the writers in a thread-local, creates rings), `trace/json.rs`
//! (reads a [`RingDump`]). The loom model at the end of this file runs a writer and a dump
//! concurrently.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::Location;

use crate::loom::{Arc, Mutex};

/// Events a writer collects before it takes the ring's lock to add them.
pub(crate) const BATCH: usize = 64;

/// Named tasks a ring remembers names for before it forgets those no event of it mentions.
const NAMES_SOFT_CAP: usize = 4096;

/// What an [`Event`] records. The meaning of `a`, `b`, `c` depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One poll of a task. `a`: task id; `b`: the wake stamp of the queue entry (a flow id),
    /// 0 if none; `site`: where the task was spawned.
    Poll,
    /// The thread woke a task (made a queue entry for it). `ts` is also the entry's stamp, the
    /// flow id its poll will carry; `a`: the task id.
    Wake,
    /// A light sleep (at most 1 ms).
    ParkLight,
    /// A deep sleep (until notified, I/O or a timer).
    ParkDeep,
    /// A reactor turn (`epoll_wait`); `a`: the I/O events it delivered.
    ReactorTurn,
    /// The thread stole from a sibling; `a`: the victim's worker index; `b`: tasks moved.
    Steal,
    /// Queue depths at a maintenance tick; `a`: this worker's local queue; `b`: the injector
    /// (`u64::MAX`: no injector, a current-thread runtime).
    Queues,
    /// A poll of `block_on`'s own future (current-thread runtime).
    MainPoll,
}

/// One record: when, how long, and three words whose meaning [`Kind`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// Start, in `metrics` clock nanoseconds (CLOCK_MONOTONIC).
    pub(crate) ts: u64,
    /// Duration in nanoseconds; 0 for an instant.
    pub(crate) dur: u64,
    /// See [`Kind`].
    pub(crate) a: u64,
    /// See [`Kind`].
    pub(crate) b: u64,
    /// For a poll: the task's spawn site.
    pub(crate) site: Option<&'static Location<'static>>,
    /// What this is.
    pub(crate) kind: Kind,
}

impl Event {
    /// An event with no words.
    pub(crate) fn new(kind: Kind, ts: u64, dur: u64) -> Event {
        Event {
            ts,
            dur,
            a: 0,
            b: 0,
            site: None,
            kind,
        }
    }
}

/// Which thread a ring records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Worker `i` of a multi-thread runtime, or (i = 0) a current-thread runtime's loop.
    Worker(usize),
    /// A blocking-pool thread.
    Blocking,
}

/// A hasher for task ids (already unique numbers): one multiply, not SipHash.
#[derive(Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by task id.
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;
/// A set of task ids.
type IdSet = HashSet<u64, BuildHasherDefault<IdHasher>>;

/// One thread's ring, shared between its writer and whoever dumps.
#[derive(Debug)]
pub(crate) struct Ring {
    /// The track's name in the trace (`spindle-worker-0`, `spindle-blocking-3`).
    pub(crate) name: String,
    /// Whose ring this is.
    pub(crate) role: Role,
    /// The events and the names of the named tasks they mention.
    data: Mutex<RingData>,
    /// For a blocking thread's ring: no thread records into it now, so a new blocking thread
    /// may take it (rings are reused so that thread churn does not grow memory).
    /// INVARIANT: set only by the writer's owner when it lets go; cleared by whoever takes it,
    /// under the tracer's ring-list lock.
    pub(crate) free: std::sync::atomic::AtomicBool,
}

/// The part of a [`Ring`] behind its lock.
#[derive(Debug)]
struct RingData {
    /// The events, oldest first until the ring is full; then a circle starting at `next`.
    events: Vec<Event>,
    /// Once full: where the next event goes (the oldest one). INVARIANT: `< capacity`.
    next: usize,
    /// Most events kept. INVARIANT: at least 1.
    capacity: usize,
    /// Events replaced by newer ones since the start.
    overwritten: u64,
    /// The name of every named task polled here whose poll may still be in `events`.
    names: IdMap<Box<str>>,
}

/// A copy of a ring taken for a dump.
#[derive(Debug, Clone)]
pub(crate) struct RingDump {
    /// The track's name.
    pub(crate) name: String,
    /// Whose ring.
    pub(crate) role: Role,
    /// The events, oldest first.
    pub(crate) events: Vec<Event>,
    /// Names of the named tasks among them.
    pub(crate) names: IdMap<Box<str>>,
    /// Events the ring had already dropped for newer ones.
    pub(crate) overwritten: u64,
}

impl Ring {
    /// An empty ring keeping the last `capacity` events (at least 1). Memory grows with use,
    /// up to `capacity` events.
    pub(crate) fn new(name: String, role: Role, capacity: usize) -> Ring {
        Ring {
            name,
            role,
            data: Mutex::new(RingData {
                events: Vec::new(),
                next: 0,
                capacity: capacity.max(1),
                overwritten: 0,
                names: IdMap::default(),
            }),
            free: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A copy of the ring's contents, oldest event first (any thread, any time).
    pub(crate) fn dump(&self) -> RingDump {
        let data = self.data.lock();
        let mut events = Vec::with_capacity(data.events.len());
        events.extend_from_slice(&data.events[data.next..]);
        events.extend_from_slice(&data.events[..data.next]);
        RingDump {
            name: self.name.clone(),
            role: self.role,
            events,
            names: data.names.clone(),
            overwritten: data.overwritten,
        }
    }
}

impl RingData {
    /// Appends `batch`, replacing the oldest events once full.
    fn push_all(&mut self, batch: &[Event]) {
        for e in batch {
            if self.events.len() < self.capacity {
                self.events.push(*e);
            } else {
                self.events[self.next] = *e;
                self.next = (self.next + 1) % self.capacity;
                self.overwritten += 1;
            }
        }
    }

    /// Forgets the names of tasks that no event in the ring mentions any more.
    fn prune_names(&mut self) {
        let live: IdSet = self
            .events
            .iter()
            .filter(|e| e.kind == Kind::Poll)
            .map(|e| e.a)
            .collect();
        self.names.retain(|id, _| live.contains(id));
    }
}

/// The recording end of one ring, owned by the thread that records (ring INVARIANT).
#[derive(Debug)]
pub(crate) struct Writer {
    /// The ring this writer fills.
    pub(crate) ring: Arc<Ring>,
    /// Events not yet in the ring. INVARIANT: fewer than [`BATCH`] between calls.
    batch: Vec<Event>,
    /// Names to add to the ring at the next flush.
    new_names: Vec<(u64, Box<str>)>,
    /// Task ids whose names the ring has (or will have at the next flush).
    named: IdSet,
    /// The last wake stamp handed out: stamps from one writer strictly increase, so that two
    /// wakes never share a flow id.
    last_wake: u64,
}

impl Writer {
    /// The writer of `ring` (the caller makes sure it is the only one).
    pub(crate) fn new(ring: Arc<Ring>) -> Writer {
        Writer {
            ring,
            batch: Vec::with_capacity(BATCH),
            new_names: Vec::new(),
            named: IdSet::default(),
            last_wake: 0,
        }
    }

    /// Records one event; every [`BATCH`] events, moves them into the ring.
    #[inline]
    pub(crate) fn push(&mut self, event: Event) {
        self.batch.push(event);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    /// Makes sure the ring will know task `id`'s name (called before its poll is recorded).
    pub(crate) fn name_task(&mut self, id: u64, name: &str) {
        if self.named.insert(id) {
            self.new_names.push((id, Box::from(name)));
        }
    }

    /// A wake stamp for now: the clock reading `now`, or one more than the last stamp if the
    /// clock has not moved since.
    pub(crate) fn wake_stamp(&mut self, now: u64) -> u64 {
        let stamp = now.max(self.last_wake + 1);
        self.last_wake = stamp;
        stamp
    }

    /// Moves the batch (and new names) into the ring: the only time the writer takes the lock.
    pub(crate) fn flush(&mut self) {
        if self.batch.is_empty() && self.new_names.is_empty() {
            return;
        }
        let mut data = self.ring.data.lock();
        data.push_all(&self.batch);
        data.names.extend(self.new_names.drain(..));
        if data.names.len() > NAMES_SOFT_CAP {
            data.prune_names();
            self.named = data.names.keys().copied().collect();
        }
        drop(data);
        self.batch.clear();
    }
}

impl Drop for Writer {
    /// Flushes; a blocking thread's writer is dropped only when its thread exits, so its ring
    /// is then free for the next blocking thread.
    fn drop(&mut self) {
        self.flush();
        if self.ring.role == Role::Blocking {
            // Release pairs with the Acquire of the thread that takes the ring next
            // (`Tracer::blocking_ring`): our last flush happens before its first.
            self.ring
                .free
                .store(true, std::sync::atomic::Ordering::Release);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn ev(ts: u64) -> Event {
        Event::new(Kind::ParkLight, ts, 1)
    }

    /// The ring keeps the newest `capacity` events in order, whatever the batch boundaries.
    #[test]
    fn keeps_the_newest_events_in_order() {
        for capacity in [1, 5, BATCH, BATCH + 3, 3 * BATCH] {
            for total in [0, 1, 4, BATCH, 2 * BATCH + 7, 5 * BATCH] {
                let ring = Arc::new(Ring::new("t".into(), Role::Worker(0), capacity));
                let mut w = Writer::new(ring.clone());
                for ts in 0..total as u64 {
                    w.push(ev(ts));
                }
                w.flush();
                let got: Vec<u64> = ring.dump().events.iter().map(|e| e.ts).collect();
                let kept = total.min(capacity) as u64;
                let want: Vec<u64> = (total as u64 - kept..total as u64).collect();
                assert_eq!(got, want, "capacity {capacity}, {total} events");
                assert_eq!(ring.dump().overwritten, total as u64 - kept);
            }
        }
    }

    /// A dump sees only whole batches until the writer flushes (it takes no lock per event).
    #[test]
    fn a_dump_sees_flushed_batches_only() {
        let ring = Arc::new(Ring::new("t".into(), Role::Worker(0), 1000));
        let mut w = Writer::new(ring.clone());
        for ts in 0..(BATCH + 5) as u64 {
            w.push(ev(ts));
        }
        assert_eq!(ring.dump().events.len(), BATCH);
        drop(w); // a writer flushes when its thread lets go of it
        assert_eq!(ring.dump().events.len(), BATCH + 5);
    }

    /// Names are kept for the tasks whose polls the ring still holds, and forgotten after.
    #[test]
    fn names_follow_the_polls_in_the_ring() {
        let ring = Arc::new(Ring::new("t".into(), Role::Worker(0), 10));
        let mut w = Writer::new(ring.clone());
        let poll = |id| Event {
            a: id,
            ..Event::new(Kind::Poll, id, 1)
        };
        for id in 1..=(NAMES_SOFT_CAP as u64 + 1) {
            w.name_task(id, &format!("task {id}"));
            w.push(poll(id));
        }
        w.flush();
        let dump = ring.dump();
        for e in &dump.events {
            assert_eq!(&*dump.names[&e.a], format!("task {}", e.a));
        }
        assert!(
            dump.names.len() <= 10 + BATCH,
            "{} names kept",
            dump.names.len()
        );
    }

    /// Wake stamps from one writer strictly increase even if the clock stands still.
    #[test]
    fn wake_stamps_are_unique_per_writer() {
        let mut w = Writer::new(Arc::new(Ring::new("t".into(), Role::Worker(0), 4)));
        assert_eq!(w.wake_stamp(100), 100);
        assert_eq!(w.wake_stamp(100), 101);
        assert_eq!(w.wake_stamp(50), 102);
        assert_eq!(w.wake_stamp(200), 200);
    }
}

/// loom model of the one cross-thread protocol here: a writer flushing batches while another
/// thread dumps. In every interleaving the dump sees a prefix of what was recorded, in order,
/// made of whole batches, and after the writer is done it sees everything.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;

    #[test]
    fn a_dump_during_flushes_sees_a_prefix_of_whole_batches() {
        loom::model(|| {
            let ring = Arc::new(Ring::new("t".into(), Role::Worker(0), 4 * BATCH));
            let r = ring.clone();
            let writer = thread::spawn(move || {
                let mut w = Writer::new(r);
                for ts in 0..(2 * BATCH) as u64 {
                    w.push(Event::new(Kind::ParkDeep, ts, 0));
                }
            });
            let seen = ring.dump().events;
            assert!(seen.len() % BATCH == 0, "a partial batch: {}", seen.len());
            for (i, e) in seen.iter().enumerate() {
                assert_eq!(e.ts, i as u64);
            }
            writer.join().unwrap();
            assert_eq!(ring.dump().events.len(), 2 * BATCH);
        });
    }
}

//! Task identity: the [`Id`] every task gets at spawn, and which task this thread is polling.
//!
//! An id is a process-wide unique number (two runtimes never hand out the same one), like
//! tokio's `task::Id`. Ids are not ordered by spawn time across threads: each thread takes a
//! block of [`ID_BLOCK`] ids from one global counter and hands them out from its own
//! thread-local, so two workers spawning at once never write the same cache line.
//!
//! While a task is polled (`raw.rs`), the poll's thread-local scope (`coop.rs`, which sets the
//! budget there anyway) holds its id, so that `task::id()` / `task::try_id()` (defined in
//! `coop.rs`, which owns that thread-local) work from anywhere inside the task's future.
//!
//! Talks to: `raw` (stamps the id into the header at allocation; passes it to `coop::budget`).
//! Invariant: an id, once handed out, is never handed out again in this process (the global
//! counter only grows; 2^64 ids will not run out).

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroU64;
// A plain std atomic, not the loom shim: ids are not part of any synchronization protocol
// (only their uniqueness matters), and loom types cannot live in a `static`.
use std::sync::atomic::{AtomicU64, Ordering};

/// The id of a task, unique within this process for its lifetime.
///
/// Read it with [`JoinHandle::id`](super::JoinHandle::id) from outside, or
/// [`id()`](crate::task::id()) from inside the task. It appears in metrics, long-poll reports
/// and traces, so a task can be followed through all of them.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let handle = spindle::spawn(async { spindle::task::id() });
///     let outside = handle.id();
///     assert_eq!(handle.await.unwrap(), outside);
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

/// Units a task may spend in one poll before it is made to yield (tokio uses the same number;
/// `coop.rs` spends them). Defined here, not in `coop`, because an id is kept as the scope word
/// of a poll of its task with a fresh budget (below), which `coop` then counts down.
pub(crate) const BUDGET: u8 = 128;

// The number n is kept as the word `n << 8 | coop::BUDGET`: the poll scope that `coop::budget`
// sets for this task (its id next to a fresh budget), so that starting a poll stores the word
// as it is. The mapping is one-to-one and keeps the order, so equality, hashing and ordering of
// the word are those of the number.
impl Id {
    /// The id as a number (never zero).
    pub fn as_u64(self) -> u64 {
        self.0.get() >> 8
    }

    /// The poll scope word of this task: `id << 8 | BUDGET` (see `coop.rs`).
    #[inline]
    pub(crate) fn scope(self) -> u64 {
        self.0.get()
    }

    /// The id whose number is `n` (`None` for 0, which no task has).
    #[cfg(test)]
    pub(crate) fn from_number(n: u64) -> Option<Id> {
        if n == 0 || n >= 1 << 56 {
            return None;
        }
        NonZeroU64::new((n << 8) | u64::from(BUDGET)).map(Id)
    }

    /// The task of a poll scope word whatever its budget byte; `None` for task number 0.
    pub(crate) fn from_scope(scope: u64) -> Option<Id> {
        if scope >> 8 == 0 {
            return None;
        }
        NonZeroU64::new((scope & !0xFF) | u64::from(BUDGET)).map(Id)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_u64().fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.as_u64())
    }
}

/// How many ids a thread takes from the global counter at a time (a power of two).
pub(crate) const ID_BLOCK: u64 = 1024;

/// The first id of the next unclaimed block. Blocks start at multiples of [`ID_BLOCK`]; the
/// first block starts at `ID_BLOCK`, so no id is zero.
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(ID_BLOCK);

thread_local! {
    /// The scope word (`Id::scope`) of this thread's next id. When its number is a multiple of
    /// [`ID_BLOCK`] (0 at first), the thread's block is used up: the next id starts a new one.
    static NEXT: Cell<u64> = const { Cell::new(0) };
}

/// A fresh id.
pub(crate) fn next() -> Id {
    NEXT.with(|next| {
        let mut scope = next.get();
        if (scope >> 8) % ID_BLOCK == 0 {
            // Relaxed: uniqueness needs only the atomicity of the add, no ordering.
            let start = NEXT_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            // `coop` keeps the current id in the top 56 bits of a word: 2^56 ids is over two
            // years of a billion spawns a second.
            assert!(start + ID_BLOCK <= 1 << 56, "task ids exhausted");
            scope = (start << 8) | u64::from(BUDGET);
        }
        next.set(scope + (1 << 8));
        Id(NonZeroU64::new(scope).expect("ids start at ID_BLOCK, so they are not zero"))
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::task::id::*;
    use std::collections::HashSet;

    /// Ids from several threads, each crossing block boundaries, never repeat.
    #[test]
    fn ids_are_unique_across_threads_and_blocks() {
        let per_thread = (ID_BLOCK * 3 + 7) as usize;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || (0..per_thread).map(|_| next()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen = HashSet::new();
        for t in threads {
            for id in t.join().unwrap() {
                assert!(seen.insert(id), "{id:?} handed out twice");
            }
        }
        assert_eq!(seen.len(), per_thread * 4);
    }
}

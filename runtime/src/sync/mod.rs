//! Async synchronization primitives: tasks waiting for each other without blocking a thread.
//!
//! | type | what it is | asyncio / std counterpart |
//! |---|---|---|
//! | [`oneshot`] | one value, once, from one task to another (lock-free) | `asyncio.Future` |
//! | [`mpsc`] | a queue with many producers and one consumer, bounded or not | `asyncio.Queue` |
//! | [`Mutex`] | exclusive access whose guard may be held across `.await` | `asyncio.Lock` |
//! | [`Semaphore`] | `n` permits, waited for in FIFO order | `asyncio.Semaphore` |
//! | [`Notify`] | wake one or all waiting tasks, no data | `asyncio.Event` / a condvar |
//!
//! They are runtime-agnostic: all they know of tasks is the `std::task::Waker` of whoever polls
//! them, so they also work from `block_on`, from other runtimes, and across threads.
//!
//! Shared machinery: waiting tasks line up in a `WaitList` (`wait_list.rs`) (a FIFO in a
//! slab, behind the primitive's `crate::loom::Mutex`); [`Mutex`] and bounded `mpsc` are built on
//! [`Semaphore`], so FIFO fairness and cancellation safety are written (and tested) once.
//! `docs/sync.md` explains each with diagrams.
//!
//! Cancellation safety, the rule all of them keep: dropping a future that is waiting never loses
//! a permit, a lock, a message or a `notify_one` wake-up — if it had been handed one, it passes it on.

mod mutex;
mod notify;
mod semaphore;
mod wait_list;
mod wake_batch;

pub mod mpsc;
pub mod oneshot;

pub use mutex::{Lock, Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use semaphore::{
    Acquire, AcquireError, AcquireOwned, OwnedSemaphorePermit, Semaphore, SemaphorePermit,
    TryAcquireError,
};

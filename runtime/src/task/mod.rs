//! Tasks: a spawned future, the references to it, and the functions users call to make one.
//!
//! A task is one heap cell (`raw.rs`) holding the future, a state word with a reference count
//! (`state.rs`), and a join waker slot. Several parties own references to it, each through a
//! small wrapper type that releases its reference when dropped:
//!
//! | owner | type | created | released |
//! |---|---|---|---|
//! | the runtime's owned-task list | `Task` | at spawn | at completion, or shutdown |
//! | a run-queue entry | `Notified` | at spawn, and by each wake of an idle task | when the poll ends |
//! | the user | [`JoinHandle`] | at spawn | when awaited to the end, or dropped |
//! | each `Waker` clone | `Waker` | `clone` | `drop` / `wake` |
//!
//! The lifecycle, and which transition of `state.rs` moves it along:
//!
//! ```text
//!            spawn                   pop from queue            poll -> Pending
//!   (new) ──────────► QUEUED ───────────────────────► RUNNING ─────────────────► IDLE
//!                        ▲     transition_to_running    │  │   transition_to_idle   │
//!                        │                              │  │                         │ wake
//!                        └──────────────────────────────┼──┼─────────────────────────┘
//!                           woken while running:        │  │ poll -> Ready / panic / cancelled
//!                           re-queued after the poll    │  ▼
//!                                                       │ COMPLETE ──► JoinHandle takes the output
//! ```
//!
//! Talks to: the executor through the `Schedule` trait, the blocking pool through
//! [`spawn_blocking`], and `coop` (each poll runs with a fresh budget).

mod join;
mod owned;
pub(crate) mod raw;
mod spawn;
pub(crate) mod state;

#[cfg(test)]
mod tests;

pub use join::{JoinError, JoinHandle};
pub(crate) use owned::OwnedTasks;
pub use spawn::{spawn, spawn_blocking};

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use raw::RawTask;

/// What a task needs from the scheduler it belongs to.
pub(crate) trait Schedule: Send + Sync + Sized + 'static {
    /// Puts a woken task into a run queue.
    fn schedule(&self, task: Notified<Self>);

    /// The task woke itself while running (a yield): queue it behind the others.
    fn yield_now(&self, task: Notified<Self>) {
        self.schedule(task)
    }

    /// The task completed: take it out of the owned-task list and return that list's reference.
    fn release(&self, task: &Task<Self>) -> Option<Task<Self>>;
}

/// A reference to a task owned by the runtime's owned-task list (or by a shutdown in progress).
pub(crate) struct Task<S: 'static> {
    /// The task; this value owns one of its references.
    raw: RawTask,
    _scheduler: PhantomData<S>,
}

/// A reference owned by a run-queue entry: the permission to poll the task once.
pub(crate) struct Notified<S: 'static>(pub(crate) Task<S>);

// SAFETY: a Task is a counted reference to a cell whose contents are Send (checked at spawn);
// all cross-thread access follows the state-word protocol.
unsafe impl<S> Send for Task<S> {}
// SAFETY: `&Task` only exposes atomic operations on the header.
unsafe impl<S> Sync for Task<S> {}

impl<S: 'static> Task<S> {
    /// Wraps a reference that the caller owns.
    pub(crate) fn from_raw(raw: RawTask) -> Task<S> {
        Task {
            raw,
            _scheduler: PhantomData,
        }
    }

    /// Gives up ownership of the reference without releasing it.
    pub(crate) fn into_raw(self) -> RawTask {
        ManuallyDrop::new(self).raw
    }

    pub(crate) fn raw(&self) -> RawTask {
        self.raw
    }

    /// Cancels the task now if nobody is running it (consumes this reference).
    pub(crate) fn shutdown(self) {
        self.into_raw().shutdown();
    }
}

impl<S: 'static> Notified<S> {
    /// Polls the task once on this thread, consuming the queue entry.
    pub(crate) fn run(self) {
        self.0.into_raw().poll();
    }

    /// Cancels the task now (shutdown, or a blocking job that will never run).
    pub(crate) fn shutdown(self) {
        self.0.shutdown();
    }
}

impl<S: 'static> Drop for Task<S> {
    fn drop(&mut self) {
        if self.raw.state().ref_dec() {
            self.raw.dealloc();
        }
    }
}

impl<S> fmt::Debug for Task<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("ptr", &self.raw.header_ptr())
            .field("state", self.raw.state())
            .finish()
    }
}

impl<S> fmt::Debug for Notified<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Notified").field(&self.0).finish()
    }
}

/// Allocates a task: the owned-list reference, the first queue entry, and the join handle.
pub(crate) fn new_task<F, S>(
    future: F,
    scheduler: S,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let raw = RawTask::new(future, scheduler);
    // The initial state carries exactly these three references (see `state.rs`).
    (
        Task::from_raw(raw),
        Notified(Task::from_raw(raw)),
        JoinHandle::new(raw),
    )
}

/// Gives the other tasks on this worker a turn, then resumes (asyncio's `await asyncio.sleep(0)`).
///
/// The task wakes itself and returns `Pending` once; the executor sees it was woken while
/// running and puts it at the back of the run queue.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     for _ in 0..3 {
///         spindle::task::yield_now().await;
///     }
/// });
/// ```
pub async fn yield_now() {
    /// Pending exactly once.
    struct YieldNow {
        /// Whether we already returned `Pending`.
        yielded: bool,
    }

    impl Future for YieldNow {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.yielded {
                return Poll::Ready(());
            }
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    YieldNow { yielded: false }.await
}

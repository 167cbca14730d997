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
//! Every task also carries its identity, fixed at spawn (`id.rs`, `builder.rs`): an [`Id`], an
//! optional name, and the spawn site (`#[track_caller]` on every spawn function). The unnamed
//! path allocates nothing for them: the id comes from a per-thread block, the site is a
//! `&'static Location`, and the name is `None`.
//!
//! Talks to: the executor through the `Schedule` trait, the blocking pool through
//! [`spawn_blocking`], and `coop` (each poll runs with a fresh budget).

mod builder;
pub(crate) mod id;
mod join;
mod owned;
pub(crate) mod raw;
mod spawn;
pub(crate) mod state;

#[cfg(test)]
mod tests;

pub use crate::coop::{id, try_id};
pub use crate::monitor::record::set_route;
pub use builder::Builder;
pub use id::Id;
pub use join::{JoinError, JoinHandle};
pub(crate) use owned::OwnedTasks;
pub use spawn::{spawn, spawn_blocking};

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
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

    /// The scheduler the task was spawned with, which its cell keeps, for as long as this
    /// reference lives.
    pub(crate) fn scheduler(&self) -> &S {
        // SAFETY: a `Task<S>` is only made for a cell whose scheduler type is `S` (`new_task`),
        // and this reference keeps the cell, which never moves or changes its scheduler, alive.
        unsafe { &*self.raw.scheduler_ptr::<S>() }
    }

    /// The task's id.
    pub(crate) fn id(&self) -> Id {
        self.raw.header().id
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

    /// Marks this queue entry as timed: `now` is when it was made (see `raw::Slot`).
    #[inline]
    pub(crate) fn set_scheduled_at(&self, now: u64) {
        raw::Slot::of(&self.0.raw).stamp(now);
    }

    /// Whether this entry was picked for timing (see `take_scheduled_at`).
    #[inline]
    pub(crate) fn is_stamped(&self) -> bool {
        raw::Slot::of(&self.0.raw).is_stamped()
    }

    /// When this entry was made if it was picked for timing, else 0, given the time `now`
    /// (read after the pop); resets the mark.
    #[inline]
    pub(crate) fn take_scheduled_at(&self, now: u64) -> u64 {
        raw::Slot::of(&self.0.raw).take_stamp(now)
    }
}

/// A task's spawn site and optional name, fixed at spawn, in one word of the task header.
///
/// An unnamed task (the common case) points straight at its `&'static Location`; a named task
/// points at a heap [`Named`] holding both, and the pointer's low bit says which (both targets
/// are 8-aligned, so the bit is free). One word instead of three keeps the header, which every
/// spawn writes and every poll reads, 16 bytes smaller (`docs/benchmarks.md`).
pub(crate) struct Meta {
    /// INVARIANT: low bit 0: a `&'static Location<'static>`; low bit 1: (with the bit
    /// cleared) a pointer from `Box::into_raw(Box<Named>)`, owned by this `Meta`.
    ptr: NonNull<()>,
}

/// The heap half of a named task's [`Meta`].
struct Named {
    /// `task::Builder::name`.
    name: Box<str>,
    /// The caller of the spawn function.
    site: &'static Location<'static>,
}

/// The tag in [`Meta::ptr`]'s low bit for a named task.
const NAMED: usize = 1;

// SAFETY: a `Meta` is a shared `&'static Location` or an owned, never-mutated `Box<Named>`,
// both `Send` and `Sync`.
unsafe impl Send for Meta {}
// SAFETY: as for `Send`.
unsafe impl Sync for Meta {}

impl Meta {
    /// An unnamed task spawned at `site`.
    pub(crate) fn at(site: &'static Location<'static>) -> Meta {
        Meta {
            ptr: NonNull::from(site).cast(),
        }
    }

    /// A task named `name` spawned at `site`.
    pub(crate) fn named(name: &str, site: &'static Location<'static>) -> Meta {
        let named = Box::into_raw(Box::new(Named {
            name: Box::from(name),
            site,
        }));
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(named) };
        Meta {
            ptr: ptr.cast::<()>().map_addr(|a| a | NAMED),
        }
    }

    /// The heap half's pointer, for a named task (the `Box::into_raw` pointer, tag cleared).
    fn named_ptr(&self) -> Option<NonNull<Named>> {
        if self.ptr.addr().get() & NAMED == 0 {
            return None;
        }
        let named = self.ptr.map_addr(|a| {
            // SAFETY: the address with the tag cleared is the `Box`'s, which is not null.
            unsafe { std::num::NonZeroUsize::new_unchecked(a.get() & !NAMED) }
        });
        Some(named.cast::<Named>())
    }

    /// The heap half, for a named task.
    fn as_named(&self) -> Option<&Named> {
        // SAFETY: tagged, so (INVARIANT) it came from `Box::into_raw` and lives as long as `self`.
        self.named_ptr().map(|named| unsafe { named.as_ref() })
    }

    /// The task's name, if it was given one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.as_named().map(|n| &*n.name)
    }

    /// Where the task was spawned.
    pub(crate) fn spawned_at(&self) -> &'static Location<'static> {
        match self.as_named() {
            Some(named) => named.site,
            // SAFETY: untagged, so (INVARIANT) it is a `&'static Location`.
            None => unsafe { self.ptr.cast::<Location<'static>>().as_ref() },
        }
    }
}

impl Drop for Meta {
    #[inline]
    fn drop(&mut self) {
        if self.ptr.addr().get() & NAMED != 0 {
            self.drop_named();
        }
    }
}

impl Meta {
    /// The rare half of `drop`: free a named task's heap half.
    #[cold]
    fn drop_named(&mut self) {
        if let Some(named) = self.named_ptr() {
            // SAFETY: (INVARIANT) the pointer came from `Box::into_raw` (with its permission to
            // write: not derived from a shared reference) and this `Meta` owns it; it is
            // dropped once, here (`drop` calls this once).
            drop(unsafe { Box::from_raw(named.as_ptr()) });
        }
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
            .field("id", &self.id())
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
    meta: Meta,
) -> (Task<S>, Notified<S>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let raw = RawTask::new(future, scheduler, meta);
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

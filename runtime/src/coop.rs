//! Cooperative scheduling budget: why an always-ready task cannot starve its neighbours.
//!
//! A future that is always ready (a socket with data queued, a channel that is never empty)
//! would otherwise be polled forever by one `poll` call of its task. Each time the executor polls
//! a task it gives the task a budget of [`BUDGET`] units ([`budget`]); every leaf resource (socket
//! read/write, channel receive, semaphore acquire, sleep) spends one unit through
//! [`poll_proceed`] before doing work. When the budget is spent, `poll_proceed` wakes the task and
//! returns `Pending`, so the task goes to the back of the run queue and the rest get a turn.
//!
//! The same thread-local also records which task is being polled (for `task::id()`): one
//! thread-local set and restored per poll instead of two (the cost is in `docs/benchmarks.md`).
//! It is an atomic, written with plain (Release) stores by its own thread only, because the
//! long-poll monitor (`monitor/record.rs`) reads a worker's word from its own thread: the word that
//! says which task this thread polls is the detector's record of it, at no extra cost per poll.
//!
//! Talks to: `executor` (sets the budget around each poll) and every leaf future (spends it).
//! Invariant: the budget is per thread and only meaningful while a task is being polled; outside
//! a task poll it is unconstrained, so `block_on` and foreign threads never see spurious `Pending`.

use std::cell::Cell;
use std::ptr;
// A std atomic, not the loom shim's: a `thread_local!` needs a `const` initializer. The
// monitor's protocol over it is modelled in `monitor/record.rs` with loom's own atomics.
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use crate::task::id::Id;
// The number of units lives with the id: a task's id is kept as its poll scope word with a
// fresh budget (`task/id.rs`), so the id module, which sits below this one, defines it.
pub(crate) use crate::task::id::BUDGET;
/// The budget byte after a poll was refused for lack of budget: no units left, like 0; the
/// first refusal (0 to `CUT`) counts the poll as cut short, later ones in the same poll do not.
const CUT: u8 = u8::MAX;
/// The budget byte outside a budgeted poll: unconstrained.
const UNCONSTRAINED: u8 = u8::MAX - 1;
/// The scope outside any poll: no task, no budget.
const OUTSIDE: u64 = UNCONSTRAINED as u64;

thread_local! {
    /// The current poll's scope in one word, so that a poll sets and restores one thread-local
    /// value: `task id << 8 | budget`, where the task id is 0 for none (`block_on`'s own future,
    /// or no poll) and the budget byte is 0..=[`BUDGET`] units left, [`CUT`] or [`UNCONSTRAINED`].
    /// INVARIANT: task ids stay below 2^56 (`task::id` checks it).
    /// INVARIANT (single writer): only this thread stores to it, so a read-modify-write is a
    /// load and a store (never a locked instruction); other threads only read it (`scope_word`).
    static CURRENT: AtomicU64 = const { AtomicU64::new(OUTSIDE) };
    /// Polls on this thread cut short since the last [`take_cut_short`] (the worker moves it
    /// into its metrics now and then; only a refusal, never a normal poll, touches it).
    static CUT_SHORT: Cell<u64> = const { Cell::new(0) };
}

/// Polls cut short on this thread since the last call (see [`CUT_SHORT`]).
pub(crate) fn take_cut_short() -> u64 {
    CUT_SHORT.with(|c| c.replace(0))
}

/// Runs `f` (one poll of `task`, or of `block_on`'s future when `None`) with a fresh budget,
/// restoring the previous scope afterwards (scopes nest: a blocking closure may `block_on`).
pub(crate) fn budget<R>(task: Option<Id>, f: impl FnOnce() -> R) -> R {
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| set(c, self.0));
        }
    }
    // A task's id is kept as its scope word (`Id::scope`): a fresh budget next to the id.
    let scope = task.map_or(u64::from(BUDGET), Id::scope);
    let _restore = Restore(CURRENT.with(|c| {
        // Relaxed: this thread is the word's only writer (INVARIANT).
        let prev = c.load(Ordering::Relaxed);
        set(c, scope);
        prev
    }));
    f()
}

/// Stores this thread's scope word. Release: pairs with the monitor's Acquire load of the word
/// (`monitor::read_poll`), so that a monitor that sees a poll's word also sees the worker's
/// poll counter bumped for that poll. A plain store on x86, like the `Cell` it replaced.
#[inline(always)]
fn set(c: &AtomicU64, scope: u64) {
    c.store(scope, Ordering::Release);
}

/// This thread's scope word, for the long-poll monitor to read from its own thread. The
/// pointer is valid while this thread lives; `monitor::RecordScope` registers it for as long
/// as the thread works as a runtime's worker and unregisters it before the thread can end.
pub(crate) fn scope_word() -> *const AtomicU64 {
    CURRENT.with(ptr::from_ref)
}

/// Whether a scope word (`CURRENT`, read on any thread) is that of a task's poll (`block_on`'s
/// own future and "no poll" have task number 0).
#[inline]
pub(crate) fn is_task_scope(scope: u64) -> bool {
    scope >> 8 != 0
}

/// The task being polled on this thread, if any (see `task::try_id`).
pub(crate) fn current_task() -> Option<Id> {
    // Relaxed: this thread's own word.
    CURRENT
        .try_with(|c| Id::from_scope(c.load(Ordering::Relaxed)))
        .ok()
        .flatten()
}

/// The id of the task being polled on this thread.
///
/// Panics when called outside a task (in `block_on`'s own future, or on a plain thread); use
/// [`try_id`] there. A `spawn_blocking` closure has an id too: it is a task.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// let (inner, outer) = rt.block_on(async {
///     let h = spindle::spawn(async { spindle::task::id() });
///     let outer = h.id();
///     (h.await.unwrap(), outer)
/// });
/// assert_eq!(inner, outer);
/// ```
#[track_caller]
pub fn id() -> Id {
    try_id().expect("spindle::task::id() called outside a task")
}

/// The id of the task being polled on this thread, or `None` outside any task.
///
/// ```
/// assert!(spindle::task::try_id().is_none()); // a plain thread
/// let rt = spindle::Runtime::new().unwrap();
/// let inside = rt.block_on(async { spindle::spawn(async { spindle::task::try_id() }).await.unwrap() });
/// assert!(inside.is_some());
/// ```
pub fn try_id() -> Option<Id> {
    current_task()
}

/// Spends one unit of budget; when none is left, schedules the task again and returns `Pending`.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    CURRENT.with(|c| {
        // Relaxed: this thread's own word.
        let scope = c.load(Ordering::Relaxed);
        match scope as u8 {
            UNCONSTRAINED => Poll::Ready(()),
            0 => {
                // The first refusal in this poll: count the poll as cut short, once.
                set(c, scope | u64::from(CUT));
                CUT_SHORT.with(|c| c.set(c.get() + 1));
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            CUT => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            _ => {
                set(c, scope - 1);
                Poll::Ready(())
            }
        }
    })
}

/// True when the current poll has run out of budget (used by loops that want to stop early).
#[allow(dead_code)]
pub(crate) fn has_budget_remaining() -> bool {
    CURRENT.with(|c| !matches!(c.load(Ordering::Relaxed) as u8, 0 | CUT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_and_is_restored() {
        let mut cx = Context::from_waker(Waker::noop());
        // Outside a budgeted poll, always ready.
        for _ in 0..1000 {
            assert!(poll_proceed(&mut cx).is_ready());
        }
        budget(None, || {
            for _ in 0..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(!has_budget_remaining());
        });
        assert!(poll_proceed(&mut cx).is_ready());
        // Two refusals in one poll: cut short once.
        assert_eq!(take_cut_short(), 1);
        assert_eq!(take_cut_short(), 0);
    }

    /// The current id is set for a poll's scope, nests, and is restored.
    #[test]
    fn current_nests() {
        assert_eq!(try_id(), None);
        let (a, b) = (crate::task::id::next(), crate::task::id::next());
        budget(Some(a), || {
            assert_eq!(id(), a);
            budget(Some(b), || assert_eq!(id(), b));
            budget(None, || assert_eq!(try_id(), None));
            assert_eq!(id(), a);
        });
        assert_eq!(try_id(), None);
    }
}

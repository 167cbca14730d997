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
//!
//! Talks to: `executor` (sets the budget around each poll) and every leaf future (spends it).
//! Invariant: the budget is per thread and only meaningful while a task is being polled; outside
//! a task poll it is unconstrained, so `block_on` and foreign threads never see spurious `Pending`.

use std::cell::Cell;
use std::task::{Context, Poll};

use crate::task::Id;

/// Units a task may spend in one poll before it is made to yield (tokio uses the same number).
pub(crate) const BUDGET: u8 = 128;
/// The budget value after a poll was refused for lack of budget: no units left, like 0, and
/// the poll counts once as cut short when its budget is restored.
const CUT: u8 = u8::MAX;

/// What this thread's current poll may spend, and whose poll it is.
struct Scope {
    /// `None`: not inside a budgeted poll. `Some(n)`: n units left (`CUT`: none, and refused).
    budget: Cell<Option<u8>>,
    /// The task being polled (`None` in `block_on`'s own future, and outside any poll).
    task: Cell<Option<Id>>,
}

thread_local! {
    /// The current poll's scope; see [`Scope`].
    static CURRENT: Scope = const {
        Scope {
            budget: Cell::new(None),
            task: Cell::new(None),
        }
    };
    /// Polls on this thread cut short since the last [`take_cut_short`] (the worker moves it
    /// into its metrics now and then, so that the poll path itself touches no counter).
    static CUT_SHORT: Cell<u64> = const { Cell::new(0) };
}

/// Polls cut short on this thread since the last call (see [`CUT_SHORT`]).
pub(crate) fn take_cut_short() -> u64 {
    CUT_SHORT.with(|c| c.replace(0))
}

/// Runs `f` (one poll of `task`, or of `block_on`'s future when `None`) with a fresh budget,
/// restoring the previous scope afterwards (scopes nest: a blocking closure may `block_on`).
pub(crate) fn budget<R>(task: Option<Id>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>, Option<Id>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let cut = CURRENT.with(|c| {
                c.task.set(self.1);
                c.budget.replace(self.0) == Some(CUT)
            });
            if cut {
                CUT_SHORT.with(|c| c.set(c.get() + 1));
            }
        }
    }
    let _restore = CURRENT.with(|c| Restore(c.budget.replace(Some(BUDGET)), c.task.replace(task)));
    f()
}

/// The task being polled on this thread, if any (see `task::try_id`).
pub(crate) fn current_task() -> Option<Id> {
    CURRENT.try_with(|c| c.task.get()).ok().flatten()
}

/// Spends one unit of budget; when none is left, schedules the task again and returns `Pending`.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    CURRENT.with(|c| match c.budget.get() {
        None => Poll::Ready(()),
        Some(0 | CUT) => {
            c.budget.set(Some(CUT));
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            c.budget.set(Some(n - 1));
            Poll::Ready(())
        }
    })
}

/// True when the current poll has run out of budget (used by loops that want to stop early).
#[allow(dead_code)]
pub(crate) fn has_budget_remaining() -> bool {
    CURRENT.with(|c| !matches!(c.budget.get(), Some(0 | CUT)))
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
}

//! The task state word: lifecycle flags and the reference count packed in one atomic `usize`.
//!
//! Every spawned task has exactly one of these, in its [`Header`](super::raw::Header). All the
//! parties that touch a task (the worker polling it, wakers held by the reactor and by other
//! tasks, the run queue entry, the `JoinHandle`, the runtime's list of owned tasks) agree on what
//! happens next by changing this word with compare-and-swap. Nothing else about a task is shared
//! without first winning a transition here.
//!
//! ```text
//!  bit:  63 ........ 6 | 5          | 4             | 3         | 2        | 1        | 0
//!        ref count     | JOIN_WAKER | JOIN_INTEREST | CANCELLED | NOTIFIED | COMPLETE | RUNNING
//! ```
//!
//! Ownership rules (the invariants every transition preserves):
//! - INVARIANT: only the thread that set `RUNNING` may touch the future or the stored output,
//!   until `COMPLETE` is set; after that only the `JoinHandle` (if `JOIN_INTEREST`) may take the output.
//! - INVARIANT: `NOTIFIED` while idle means exactly one run-queue entry (a `Notified`) exists and
//!   holds one reference. `NOTIFIED` while running means "poll again": the runner submits the entry.
//! - INVARIANT: the join waker slot may be written only by the `JoinHandle` and only while
//!   `JOIN_WAKER` is clear; once `JOIN_WAKER` is set only the runtime reads it (when completing).
//! - INVARIANT: every reference (waker, queue entry, handle, owned list) counts one `REF_ONE`; the
//!   party that takes the count to zero frees the task.

use crate::loom::{AtomicUsize, Ordering};
use std::fmt;

/// A thread is polling the future (or dropping it to cancel it).
pub(crate) const RUNNING: usize = 1 << 0;
/// The future is gone and the output (or the reason there is none) is stored.
pub(crate) const COMPLETE: usize = 1 << 1;
/// The task was woken: it is in a run queue, or (if running) must be polled once more.
pub(crate) const NOTIFIED: usize = 1 << 2;
/// `abort()` or runtime shutdown asked for the task to be dropped at its next scheduling point.
pub(crate) const CANCELLED: usize = 1 << 3;
/// A `JoinHandle` still exists and will want the output.
pub(crate) const JOIN_INTEREST: usize = 1 << 4;
/// The `JoinHandle` has stored a waker that the runtime must wake on completion.
pub(crate) const JOIN_WAKER: usize = 1 << 5;

/// Bits below this are flags; the reference count lives above.
const REF_SHIFT: usize = 6;
/// One reference.
pub(crate) const REF_ONE: usize = 1 << REF_SHIFT;
/// All flag bits.
#[cfg(test)]
const FLAGS: usize = REF_ONE - 1;

/// A new task is scheduled once (the first run-queue entry), has a `JoinHandle`, and three
/// references: the queue entry, the `JoinHandle` and the runtime's owned-task list.
const INITIAL: usize = (3 * REF_ONE) | JOIN_INTEREST | NOTIFIED;

/// The atomic state word.
pub(crate) struct State {
    /// Flags and reference count; see the module docs for the layout and rules.
    val: AtomicUsize,
}

/// A copy of the state word at one instant, with named accessors.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What the thread that popped a queue entry must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// Poll the future.
    Success,
    /// Drop the future: the task was cancelled while queued.
    Cancelled,
    /// Nothing to do (already running, complete or being shut down); drop the entry's reference.
    Failed,
    /// Like `Failed`, and that was the last reference: free the task.
    Dealloc,
}

/// What the runner must do after a poll returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToIdle {
    /// Done; the running reference was released.
    Ok,
    /// Woken during the poll: submit a new queue entry (a reference was added for it), then
    /// release the running reference, which kept the task alive while it was submitted.
    OkNotified,
    /// The running reference was the last one: free the task.
    OkDealloc,
    /// Cancelled during the poll: drop the future and complete (still holding the reference).
    Cancelled,
}

/// What a waker must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToNotified {
    /// Nothing (already queued, running, or complete). For `wake` (by value) the waker's
    /// reference has been released.
    DoNothing,
    /// Submit a queue entry; a reference was added for it. The waker's own reference is still
    /// held: release it only after the submission returns (see `transition_to_notified_by_val`).
    Submit,
    /// `wake` by value released the last reference: free the task.
    Dealloc,
}

impl State {
    pub(crate) fn new() -> State {
        State {
            val: AtomicUsize::new(INITIAL),
        }
    }

    /// A snapshot for inspection (Acquire: pairs with the AcqRel CAS of every transition).
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.val.load(Ordering::Acquire))
    }

    /// CAS loop: `f` returns the new value and an outcome, or `None` to leave the word alone.
    /// AcqRel: each transition both publishes what its thread wrote (the output, the waker slot)
    /// and acquires what the previous owner wrote.
    fn fetch_update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<Snapshot>, R)) -> R {
        let mut curr = self.load();
        loop {
            let (next, outcome) = f(curr);
            let Some(next) = next else { return outcome };
            match self
                .val
                .compare_exchange(curr.0, next.0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return outcome,
                Err(actual) => curr = Snapshot(actual),
            }
        }
    }

    /// A queue entry was popped: claim the right to poll. The entry's reference becomes the
    /// "running" reference on `Success`/`Cancelled`.
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        self.fetch_update(|curr| {
            debug_assert!(
                curr.is_notified(),
                "a queue entry exists only while NOTIFIED"
            );
            if curr.is_running() || curr.is_complete() {
                // Claimed by shutdown, or already done: just release the entry's reference.
                let next = Snapshot(curr.0 - REF_ONE);
                let outcome = if next.ref_count() == 0 {
                    TransitionToRunning::Dealloc
                } else {
                    TransitionToRunning::Failed
                };
                return (Some(next), outcome);
            }
            let next = Snapshot((curr.0 | RUNNING) & !NOTIFIED);
            let outcome = if curr.is_cancelled() {
                TransitionToRunning::Cancelled
            } else {
                TransitionToRunning::Success
            };
            (Some(next), outcome)
        })
    }

    /// The poll returned `Pending`.
    pub(crate) fn transition_to_idle(&self) -> TransitionToIdle {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_running());
            if curr.is_cancelled() {
                return (None, TransitionToIdle::Cancelled);
            }
            let mut next = curr.0 & !RUNNING;
            if curr.is_notified() {
                // A new reference for the queue entry; the runner keeps its own until the
                // entry is submitted (the same hazard as in `transition_to_notified_by_val`).
                next += REF_ONE;
                (Some(Snapshot(next)), TransitionToIdle::OkNotified)
            } else {
                next -= REF_ONE;
                let outcome = if Snapshot(next).ref_count() == 0 {
                    TransitionToIdle::OkDealloc
                } else {
                    TransitionToIdle::Ok
                };
                (Some(Snapshot(next)), outcome)
            }
        })
    }

    /// The output is stored: clear `RUNNING`, set `COMPLETE`. Returns the state just before.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        // AcqRel: Release publishes the stored output to the JoinHandle's Acquire load;
        // Acquire sees the JoinHandle's last JOIN_INTEREST/JOIN_WAKER change and its waker write.
        let prev = Snapshot(self.val.fetch_xor(RUNNING | COMPLETE, Ordering::AcqRel));
        debug_assert!(prev.is_running() && !prev.is_complete());
        prev
    }

    /// `wake` by value. When the task must be queued, a new reference is made for the queue
    /// entry and the waker keeps its own until the submission has returned: the moment the
    /// entry is in a queue, another worker may run the task to completion and its `JoinHandle`
    /// may drop the last other reference, while the submitting thread is still inside the
    /// scheduler, which lives in the task's own allocation (issue 9; tokio does the same).
    /// Otherwise the waker's reference is released here.
    pub(crate) fn transition_to_notified_by_val(&self) -> TransitionToNotified {
        self.fetch_update(|curr| {
            if curr.is_running() {
                // The runner will resubmit; release the waker's reference (the runner holds one,
                // so this can never reach zero).
                let next = Snapshot((curr.0 | NOTIFIED) - REF_ONE);
                debug_assert!(next.ref_count() > 0);
                (Some(next), TransitionToNotified::DoNothing)
            } else if curr.is_complete() || curr.is_notified() {
                let next = Snapshot(curr.0 - REF_ONE);
                let outcome = if next.ref_count() == 0 {
                    TransitionToNotified::Dealloc
                } else {
                    TransitionToNotified::DoNothing
                };
                (Some(next), outcome)
            } else {
                (
                    Some(Snapshot((curr.0 | NOTIFIED) + REF_ONE)),
                    TransitionToNotified::Submit,
                )
            }
        })
    }

    /// `wake_by_ref`: a new queue entry, if one is needed, gets a new reference.
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.fetch_update(|curr| {
            if curr.is_complete() || curr.is_notified() {
                (None, TransitionToNotified::DoNothing)
            } else if curr.is_running() {
                (
                    Some(Snapshot(curr.0 | NOTIFIED)),
                    TransitionToNotified::DoNothing,
                )
            } else {
                let next = Snapshot((curr.0 | NOTIFIED) + REF_ONE);
                (Some(next), TransitionToNotified::Submit)
            }
        })
    }

    /// `abort()`: mark cancelled and make sure someone will act on it. Returns true when the
    /// caller must submit a new queue entry (it has been given a reference for it).
    pub(crate) fn transition_to_notified_and_cancel(&self) -> bool {
        self.fetch_update(|curr| {
            if curr.is_complete() || curr.is_cancelled() {
                (None, false)
            } else if curr.is_running() || curr.is_notified() {
                // The runner or the queued entry will see CANCELLED.
                (Some(Snapshot(curr.0 | CANCELLED | NOTIFIED)), false)
            } else {
                let next = Snapshot((curr.0 | CANCELLED | NOTIFIED) + REF_ONE);
                (Some(next), true)
            }
        })
    }

    /// Runtime shutdown: set `CANCELLED`; if nobody is running the task, also claim `RUNNING`
    /// and return true: the caller now owns the future and must drop it and complete.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.fetch_update(|curr| {
            if curr.is_running() || curr.is_complete() {
                (Some(Snapshot(curr.0 | CANCELLED)), false)
            } else {
                (Some(Snapshot(curr.0 | CANCELLED | RUNNING)), true)
            }
        })
    }

    /// The `JoinHandle` goes away before completion: clear `JOIN_INTEREST` (and `JOIN_WAKER`:
    /// nobody is left to wake). Fails (returns false) if the task already completed, in which
    /// case the handle must drop the output itself.
    pub(crate) fn unset_join_interest(&self) -> bool {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested());
            if curr.is_complete() {
                (None, false)
            } else {
                (Some(Snapshot(curr.0 & !(JOIN_INTEREST | JOIN_WAKER))), true)
            }
        })
    }

    /// The `JoinHandle` has written the waker slot: hand it to the runtime. Fails if complete.
    pub(crate) fn set_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested() && !curr.is_join_waker_set());
            if curr.is_complete() {
                (None, Err(curr))
            } else {
                let next = Snapshot(curr.0 | JOIN_WAKER);
                (Some(next), Ok(next))
            }
        })
    }

    /// The `JoinHandle` wants to replace its waker: take the slot back. Fails if complete.
    pub(crate) fn unset_join_waker(&self) -> Result<Snapshot, Snapshot> {
        self.fetch_update(|curr| {
            debug_assert!(curr.is_join_interested() && curr.is_join_waker_set());
            if curr.is_complete() {
                (None, Err(curr))
            } else {
                let next = Snapshot(curr.0 & !JOIN_WAKER);
                (Some(next), Ok(next))
            }
        })
    }

    /// Adds a reference (waker clone). Relaxed: a new reference can only be made from an
    /// existing one, which already keeps the task alive (the same argument as `Arc::clone`).
    pub(crate) fn ref_inc(&self) {
        let prev = self.val.fetch_add(REF_ONE, Ordering::Relaxed);
        // A count this large means references leak in a loop; abort like Arc does.
        if prev > usize::MAX / 2 {
            std::process::abort();
        }
    }

    /// Releases one reference; true if it was the last (the caller frees the task).
    pub(crate) fn ref_dec(&self) -> bool {
        self.ref_dec_n(1)
    }

    /// Releases `n` references at once; true if they were the last.
    pub(crate) fn ref_dec_n(&self, n: usize) -> bool {
        // AcqRel: Release so our earlier accesses happen-before the free; Acquire so the thread
        // that frees sees everyone else's accesses (the pairing that `Arc::drop` does with a fence).
        let prev = Snapshot(self.val.fetch_sub(n * REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= n, "task reference count underflow");
        prev.ref_count() == n
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn state(bits: usize, refs: usize) -> State {
        State {
            val: AtomicUsize::new(bits | (refs * REF_ONE)),
        }
    }

    fn bits(s: &State) -> (usize, usize) {
        let snap = s.load();
        (snap.0 & FLAGS, snap.ref_count())
    }

    #[test]
    fn initial_state_is_queued_with_three_refs() {
        let s = State::new();
        assert_eq!(bits(&s), (NOTIFIED | JOIN_INTEREST, 3));
    }

    /// Every (starting state, transition) pair and the state and outcome it must produce.
    #[test]
    fn transition_to_running_table() {
        use TransitionToRunning::*;
        let table: &[(usize, usize, TransitionToRunning, usize, usize)] = &[
            // (flags, refs) -> outcome, (flags, refs)
            (NOTIFIED, 2, Success, RUNNING, 2),
            (NOTIFIED | CANCELLED, 2, Cancelled, RUNNING | CANCELLED, 2),
            (
                NOTIFIED | RUNNING | CANCELLED,
                2,
                Failed,
                NOTIFIED | RUNNING | CANCELLED,
                1,
            ),
            (NOTIFIED | COMPLETE, 1, Dealloc, NOTIFIED | COMPLETE, 0),
        ];
        for &(f0, r0, ref out, f1, r1) in table {
            let s = state(f0, r0);
            assert_eq!(&s.transition_to_running(), out, "from {:?}", state(f0, r0));
            assert_eq!(bits(&s), (f1, r1), "from flags {f0:#b}");
        }
    }

    #[test]
    fn transition_to_idle_table() {
        use TransitionToIdle::*;
        let table: &[(usize, usize, TransitionToIdle, usize, usize)] = &[
            (RUNNING, 2, Ok, 0, 1),
            (RUNNING, 1, OkDealloc, 0, 0),
            (RUNNING | NOTIFIED, 2, OkNotified, NOTIFIED, 3),
            (RUNNING | CANCELLED, 2, Cancelled, RUNNING | CANCELLED, 2),
        ];
        for &(f0, r0, ref out, f1, r1) in table {
            let s = state(f0, r0);
            assert_eq!(&s.transition_to_idle(), out, "from flags {f0:#b}");
            assert_eq!(bits(&s), (f1, r1), "from flags {f0:#b}");
        }
    }

    #[test]
    fn wake_table() {
        use TransitionToNotified::*;
        // (flags, refs) -> by_val outcome, state after by_val; by_ref outcome, state after by_ref
        type Row = (
            usize,
            usize,
            TransitionToNotified,
            (usize, usize),
            TransitionToNotified,
            (usize, usize),
        );
        let table: &[Row] = &[
            // idle: schedule; both add a ref for the entry (by_val releases the waker's
            // own after submitting).
            (0, 2, Submit, (NOTIFIED, 3), Submit, (NOTIFIED, 3)),
            // running: mark notified, the runner resubmits.
            (
                RUNNING,
                2,
                DoNothing,
                (RUNNING | NOTIFIED, 1),
                DoNothing,
                (RUNNING | NOTIFIED, 2),
            ),
            // already queued: nothing new.
            (
                NOTIFIED,
                2,
                DoNothing,
                (NOTIFIED, 1),
                DoNothing,
                (NOTIFIED, 2),
            ),
            // complete: nothing; the last waker frees.
            (
                COMPLETE,
                1,
                Dealloc,
                (COMPLETE, 0),
                DoNothing,
                (COMPLETE, 1),
            ),
        ];
        for &(f0, r0, ref by_val, after_val, ref by_ref, after_ref) in table {
            let s = state(f0, r0);
            assert_eq!(
                &s.transition_to_notified_by_val(),
                by_val,
                "by_val from {f0:#b}"
            );
            assert_eq!(bits(&s), after_val, "by_val from {f0:#b}");
            let s = state(f0, r0);
            assert_eq!(
                &s.transition_to_notified_by_ref(),
                by_ref,
                "by_ref from {f0:#b}"
            );
            assert_eq!(bits(&s), after_ref, "by_ref from {f0:#b}");
        }
    }

    #[test]
    fn cancel_and_shutdown_table() {
        // abort: idle tasks get a new queue entry; queued or running ones are only marked.
        let s = state(0, 2);
        assert!(s.transition_to_notified_and_cancel());
        assert_eq!(bits(&s), (CANCELLED | NOTIFIED, 3));
        let s = state(RUNNING, 2);
        assert!(!s.transition_to_notified_and_cancel());
        assert_eq!(bits(&s), (RUNNING | CANCELLED | NOTIFIED, 2));
        let s = state(COMPLETE, 1);
        assert!(!s.transition_to_notified_and_cancel());
        assert_eq!(bits(&s), (COMPLETE, 1));
        // shutdown claims idle or queued tasks, only marks running ones.
        let s = state(NOTIFIED, 2);
        assert!(s.transition_to_shutdown());
        assert_eq!(bits(&s), (NOTIFIED | CANCELLED | RUNNING, 2));
        let s = state(RUNNING, 2);
        assert!(!s.transition_to_shutdown());
        assert_eq!(bits(&s), (RUNNING | CANCELLED, 2));
    }

    #[test]
    fn join_interest_and_waker() {
        let s = state(JOIN_INTEREST, 2);
        assert!(s.set_join_waker().is_ok());
        assert!(s.load().is_join_waker_set());
        assert!(s.unset_join_waker().is_ok());
        assert!(s.set_join_waker().is_ok());
        assert!(s.unset_join_interest());
        assert_eq!(bits(&s), (0, 2));
        // Once complete, the handle cannot hand over a waker nor drop interest quietly.
        let s = state(JOIN_INTEREST | COMPLETE, 2);
        assert!(s.set_join_waker().is_err());
        assert!(!s.unset_join_interest());
    }

    #[test]
    fn complete_flips_running_into_complete() {
        let s = state(RUNNING | JOIN_INTEREST | JOIN_WAKER, 2);
        let prev = s.transition_to_complete();
        assert!(prev.is_running() && prev.is_join_waker_set());
        assert_eq!(bits(&s), (COMPLETE | JOIN_INTEREST | JOIN_WAKER, 2));
        assert!(!s.ref_dec());
        assert!(s.ref_dec());
    }
}

//! Who is awake, who is searching for work, and whom to wake when work appears.
//!
//! Waking a sleeping worker for every pushed task would make N workers stampede for one task
//! (a thundering herd). The rules, as in tokio's scheduler:
//! - A worker that runs out of local work may become a *searcher* (it tries to steal), but at
//!   most half of the workers search at once.
//! - A push wakes one parked worker only if nobody is searching (a searcher will find the task)
//!   and not every worker is already awake. The woken worker starts as a searcher.
//! - A searcher that finds work stops searching; if it was the last searcher, it wakes another
//!   parked worker, so the search continues while there may be more work.
//!
//! One rule of spindle's own, which tokio does not have: **a small backlog is not worth a
//! wake-up while somebody will come by soon anyway.** A sleeping worker is *light* for its first
//! few sleeps after it ran out of work: it sleeps at most [`LIGHT_SLEEP`] and then looks at every
//! queue by itself. After [`LIGHT_SLEEPS`] empty looks in a row it sleeps *deep* (no timeout, no
//! cost to an idle process). A worker pushing onto its own queue wakes a sibling only when the
//! queue has reached the runtime's spread threshold, or when no sleeper is light. So a queued task
//! waits at most one light sleep for a thief, even when its worker blocks, and a busy-but-coping
//! worker (a few requests per reactor turn) saves the futex or eventfd write, the sibling's
//! context switch and the cross-core cache traffic that each wake-up costs. `docs/runtime.md`
//! has the measurements.
//!
//! State: one atomic word with three counts, plus the list of sleeping workers (and whether each
//! sleeps light) under a lock.
//! Invariants: `num_unparked` counts workers not in `sleepers`; `num_searching <= num_unparked`;
//! `num_light` counts the light entries of `sleepers`.

use std::time::Duration;

use crate::loom::{AtomicUsize, Mutex, Ordering};

/// Width of each of the three counts in the state word (so workers are limited to 1023).
const FIELD_BITS: usize = 10;
const FIELD_MASK: usize = (1 << FIELD_BITS) - 1;
/// Bits 0..10: number of searching workers.
const SEARCH_ONE: usize = 1;
/// Bits 10..20: number of light sleepers.
const LIGHT_SHIFT: usize = FIELD_BITS;
const LIGHT_ONE: usize = 1 << LIGHT_SHIFT;
/// Bits 20..30: number of unparked (awake) workers.
const UNPARK_SHIFT: usize = 2 * FIELD_BITS;
const UNPARK_ONE: usize = 1 << UNPARK_SHIFT;

/// The most workers one runtime may have (the width of a count in the state word).
pub(crate) const MAX_WORKERS: usize = FIELD_MASK;

/// How long a light sleeper sleeps before it looks at the queues by itself.
pub(crate) const LIGHT_SLEEP: Duration = Duration::from_millis(1);

/// How many empty light sleeps in a row before a worker sleeps deep.
pub(crate) const LIGHT_SLEEPS: u32 = 8;

/// What a sleeper's entry contributes to the light count of the state word.
fn light_count(light: bool) -> usize {
    LIGHT_ONE * usize::from(light)
}

/// Idle bookkeeping for one multi-thread runtime.
#[derive(Debug)]
pub(crate) struct Idle {
    /// `num_unparked << 20 | num_light << 10 | num_searching`; SeqCst because it is read to
    /// decide whether to wake a worker, racing with workers deciding to park or to sleep deep
    /// (the classic lost-wake-up pair).
    state: AtomicUsize,
    /// Parked workers as (index, sleeps light), most recent last (woken LIFO: warmest caches).
    sleepers: Mutex<Vec<(usize, bool)>>,
    /// Number of workers.
    num_workers: usize,
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(
            num_workers <= MAX_WORKERS,
            "at most {MAX_WORKERS} worker threads"
        );
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn num_searching(s: usize) -> usize {
        s & FIELD_MASK
    }

    fn num_light(s: usize) -> usize {
        (s >> LIGHT_SHIFT) & FIELD_MASK
    }

    fn num_unparked(s: usize) -> usize {
        (s >> UNPARK_SHIFT) & FIELD_MASK
    }

    /// Should a push wake someone? Nobody searching, someone asleep, and either the pusher has a
    /// real backlog or no sleeper is light (nobody would come by on their own).
    ///
    /// The read is an RMW (`fetch_add(0)`), not a load: the pusher has just published a task
    /// with an ordinary store, and a plain load could be ordered before that store (store-load
    /// reordering), while the last searcher, parking (or a light sleeper turning deep), changes
    /// the count and then looks at the queues. Each side then misses the other and the task is
    /// stranded. An RMW reads the latest value in the modification order and orders the
    /// pusher's store before it; the loom models below found exactly this interleaving with a
    /// plain load.
    fn should_wake(&self, backlog: bool) -> bool {
        let s = self.state.fetch_add(0, Ordering::SeqCst);
        Self::num_searching(s) == 0
            && Self::num_unparked(s) < self.num_workers
            && (backlog || Self::num_light(s) == 0)
    }

    /// Picks a parked worker to wake for new work, marking it unparked and searching.
    /// Returns its index; the caller unparks it.
    ///
    /// `backlog` says whether the work is worth a wake-up even while a light sleeper will come
    /// by within [`LIGHT_SLEEP`]: true for work from outside the workers and for a local queue
    /// at the spread threshold; false for a local queue below it.
    ///
    /// `except` is the worker doing the pushing, when it is itself on the sleepers list: a
    /// worker parked on the reactor queues the tasks its own epoll turn woke, and will run
    /// them as soon as the turn ends. Waking *itself* would only cost a write to the reactor's
    /// wake-up fd (and a spurious epoll round); the point of the notification is to get
    /// another worker stealing.
    pub(crate) fn worker_to_notify(&self, except: Option<usize>, backlog: bool) -> Option<usize> {
        if !self.should_wake(backlog) {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        // Re-check under the lock: another pusher may have just woken someone.
        if !self.should_wake(backlog) {
            return None;
        }
        let at = sleepers.iter().rposition(|&(i, _)| Some(i) != except)?;
        let (index, light) = sleepers.swap_remove(at);
        self.state.fetch_add(
            UNPARK_ONE + SEARCH_ONE - light_count(light),
            Ordering::SeqCst,
        );
        Some(index)
    }

    /// A worker with no local work wants to steal. Refused when half the workers already search.
    pub(crate) fn transition_to_searching(&self) -> bool {
        let s = self.state.load(Ordering::SeqCst);
        if 2 * Self::num_searching(s) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(SEARCH_ONE, Ordering::SeqCst);
        true
    }

    /// A searcher found work (or gave up). True if it was the last searcher.
    pub(crate) fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(SEARCH_ONE, Ordering::SeqCst);
        debug_assert!(Self::num_searching(prev) > 0);
        Self::num_searching(prev) == 1
    }

    /// A worker goes to sleep, light. True if it was the last searcher (the caller must then
    /// re-check the queues, because a push may have skipped waking anyone while it searched).
    pub(crate) fn transition_to_parked(&self, index: usize, was_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let change = UNPARK_ONE + usize::from(was_searching) - LIGHT_ONE;
        let prev = self.state.fetch_sub(change, Ordering::SeqCst);
        sleepers.push((index, true));
        was_searching && Self::num_searching(prev) == 1
    }

    /// A light sleeper found nothing for [`LIGHT_SLEEPS`] sleeps: from now on it sleeps deep.
    /// Returns true if it changed; the caller must then look at the queues once more, because a
    /// push may have skipped waking anyone while this worker was light (the same pairing as the
    /// last searcher's). No-op (false) if it was already deep or is no longer listed.
    pub(crate) fn sleep_deep(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter_mut().find(|(i, _)| *i == index) {
            Some((_, light)) if *light => {
                *light = false;
                self.state.fetch_sub(LIGHT_ONE, Ordering::SeqCst);
                true
            }
            _ => false,
        }
    }

    /// After waking: if the worker is still listed as a sleeper, it was not woken by
    /// `worker_to_notify` (it woke for I/O, a timer, its light-sleep timeout, or spuriously):
    /// take it off the list and count it awake (not searching). Returns true in that case,
    /// false if it was notified.
    pub(crate) fn transition_from_parked(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&(i, _)| i == index) {
            Some(pos) => {
                let (_, light) = sleepers.swap_remove(pos);
                self.state
                    .fetch_add(UNPARK_ONE - light_count(light), Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// (unparked, light sleepers, searching), for tests that wait for a scheduler state.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> (usize, usize, usize) {
        let s = self.state.load(Ordering::SeqCst);
        (
            Self::num_unparked(s),
            Self::num_light(s),
            Self::num_searching(s),
        )
    }

    /// Whether a worker is listed as asleep.
    pub(crate) fn is_parked(&self, index: usize) -> bool {
        self.sleepers.lock().iter().any(|&(i, _)| i == index)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn at_most_half_search_and_pushes_wake_one() {
        let idle = Idle::new(4);
        // All awake: nobody to wake.
        assert_eq!(idle.worker_to_notify(None, true), None);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_searching());
        assert!(!idle.transition_to_searching(), "only half may search");
        assert!(!idle.transition_from_searching());
        assert!(idle.transition_from_searching(), "last searcher");
        // Two park; a push wakes the most recent sleeper, as a searcher.
        assert!(!idle.transition_to_parked(0, false));
        assert!(!idle.transition_to_parked(1, false));
        assert_eq!(idle.worker_to_notify(None, true), Some(1));
        // While it searches, further pushes wake nobody (no herd).
        assert_eq!(idle.worker_to_notify(None, true), None);
        assert!(idle.transition_from_searching());
        assert_eq!(idle.worker_to_notify(None, true), Some(0));
        assert!(!idle.is_parked(0));
    }

    #[test]
    fn self_woken_sleeper_unlists_itself() {
        let idle = Idle::new(2);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_parked(1, true), "was the last searcher");
        assert!(idle.is_parked(1));
        assert!(idle.transition_from_parked(1));
        assert!(!idle.transition_from_parked(1));
        assert_eq!(
            idle.worker_to_notify(None, true),
            None,
            "everyone is awake again"
        );
    }

    /// A worker pushing work never picks itself (it is on the list while its reactor turn
    /// queues tasks): another sleeper is woken, or nobody, and then the state is untouched.
    #[test]
    fn pusher_never_wakes_itself() {
        let idle = Idle::new(3);
        assert!(!idle.transition_to_parked(0, false));
        assert!(!idle.transition_to_parked(1, false));
        assert_eq!(
            idle.worker_to_notify(Some(1), true),
            Some(0),
            "the other sleeper"
        );
        assert!(
            idle.transition_from_searching(),
            "the woken one counts as searching"
        );
        assert_eq!(
            idle.worker_to_notify(Some(1), true),
            None,
            "only the pusher is left asleep"
        );
        assert!(idle.is_parked(1));
        assert_eq!(idle.worker_to_notify(None, true), Some(1));
    }

    /// Light sleepers spare small backlogs a wake-up; deep sleepers, and backlogs, get one.
    #[test]
    fn light_sleepers_are_not_woken_for_a_small_backlog() {
        let idle = Idle::new(2);
        // Worker 1 runs out of work and parks: light at first.
        assert!(!idle.transition_to_parked(1, false));
        assert_eq!(
            idle.worker_to_notify(Some(0), false),
            None,
            "it comes by itself"
        );
        assert_eq!(
            idle.worker_to_notify(Some(0), true),
            Some(1),
            "a backlog wakes it"
        );
        assert!(idle.transition_from_searching());
        // Parks again, then sleeps deep: now even a small backlog wakes it.
        assert!(!idle.transition_to_parked(1, false));
        assert!(idle.sleep_deep(1));
        assert!(!idle.sleep_deep(1), "already deep");
        assert_eq!(idle.worker_to_notify(Some(0), false), Some(1));
        assert!(!idle.is_parked(1));
        assert!(!idle.sleep_deep(1), "not listed any more");
    }

    /// Getting up on its own takes a light or a deep sleeper off the counts alike.
    #[test]
    fn self_woken_light_and_deep_sleepers_leave_the_counts_clean() {
        let idle = Idle::new(3);
        assert!(!idle.transition_to_parked(1, false));
        assert!(!idle.transition_to_parked(2, false));
        assert!(idle.sleep_deep(2));
        assert!(idle.transition_from_parked(1));
        // Only the deep sleeper is left: a small backlog wakes it.
        assert_eq!(idle.worker_to_notify(Some(0), false), Some(2));
        assert!(idle.transition_from_searching());
        assert!(
            !idle.transition_from_parked(2),
            "it was notified, not self-woken"
        );
        let s = idle.state.load(Ordering::SeqCst);
        assert_eq!(
            (
                Idle::num_unparked(s),
                Idle::num_light(s),
                Idle::num_searching(s)
            ),
            (3, 0, 0)
        );
    }
}

/// loom model: a push racing the last searcher's decision to park never strands the work.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::{Arc, AtomicBool, AtomicUsize};

    #[test]
    fn push_racing_last_searcher_parking_wakes_someone() {
        loom::model(|| {
            // Two workers: worker 1 is asleep, worker 0 is the only searcher.
            let idle = Arc::new(Idle::new(2));
            assert!(!idle.transition_to_parked(1, false));
            assert!(idle.transition_to_searching());
            let work = Arc::new(AtomicBool::new(false));
            let woken = Arc::new(AtomicUsize::new(0));

            // A pusher from outside: publish the task, then ask whom to wake.
            let (i2, w2, k2) = (idle.clone(), work.clone(), woken.clone());
            let pusher = loom::thread::spawn(move || {
                w2.store(true, Ordering::SeqCst);
                if i2.worker_to_notify(None, true).is_some() {
                    k2.fetch_add(1, Ordering::SeqCst);
                }
            });

            // Worker 0 finds nothing and parks; as the last searcher it must re-check.
            let mut saw_work = false;
            if idle.transition_to_parked(0, true) && work.load(Ordering::SeqCst) {
                saw_work = true;
                if idle.worker_to_notify(None, true).is_some() {
                    woken.fetch_add(1, Ordering::SeqCst);
                }
            }
            pusher.join().unwrap();

            // The work is visible; somebody must have been woken for it (or worker 0 saw it).
            assert!(woken.load(Ordering::SeqCst) >= 1 || saw_work);
            assert!(
                woken.load(Ordering::SeqCst) >= 1,
                "a sleeper was woken for the task"
            );
        });
    }

    /// A small push (no backlog) racing the only sleeper turning deep: either the pusher sees
    /// a deep sleeper and wakes it, or the sleeper, after turning deep, sees the task.
    #[test]
    fn small_push_racing_a_light_sleeper_turning_deep_is_never_stranded() {
        loom::model(|| {
            // Worker 0 is awake and pushes; worker 1 sleeps light.
            let idle = Arc::new(Idle::new(2));
            assert!(!idle.transition_to_parked(1, false));
            let work = Arc::new(AtomicBool::new(false));

            let (i2, w2) = (idle.clone(), work.clone());
            let pusher = loom::thread::spawn(move || {
                w2.store(true, Ordering::SeqCst);
                i2.worker_to_notify(Some(0), false).is_some()
            });

            // Worker 1 found nothing in its light sleeps and turns deep, then looks again.
            let saw_work = idle.sleep_deep(1) && work.load(Ordering::SeqCst);
            let woken = pusher.join().unwrap();

            assert!(woken || saw_work, "the task was stranded");
        });
    }
}

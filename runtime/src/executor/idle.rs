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
//! State: one atomic word with two counts, plus the list of sleeping workers under a lock.
//! Invariant: `num_unparked` counts workers not in `sleepers`; `num_searching <= num_unparked`.

use crate::loom::{AtomicUsize, Mutex, Ordering};

/// Low bits: number of searching workers.
const SEARCH_MASK: usize = (1 << 16) - 1;
/// High bits: number of unparked (awake) workers.
const UNPARK_SHIFT: usize = 16;
const UNPARK_ONE: usize = 1 << UNPARK_SHIFT;

/// Idle bookkeeping for one multi-thread runtime.
#[derive(Debug)]
pub(crate) struct Idle {
    /// `num_unparked << 16 | num_searching`; SeqCst because it is read to decide whether to
    /// wake a worker, racing with workers deciding to park (the classic lost-wake-up pair).
    state: AtomicUsize,
    /// Indices of parked workers, most recent last (woken LIFO: its caches are warmest).
    sleepers: Mutex<Vec<usize>>,
    /// Number of workers.
    num_workers: usize,
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(num_workers << UNPARK_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn num_searching(s: usize) -> usize {
        s & SEARCH_MASK
    }

    fn num_unparked(s: usize) -> usize {
        s >> UNPARK_SHIFT
    }

    /// Should a push wake someone? Nobody searching, and someone asleep.
    ///
    /// The read is an RMW (`fetch_add(0)`), not a load: the pusher has just published a task
    /// with an ordinary store, and a plain load could be ordered before that store (store-load
    /// reordering), while the last searcher, parking, decrements the count and then looks at
    /// the queues. Each side then misses the other and the task is stranded. An RMW reads the
    /// latest value in the modification order and orders the pusher's store before it; the
    /// loom model below found exactly this interleaving with a plain load.
    fn should_wake(&self) -> bool {
        let s = self.state.fetch_add(0, Ordering::SeqCst);
        Self::num_searching(s) == 0 && Self::num_unparked(s) < self.num_workers
    }

    /// Picks a parked worker to wake for new work, marking it unparked and searching.
    /// Returns its index; the caller unparks it.
    ///
    /// `except` is the worker doing the pushing, when it is itself on the sleepers list: a
    /// worker parked on the reactor queues the tasks its own epoll turn woke, and will run
    /// them as soon as the turn ends. Waking *itself* would only cost a write to the reactor's
    /// wake-up fd (and a spurious epoll round); the point of the notification is to get
    /// another worker stealing.
    pub(crate) fn worker_to_notify(&self, except: Option<usize>) -> Option<usize> {
        if !self.should_wake() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        // Re-check under the lock: another pusher may have just woken someone.
        if !self.should_wake() {
            return None;
        }
        let at = sleepers.iter().rposition(|&i| Some(i) != except)?;
        let index = sleepers.swap_remove(at);
        self.state.fetch_add(UNPARK_ONE | 1, Ordering::SeqCst);
        Some(index)
    }

    /// A worker with no local work wants to steal. Refused when half the workers already search.
    pub(crate) fn transition_to_searching(&self) -> bool {
        let s = self.state.load(Ordering::SeqCst);
        if 2 * Self::num_searching(s) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searcher found work (or gave up). True if it was the last searcher.
    pub(crate) fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(Self::num_searching(prev) > 0);
        Self::num_searching(prev) == 1
    }

    /// A worker goes to sleep. True if it was the last searcher (the caller must then re-check
    /// the queues, because a push may have skipped waking anyone while it was searching).
    pub(crate) fn transition_to_parked(&self, index: usize, was_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = UNPARK_ONE + usize::from(was_searching);
        let prev = self.state.fetch_sub(dec, Ordering::SeqCst);
        sleepers.push(index);
        was_searching && Self::num_searching(prev) == 1
    }

    /// After waking: if the worker is still listed as a sleeper, it was not woken by
    /// `worker_to_notify` (it woke for I/O, a timer, or spuriously): take it off the list and
    /// count it awake (not searching). Returns true in that case, false if it was notified.
    pub(crate) fn transition_from_parked(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARK_ONE, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Whether a worker is listed as asleep.
    pub(crate) fn is_parked(&self, index: usize) -> bool {
        self.sleepers.lock().contains(&index)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn at_most_half_search_and_pushes_wake_one() {
        let idle = Idle::new(4);
        // All awake: nobody to wake.
        assert_eq!(idle.worker_to_notify(None), None);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_searching());
        assert!(!idle.transition_to_searching(), "only half may search");
        assert!(!idle.transition_from_searching());
        assert!(idle.transition_from_searching(), "last searcher");
        // Two park; a push wakes the most recent sleeper, as a searcher.
        assert!(!idle.transition_to_parked(0, false));
        assert!(!idle.transition_to_parked(1, false));
        assert_eq!(idle.worker_to_notify(None), Some(1));
        // While it searches, further pushes wake nobody (no herd).
        assert_eq!(idle.worker_to_notify(None), None);
        assert!(idle.transition_from_searching());
        assert_eq!(idle.worker_to_notify(None), Some(0));
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
        assert_eq!(idle.worker_to_notify(None), None, "everyone is awake again");
    }

    /// A worker pushing work never picks itself (it is on the list while its reactor turn
    /// queues tasks): another sleeper is woken, or nobody, and then the state is untouched.
    #[test]
    fn pusher_never_wakes_itself() {
        let idle = Idle::new(3);
        assert!(!idle.transition_to_parked(0, false));
        assert!(!idle.transition_to_parked(1, false));
        assert_eq!(idle.worker_to_notify(Some(1)), Some(0), "the other sleeper");
        assert!(
            idle.transition_from_searching(),
            "the woken one counts as searching"
        );
        assert_eq!(
            idle.worker_to_notify(Some(1)),
            None,
            "only the pusher is left asleep"
        );
        assert!(idle.is_parked(1));
        assert_eq!(idle.worker_to_notify(None), Some(1));
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
                if i2.worker_to_notify(None).is_some() {
                    k2.fetch_add(1, Ordering::SeqCst);
                }
            });

            // Worker 0 finds nothing and parks; as the last searcher it must re-check.
            let mut saw_work = false;
            if idle.transition_to_parked(0, true) && work.load(Ordering::SeqCst) {
                saw_work = true;
                if idle.worker_to_notify(None).is_some() {
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
}

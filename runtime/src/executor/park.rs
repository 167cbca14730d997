//! Putting an idle thread to sleep, and waking it: on the reactor, or on a condition variable.
//!
//! A thread with nothing to run calls [`Parker::park`]. If the reactor is free it takes it and
//! sleeps inside `epoll_wait` (timeout: the next timer deadline), so it is woken by I/O, by a
//! timer, or by `mio::Waker`. If another thread already owns the reactor it sleeps on its own
//! condition variable instead. [`Parker::unpark`] wakes it from whichever of the two it chose.
//!
//! ```text
//!   state: EMPTY ──park──► PARKED_DRIVER ──(epoll returns)──► EMPTY
//!            │   └──park──► PARKED_CONDVAR ─(notified)───────► EMPTY
//!            └──unpark──► NOTIFIED ──(next park returns at once)──► EMPTY
//! ```
//!
//! Invariant: a notification is never lost. `unpark` always leaves `NOTIFIED` behind; `park`
//! consumes it before sleeping (returning at once) or after waking. A spurious return from
//! `park` is allowed: callers re-check their queues in a loop.

use std::time::{Duration, Instant};

use crate::loom::{AtomicUsize, Condvar, Mutex, Ordering};
use crate::runtime::Shared;

/// Not parked and no pending notification.
const EMPTY: usize = 0;
/// Sleeping on the condvar.
const PARKED_CONDVAR: usize = 1;
/// Sleeping in the reactor (`epoll_wait`).
const PARKED_DRIVER: usize = 2;
/// Woken (or about to be): the next `park` returns immediately.
const NOTIFIED: usize = 3;

/// One per thread that may park (each worker; the `block_on` thread of a current-thread runtime).
#[derive(Debug)]
pub(crate) struct Parker {
    /// One of the four constants above.
    state: AtomicUsize,
    /// Guards the PARKED_CONDVAR -> wake handshake so a `notify_one` cannot slip in before `wait`.
    mutex: Mutex<()>,
    /// Where a thread that did not get the reactor sleeps.
    condvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            mutex: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }

    /// Sleeps until unparked, or (when this thread owns the reactor) until I/O or a timer is due,
    /// or until `limit` has passed (a light sleep; `None` sleeps as long as it takes).
    pub(crate) fn park(&self, shared: &Shared, limit: Option<Duration>) {
        // A pending notification: consume it and return. (SeqCst throughout this type: it is
        // the handshake between the parking thread and any unparker; clarity over nanoseconds.)
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        match shared.reactor_core.try_lock() {
            Some(mut core) => {
                if self
                    .state
                    .compare_exchange(EMPTY, PARKED_DRIVER, Ordering::SeqCst, Ordering::SeqCst)
                    .is_err()
                {
                    // Notified in between.
                    self.state.store(EMPTY, Ordering::SeqCst);
                    return;
                }
                // Sleep in epoll until the next timer (or the limit, if sooner). epoll counts
                // whole milliseconds, so sleep the timer's whole milliseconds (rounding down:
                // waking a little early is fine) and, when less than one is left, poll I/O once
                // and spin (yielding the CPU) for the rest. Rounding up instead would make
                // timers up to 1 ms late.
                let deadline = shared.time.next_deadline();
                let result = match deadline
                    .map(|d| (d, d.saturating_duration_since(Instant::now())))
                {
                    Some((d, left)) if left < Duration::from_millis(1) => {
                        let r = core.turn(&shared.reactor, Some(Duration::ZERO));
                        while Instant::now() < d && self.state.load(Ordering::SeqCst) != NOTIFIED {
                            std::thread::yield_now();
                        }
                        r
                    }
                    Some((_, left)) => {
                        let wait = whole_millis(left);
                        core.turn(&shared.reactor, Some(limit.map_or(wait, |l| l.min(wait))))
                    }
                    None => core.turn(&shared.reactor, limit),
                };
                if let Err(e) = result {
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        eprintln!("spindle: reactor poll failed: {e}");
                    }
                }
                drop(core);
                // Fire due timers before running anything, so their tasks are queued now.
                shared.time.process_at(Instant::now());
                self.state.swap(EMPTY, Ordering::SeqCst);
            }
            None => self.park_condvar(limit),
        }
    }

    /// Drives I/O and timers without sleeping, if the reactor is free (periodic maintenance of a busy worker).
    pub(crate) fn poll_driver_now(shared: &Shared) {
        if let Some(mut core) = shared.reactor_core.try_lock() {
            let _ = core.turn(&shared.reactor, Some(Duration::ZERO));
        }
        shared.time.process_at(Instant::now());
    }

    /// Sleeps on the condvar until unparked, or until `limit` has passed (the path of a thread
    /// that did not get the reactor).
    pub(crate) fn park_condvar(&self, limit: Option<Duration>) {
        let mut guard = self.mutex.lock();
        if self
            .state
            .compare_exchange(EMPTY, PARKED_CONDVAR, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.state.store(EMPTY, Ordering::SeqCst);
            return;
        }
        let until = limit.map(|l| Instant::now() + l);
        loop {
            let timed_out = match until {
                Some(until) => self.condvar.wait_until(&mut guard, until).timed_out(),
                None => {
                    self.condvar.wait(&mut guard);
                    false
                }
            };
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return;
            }
            if timed_out {
                // Time is up. An unpark racing with the timeout is consumed here too: either
                // way the caller wakes and looks at its queues.
                self.state.swap(EMPTY, Ordering::SeqCst);
                return;
            }
            // Spurious wake-up: sleep again.
        }
    }

    /// Wakes the thread if it sleeps, or makes its next `park` return at once.
    pub(crate) fn unpark(&self, shared: &Shared) {
        self.unpark_with(|| shared.reactor.unpark());
    }

    /// `unpark`, with the way to interrupt a reactor sleep passed in (so models can run it alone).
    pub(crate) fn unpark_with(&self, wake_driver: impl FnOnce()) {
        match self.state.swap(NOTIFIED, Ordering::SeqCst) {
            EMPTY | NOTIFIED => {}
            PARKED_CONDVAR => {
                // Taking the lock orders us after the sleeper's `wait` began (it holds the lock
                // from its CAS until it is inside `wait`), so the notify cannot be missed.
                drop(self.mutex.lock());
                self.condvar.notify_one();
            }
            PARKED_DRIVER => wake_driver(),
            other => unreachable!("invalid parker state {other}"),
        }
    }
}

/// `d` rounded down to whole milliseconds (epoll's unit).
fn whole_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_down_to_whole_milliseconds() {
        let table = [
            (0u64, 0u64),
            (999_999, 0),
            (1_000_000, 1),
            (10_300_000, 10),
            (u64::MAX, u64::MAX / 1_000_000),
        ];
        for (nanos, ms) in table {
            assert_eq!(
                whole_millis(Duration::from_nanos(nanos)),
                Duration::from_millis(ms),
                "{nanos} ns"
            );
        }
    }
}

/// loom models: the park/unpark handshake never loses a wake-up, in any interleaving.
/// Run with `scripts/loom.sh`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::Arc;

    /// An unpark racing a park (on the condvar path) always ends the park.
    #[test]
    fn unpark_before_or_during_park_is_never_lost() {
        loom::model(|| {
            let parker = Arc::new(Parker::new());
            let p = parker.clone();
            let t = loom::thread::spawn(move || p.unpark_with(|| unreachable!("no reactor here")));
            parker.park_condvar(None);
            t.join().unwrap();
        });
    }

    /// Two parks, each preceded by an unpark (one racing, one before): both return. A
    /// notification is a token, not a count, and each park consumes the one it finds.
    #[test]
    fn park_twice_with_two_unparks() {
        loom::model(|| {
            let parker = Arc::new(Parker::new());
            let p = parker.clone();
            let t = loom::thread::spawn(move || {
                p.unpark_with(|| unreachable!());
            });
            parker.park_condvar(None);
            t.join().unwrap();
            parker.unpark_with(|| unreachable!());
            parker.park_condvar(None);
        });
    }
}

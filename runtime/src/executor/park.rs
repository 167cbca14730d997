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
//!
//! The parker does not know what the reactor is: it is handed a [`Driver`]. The runtime's shared
//! state is one (`runtime/mod.rs`: epoll through mio, and the timing wheel); the loom models at
//! the end of this file use one made of a lock and a condvar that behaves like epoll and its
//! eventfd waker, so the whole handshake, reactor path included, is model-checked.

use std::time::{Duration, Instant};

use crate::loom::{AtomicUsize, Condvar, Mutex, Ordering};

/// What a parked thread needs from the I/O and timer driver.
pub(crate) trait Driver {
    /// The right to sleep in the reactor; at most one thread holds it at a time.
    type Core<'a>
    where
        Self: 'a;

    /// Takes the reactor if no other thread holds it.
    fn try_lock_core(&self) -> Option<Self::Core<'_>>;

    /// Sleeps in the reactor until an I/O event, a [`wake`](Driver::wake), the next timer, or
    /// `limit` (`Some(ZERO)`: only collect what is ready). `notified` tells whether an unpark
    /// has arrived, for waits the reactor cannot sleep through by itself.
    fn turn(&self, core: &mut Self::Core<'_>, limit: Option<Duration>, notified: &dyn Fn() -> bool);

    /// Fires due timers, with the reactor released, before the thread runs anything.
    fn fire_timers(&self);

    /// Interrupts a `turn` under way on another thread (and makes the next one return at once).
    fn wake(&self);
}

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
    pub(crate) fn park<D: Driver>(&self, driver: &D, limit: Option<Duration>) {
        // A pending notification: consume it and return. (SeqCst throughout this type: it is
        // the handshake between the parking thread and any unparker; clarity over nanoseconds.)
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        match driver.try_lock_core() {
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
                driver.turn(&mut core, limit, &|| {
                    self.state.load(Ordering::SeqCst) == NOTIFIED
                });
                drop(core);
                // Fire due timers before running anything, so their tasks are queued now.
                driver.fire_timers();
                self.state.swap(EMPTY, Ordering::SeqCst);
            }
            None => self.park_condvar(limit),
        }
    }

    /// Drives I/O and timers without sleeping, if the reactor is free (periodic maintenance of a busy worker).
    pub(crate) fn poll_driver_now<D: Driver>(driver: &D) {
        if let Some(mut core) = driver.try_lock_core() {
            driver.turn(&mut core, Some(Duration::ZERO), &|| false);
        }
        driver.fire_timers();
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
    pub(crate) fn unpark<D: Driver>(&self, driver: &D) {
        self.unpark_with(|| driver.wake());
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
pub(crate) fn whole_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::executor::park::*;

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

/// loom models: the park/unpark handshake never loses a wake-up, in any interleaving, on the
/// condvar path and on the reactor path. A lost wake-up shows as a deadlock, which loom reports.
/// Run with `scripts/loom.sh`.
#[cfg(all(test, loom))]
mod loom_tests {
    use crate::executor::park::*;
    use crate::loom::{Arc, AtomicBool, MutexGuard};
    use loom::thread;

    /// A reactor made of a lock and a condvar. `turn` sleeps until `wake`; like mio's eventfd
    /// waker, a `wake` with nobody sleeping is kept and ends the next `turn` at once. It has no
    /// I/O and no timers, so only an unpark can end a sleep in it: exactly what the models test.
    struct ModelDriver {
        core: Mutex<()>,
        woken: Mutex<bool>,
        cv: Condvar,
    }

    impl ModelDriver {
        fn new() -> ModelDriver {
            ModelDriver {
                core: Mutex::new(()),
                woken: Mutex::new(false),
                cv: Condvar::new(),
            }
        }
    }

    impl Driver for ModelDriver {
        type Core<'a> = MutexGuard<'a, ()>;

        fn try_lock_core(&self) -> Option<MutexGuard<'_, ()>> {
            self.core.try_lock()
        }

        fn turn(
            &self,
            _core: &mut MutexGuard<'_, ()>,
            limit: Option<Duration>,
            _: &dyn Fn() -> bool,
        ) {
            let mut woken = self.woken.lock();
            if limit != Some(Duration::ZERO) {
                while !*woken {
                    self.cv.wait(&mut woken);
                }
            }
            *woken = false;
        }

        fn fire_timers(&self) {}

        fn wake(&self) {
            *self.woken.lock() = true;
            self.cv.notify_all();
        }
    }

    /// An unpark racing a park (on the condvar path) always ends the park.
    #[test]
    fn unpark_before_or_during_park_is_never_lost() {
        loom::model(|| {
            let parker = Arc::new(Parker::new());
            let p = parker.clone();
            let t = thread::spawn(move || p.unpark_with(|| unreachable!("no reactor here")));
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
            let t = thread::spawn(move || {
                p.unpark_with(|| unreachable!());
            });
            parker.park_condvar(None);
            t.join().unwrap();
            parker.unpark_with(|| unreachable!());
            parker.park_condvar(None);
        });
    }

    /// The executor's shape: look at the queue, park if it is empty, look again when woken.
    fn work_until_found(parker: &Parker, driver: &ModelDriver, queue: &Mutex<Vec<u32>>) -> u32 {
        loop {
            if let Some(v) = queue.lock().pop() {
                return v;
            }
            parker.park(driver, None);
        }
    }

    /// A worker that finds its queue empty parks in the reactor (it is the only parker, so it
    /// always gets it) while another thread pushes and unparks it: the push is always found.
    #[test]
    fn a_worker_parked_in_the_reactor_is_woken_by_a_push() {
        loom::model(|| {
            let driver = Arc::new(ModelDriver::new());
            let parker = Arc::new(Parker::new());
            let queue = Arc::new(Mutex::new(Vec::new()));
            let (d, p, q) = (driver.clone(), parker.clone(), queue.clone());
            let pusher = thread::spawn(move || {
                q.lock().push(7);
                p.unpark(&*d);
            });
            assert_eq!(work_until_found(&parker, &driver, &queue), 7);
            pusher.join().unwrap();
        });
    }

    /// Two workers park on one reactor: whichever gets it sleeps in it, the other on its
    /// condvar, and either may be halfway between the two when the pusher unparks it. Each
    /// finds the task pushed for it.
    #[test]
    fn two_workers_one_reactor_each_woken_by_its_push() {
        loom::model(|| {
            let driver = Arc::new(ModelDriver::new());
            let parkers = Arc::new([Parker::new(), Parker::new()]);
            let queues = Arc::new([Mutex::new(Vec::new()), Mutex::new(Vec::new())]);
            let (d, p, q) = (driver.clone(), parkers.clone(), queues.clone());
            let pusher = thread::spawn(move || {
                for i in 0..2 {
                    q[i].lock().push(i as u32);
                    p[i].unpark(&*d);
                }
            });
            let (d, p, q) = (driver.clone(), parkers.clone(), queues.clone());
            let other = thread::spawn(move || work_until_found(&p[1], &d, &q[1]));
            assert_eq!(work_until_found(&parkers[0], &driver, &queues[0]), 0);
            assert_eq!(other.join().unwrap(), 1);
            pusher.join().unwrap();
        });
    }

    /// Shutdown racing a park, in `MultiThread::shutdown`'s order: set the flag, then unpark
    /// every worker. Two workers (one in the reactor, one on a condvar, or on their way there)
    /// check the flag after every park; both always leave their loop.
    #[test]
    fn shutdown_racing_a_park_ends_every_worker() {
        loom::model(|| {
            let driver = Arc::new(ModelDriver::new());
            let parkers = Arc::new([Parker::new(), Parker::new()]);
            let shutdown = Arc::new(AtomicBool::new(false));
            let worker = |i: usize| {
                let (d, p, s) = (driver.clone(), parkers.clone(), shutdown.clone());
                move || {
                    while !s.load(Ordering::Acquire) {
                        p[i].park(&*d, None);
                    }
                }
            };
            let other = thread::spawn(worker(1));
            let (d, p, s) = (driver.clone(), parkers.clone(), shutdown.clone());
            let stopper = thread::spawn(move || {
                s.store(true, Ordering::SeqCst);
                for parker in p.iter() {
                    parker.unpark(&*d);
                }
            });
            worker(0)();
            other.join().unwrap();
            stopper.join().unwrap();
        });
    }
}

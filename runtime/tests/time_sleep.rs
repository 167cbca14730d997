//! Integration tests of `spindle::time::sleep` on a real runtime: ordering, never firing early,
//! cancellation by drop, 100,000 pending timers, and timers firing next to an always-ready task.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::{rt, with_timeout};
use spindle::time::{sleep, sleep_until};

/// A waker that counts how often it was woken.
struct CountWaker(AtomicUsize);

impl Wake for CountWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Timers wake their tasks in deadline order: on a current-thread runtime (a FIFO run queue),
/// tasks sleeping until distinct deadlines, spawned in a scrambled order, record themselves in
/// exactly sorted order.
#[test]
fn timers_fire_in_deadline_order() {
    with_timeout(30, || {
        let rt = spindle::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let base = Instant::now() + Duration::from_millis(20);
            let order = Arc::new(Mutex::new(Vec::new()));
            // Offsets 0, 3, 6, ... 57 ms, spawned in the scrambled order (i * 7) % 20.
            let handles: Vec<_> = (0..20u64)
                .map(|i| {
                    let offset = (i * 7) % 20 * 3;
                    let order = order.clone();
                    spindle::spawn(async move {
                        sleep_until(base + Duration::from_millis(offset)).await;
                        order.lock().unwrap().push(offset); // no panic while held
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
            let order = order.lock().unwrap().clone(); // no panic while held
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(order.len(), 20);
            assert_eq!(order, sorted);
        });
    });
}

/// No sleep completes before its deadline, on a multi-thread runtime with many timers.
#[test]
fn sleeps_never_complete_early() {
    with_timeout(30, || {
        let rt = rt(2);
        rt.block_on(async {
            let handles: Vec<_> = (0..200u64)
                .map(|i| {
                    spindle::spawn(async move {
                        let wanted = Duration::from_micros(i * 997 % 50_000);
                        let start = Instant::now();
                        sleep(wanted).await;
                        start.elapsed() >= wanted
                    })
                })
                .collect();
            for h in handles {
                assert!(h.await.unwrap(), "a sleep completed early");
            }
        });
    });
}

/// A dropped `Sleep` never wakes its task, while an identical one that is kept does.
#[test]
fn dropped_sleep_never_fires() {
    with_timeout(30, || {
        let rt = rt(2);
        rt.block_on(async {
            let dropped = Arc::new(CountWaker(AtomicUsize::new(0)));
            let kept = Arc::new(CountWaker(AtomicUsize::new(0)));
            let mut a = sleep(Duration::from_millis(10));
            let mut b = sleep(Duration::from_millis(10));
            let waker_a = Waker::from(dropped.clone());
            let waker_b = Waker::from(kept.clone());
            assert!(Pin::new(&mut a)
                .poll(&mut Context::from_waker(&waker_a))
                .is_pending());
            assert!(Pin::new(&mut b)
                .poll(&mut Context::from_waker(&waker_b))
                .is_pending());
            drop(a);
            // Long past both deadlines; the 10 ms timers fire no later than this one.
            sleep(Duration::from_millis(60)).await;
            assert_eq!(dropped.0.load(Ordering::SeqCst), 0, "a dropped sleep fired");
            assert_eq!(
                kept.0.load(Ordering::SeqCst),
                1,
                "the kept sleep did not fire"
            );
            assert!(b.is_elapsed());
        });
    });
}

/// `reset` re-arms a completed sleep, and moving a far deadline near makes it fire near.
#[test]
fn reset_rearms_and_moves_deadlines() {
    with_timeout(30, || {
        let rt = rt(2);
        rt.block_on(async {
            let mut s = sleep(Duration::from_millis(1));
            (&mut s).await;
            assert!(s.is_elapsed());
            let again = Instant::now() + Duration::from_millis(5);
            s.reset(again);
            assert!(!s.is_elapsed());
            (&mut s).await;
            assert!(Instant::now() >= again);
            // A one-hour sleep, awaited in another task, pulled in to 10 ms.
            let (tx, rx) = std::sync::mpsc::channel();
            let waiter = spindle::spawn(async move {
                let mut long = sleep(Duration::from_secs(3600));
                let near = Instant::now() + Duration::from_millis(10);
                // Register the long deadline first, then move it.
                let first =
                    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut long).poll(cx))).await;
                assert!(first.is_pending());
                long.reset(near);
                long.await;
                tx.send(Instant::now() >= near).unwrap(); // rx lives in the test below
            });
            waiter.await.unwrap();
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(true));
        });
    });
}

/// 100,000 timers pending at once (deadlines spread over 0..500 ms) all complete.
#[test]
fn a_hundred_thousand_timers_complete() {
    with_timeout(120, || {
        let rt = rt(2);
        let done = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let handles: Vec<_> = (0..100_000u64)
                .map(|i| {
                    let done = done.clone();
                    spindle::spawn(async move {
                        sleep(Duration::from_micros(i * 7919 % 500_000)).await;
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
        assert_eq!(done.load(Ordering::SeqCst), 100_000);
    });
}

/// A task that is always ready (`loop { yield_now().await }`) does not starve a timer on a
/// 1-worker runtime: the spinner stops only when the sleeping task's timer has fired.
#[test]
fn always_ready_task_does_not_starve_timers_multi_thread() {
    with_timeout(30, || {
        let rt = rt(1);
        rt.block_on(async {
            let fired = Arc::new(AtomicBool::new(false));
            let f = fired.clone();
            let sleeper = spindle::spawn(async move {
                sleep(Duration::from_millis(10)).await;
                f.store(true, Ordering::SeqCst);
            });
            let spinner = spindle::spawn(async move {
                let mut spins = 0u64;
                while !fired.load(Ordering::SeqCst) {
                    spindle::task::yield_now().await;
                    spins += 1;
                }
                spins
            });
            sleeper.await.unwrap();
            assert!(spinner.await.unwrap() > 0);
        });
    });
}

/// The same on a current-thread runtime, with the spinner as the `block_on` future itself.
#[test]
fn always_ready_task_does_not_starve_timers_current_thread() {
    with_timeout(30, || {
        let rt = spindle::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let fired = Arc::new(AtomicBool::new(false));
            let f = fired.clone();
            let _sleeper = spindle::spawn(async move {
                sleep(Duration::from_millis(10)).await;
                f.store(true, Ordering::SeqCst);
            });
            while !fired.load(Ordering::SeqCst) {
                spindle::task::yield_now().await;
            }
        });
    });
}

/// Dropping a runtime whose task sleeps for an hour does not wait for the hour.
#[test]
fn runtime_drop_does_not_wait_for_sleeping_tasks() {
    with_timeout(30, || {
        let rt = rt(2);
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        rt.spawn(async move {
            s.store(true, Ordering::SeqCst);
            sleep(Duration::from_secs(3600)).await;
        });
        rt.block_on(async {
            while !started.load(Ordering::SeqCst) {
                sleep(Duration::from_millis(1)).await;
            }
        });
        drop(rt); // the 30 s test timeout catches a hang
    });
}

/// A registered sleep polled again answers from its cached registration while no timer has
/// fired; this checks that the shortcut never loses a wake-up: re-polls after another timer
/// fired, and a re-poll from a different waker, move the wake-up to the latest waker only.
#[test]
fn repolled_sleep_wakes_only_the_latest_waker() {
    with_timeout(30, || {
        let rt = rt(2);
        rt.block_on(async {
            let first = Arc::new(CountWaker(AtomicUsize::new(0)));
            let second = Arc::new(CountWaker(AtomicUsize::new(0)));
            let first_waker = Waker::from(first.clone());
            let second_waker = Waker::from(second.clone());
            let mut s = sleep(Duration::from_millis(40));
            let mut poll_with = |w: &Waker| Pin::new(&mut s).poll(&mut Context::from_waker(w));
            assert!(poll_with(&first_waker).is_pending()); // registers
            assert!(poll_with(&first_waker).is_pending()); // cached registration
            sleep(Duration::from_millis(1)).await; // another timer fires meanwhile
            assert!(poll_with(&first_waker).is_pending()); // checks with the driver again
            assert!(poll_with(&second_waker).is_pending()); // a new waker replaces the old
            let give_up = Instant::now() + Duration::from_secs(10);
            while second.0.load(Ordering::SeqCst) == 0 && Instant::now() < give_up {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(
                second.0.load(Ordering::SeqCst),
                1,
                "the latest waker is woken"
            );
            assert_eq!(first.0.load(Ordering::SeqCst), 0, "a replaced waker is not");
            assert!(poll_with(&second_waker).is_ready());
        });
    });
}

/// A task whose sleep is re-polled thousands of times by unrelated wake-ups (the pattern of a
/// timeout around busy I/O) still completes at, and not before, its deadline.
#[test]
fn sleep_repolled_by_other_wakeups_fires_on_time() {
    with_timeout(30, || {
        let rt = rt(2);
        rt.block_on(async {
            let start = Instant::now();
            let deadline = start + Duration::from_millis(30);
            let mut s = sleep_until(deadline);
            let mut polls = 0u32;
            // Each poll wakes the task itself at once, so the sleep is polled over and over.
            std::future::poll_fn(|cx| {
                polls += 1;
                if Pin::new(&mut s).poll(cx).is_ready() {
                    return Poll::Ready(());
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await;
            assert!(Instant::now() >= deadline);
            assert!(polls > 10, "the sleep was re-polled ({polls} polls)");
        });
    });
}

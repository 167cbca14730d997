//! Tasks and the executor over real threads: spawning from inside and outside, many tasks,
//! wakers fired from foreign threads, abort, panics, detaching, fairness, and shutdown.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use common::{rt, with_timeout};
use spindle::Builder;

/// Both flavours, so every test below runs on each.
fn flavours() -> Vec<(&'static str, spindle::Runtime)> {
    vec![
        ("multi-thread(4)", rt(4)),
        ("multi-thread(1)", rt(1)),
        (
            "current-thread",
            Builder::new_current_thread().build().unwrap(),
        ),
    ]
}

/// A future that is woken once, later, by a plain std thread: the "foreign waker" case.
struct WokenByThread {
    /// Set by the foreign thread before it wakes us.
    done: Arc<AtomicBool>,
    /// Whether the foreign thread was started.
    started: bool,
}

impl Future for WokenByThread {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let done = self.done.clone();
            let waker = cx.waker().clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(2));
                done.store(true, Ordering::Release);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

/// `spawn` works from inside `block_on` and from inside other tasks, and the outputs come back.
#[test]
fn spawn_inside_and_nested() {
    with_timeout(30, || {
        for (name, rt) in flavours() {
            let out = rt.block_on(async {
                let outer = spindle::spawn(async {
                    let inner = spindle::spawn(async { 20 });
                    inner.await.unwrap() + 1
                });
                outer.await.unwrap() * 2
            });
            assert_eq!(out, 42, "{name}");
        }
    });
}

/// `Runtime::spawn` and `Handle::spawn` from plain threads outside the runtime.
#[test]
fn spawn_from_outside() {
    with_timeout(30, || {
        for (name, rt) in flavours() {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let h = rt.handle().clone();
                    std::thread::spawn(move || h.spawn(async move { i * 10 }))
                })
                .map(|t| t.join().unwrap())
                .collect();
            let direct = rt.spawn(async { 1 });
            let sum = rt.block_on(async move {
                let mut sum = direct.await.unwrap();
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, 281, "{name}");
        }
    });
}

/// 100,000 tasks all run exactly once and report back.
#[test]
fn hundred_thousand_tasks() {
    with_timeout(60, || {
        for (name, rt) in flavours() {
            let counter = Arc::new(AtomicUsize::new(0));
            let total = rt.block_on({
                let counter = counter.clone();
                async move {
                    let handles: Vec<_> = (0..100_000)
                        .map(|i| {
                            let c = counter.clone();
                            spindle::spawn(async move {
                                c.fetch_add(1, Ordering::Relaxed);
                                i as u64
                            })
                        })
                        .collect();
                    let mut total = 0u64;
                    for h in handles {
                        total += h.await.unwrap();
                    }
                    total
                }
            });
            assert_eq!(counter.load(Ordering::Relaxed), 100_000, "{name}");
            assert_eq!(total, (0..100_000u64).sum::<u64>(), "{name}");
        }
    });
}

/// Wakers cloned into foreign std threads reschedule the task; many at once.
#[test]
fn wakers_fired_from_foreign_threads() {
    with_timeout(30, || {
        for (name, rt) in flavours() {
            let n = rt.block_on(async {
                let handles: Vec<_> = (0..200)
                    .map(|_| {
                        spindle::spawn(WokenByThread {
                            done: Arc::new(AtomicBool::new(false)),
                            started: false,
                        })
                    })
                    .collect();
                let mut n = 0;
                for h in handles {
                    h.await.unwrap();
                    n += 1;
                }
                n
            });
            assert_eq!(n, 200, "{name}");
        }
    });
}

/// A panicking task becomes `JoinError::is_panic()` with its message, and the runtime keeps working.
#[test]
fn panic_becomes_join_error() {
    with_timeout(30, || {
        for (name, rt) in flavours() {
            rt.block_on(async {
                for _ in 0..10 {
                    let err = spindle::spawn(async {
                        panic!("boom");
                    })
                    .await
                    .unwrap_err();
                    assert!(err.is_panic(), "{name}");
                    assert!(!err.is_cancelled());
                    assert!(err.to_string().contains("boom"), "{err}");
                    let payload = err.into_panic();
                    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
                }
                // Still serving.
                assert_eq!(spindle::spawn(async { 5 }).await.unwrap(), 5);
            });
        }
    });
}

/// Drop guard that counts how many futures were dropped.
struct CountDrop(Arc<AtomicUsize>);
impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `abort()` cancels a pending task (its future is dropped) and `is_cancelled()` reports it.
#[test]
fn abort_cancels_pending_task() {
    with_timeout(30, || {
        for (name, rt) in flavours() {
            let dropped = Arc::new(AtomicUsize::new(0));
            let d = dropped.clone();
            rt.block_on(async move {
                let guard = CountDrop(d);
                let h = spindle::spawn(async move {
                    let _g = guard;
                    std::future::pending::<()>().await;
                });
                spindle::task::yield_now().await;
                h.abort();
                let err = h.await.unwrap_err();
                assert!(err.is_cancelled(), "{name}");
            });
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                1,
                "{name}: the future was dropped"
            );
        }
    });
}

/// Aborting a task that already finished changes nothing: the output is still returned.
#[test]
fn abort_after_completion_keeps_output() {
    with_timeout(30, || {
        let rt = rt(2);
        rt.block_on(async {
            let h = spindle::spawn(async { 9 });
            while !h.is_finished() {
                spindle::task::yield_now().await;
            }
            h.abort();
            assert_eq!(h.await.unwrap(), 9);
        });
    });
}

/// Dropping a `JoinHandle` detaches the task: it still runs to completion.
#[test]
fn dropped_handle_detaches() {
    with_timeout(30, || {
        for (name, rt) in flavours() {
            let (tx, rx) = std::sync::mpsc::channel();
            rt.block_on(async move {
                drop(spindle::spawn(async move {
                    spindle::task::yield_now().await;
                    tx.send(1).unwrap();
                }));
                // Keep the loop turning until the detached task has run (current-thread needs it).
                for _ in 0..1000 {
                    spindle::task::yield_now().await;
                }
            });
            assert_eq!(
                rx.recv_timeout(std::time::Duration::from_secs(10)),
                Ok(1),
                "{name}"
            );
        }
    });
}

/// A task that is always ready (yields in a loop) does not starve another task on one worker.
#[test]
fn always_ready_task_does_not_starve_others() {
    with_timeout(30, || {
        for (name, rt) in [
            ("multi-thread(1)", rt(1)),
            (
                "current-thread",
                Builder::new_current_thread().build().unwrap(),
            ),
        ] {
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            rt.block_on(async move {
                let spinner = spindle::spawn(async move {
                    while !s.load(Ordering::Relaxed) {
                        spindle::task::yield_now().await;
                    }
                });
                let other = spindle::spawn(async { "ran" });
                assert_eq!(other.await.unwrap(), "ran", "{name}");
                stop.store(true, Ordering::Relaxed);
                spinner.await.unwrap();
            });
        }
    });
}

/// Dropping the runtime drops every task that is still pending (their destructors run).
#[test]
fn shutdown_drops_every_pending_task() {
    with_timeout(30, || {
        for (name, rt) in flavours() {
            let dropped = Arc::new(AtomicUsize::new(0));
            for _ in 0..100 {
                let guard = CountDrop(dropped.clone());
                rt.spawn(async move {
                    let _g = guard;
                    std::future::pending::<()>().await;
                });
            }
            // Let the multi-thread workers poll them at least once.
            rt.block_on(async {
                for _ in 0..10 {
                    spindle::task::yield_now().await;
                }
            });
            drop(rt);
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                100,
                "{name}: every future dropped at shutdown"
            );
        }
    });
}

/// Spawning after shutdown began (from a destructor running during shutdown) cancels the new task.
#[test]
fn spawn_during_shutdown_is_cancelled() {
    with_timeout(30, || {
        let rt = rt(2);
        let result: Arc<Mutex<Option<bool>>> = Arc::new(Mutex::new(None));
        struct SpawnOnDrop(Arc<Mutex<Option<bool>>>);
        impl Drop for SpawnOnDrop {
            fn drop(&mut self) {
                let h = spindle::spawn(async {});
                *self.0.lock().unwrap() = Some(h.is_finished());
            }
        }
        let guard = SpawnOnDrop(result.clone());
        rt.spawn(async move {
            let _g = guard;
            std::future::pending::<()>().await;
        });
        rt.block_on(spindle::task::yield_now());
        drop(rt);
        assert_eq!(
            *result.lock().unwrap(),
            Some(true),
            "the late task was cancelled at once"
        );
    });
}

/// A task woken many times while it is running is polled again, not lost and not duplicated.
#[test]
fn wake_while_running_is_not_lost() {
    with_timeout(30, || {
        struct SelfWake {
            /// Polls so far.
            polls: usize,
        }
        impl Future for SelfWake {
            type Output = usize;
            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
                self.polls += 1;
                if self.polls == 1000 {
                    return Poll::Ready(self.polls);
                }
                // Three wakes in one poll: still exactly one more poll.
                let w: Waker = cx.waker().clone();
                w.wake_by_ref();
                cx.waker().wake_by_ref();
                w.wake();
                Poll::Pending
            }
        }
        for (name, rt) in flavours() {
            let polls = rt.block_on(async { spindle::spawn(SelfWake { polls: 0 }).await.unwrap() });
            assert_eq!(polls, 1000, "{name}");
        }
    });
}

/// `block_on` inside a task is refused with a clear panic instead of a deadlock.
#[test]
fn nested_block_on_panics() {
    with_timeout(30, || {
        let rt = rt(1);
        let h = rt.handle().clone();
        let err = rt
            .block_on(async move { spindle::spawn(async move { h.block_on(async {}) }).await })
            .unwrap_err();
        assert!(err.is_panic());
    });
}

/// A worker that blocks inside a poll does not strand the tasks queued behind it: a sibling
/// steals them, whether it was asleep deep (then the push wakes it) or light (then it comes by
/// within a millisecond on its own; see `executor/idle.rs`). Fifty rounds, so that both cases
/// occur; a stranded task would hold its round until the 10 s deadline and fail it.
#[test]
fn a_task_queued_behind_a_blocked_worker_is_stolen() {
    with_timeout(60, || {
        for threshold in [1, 4, 64] {
            let rt = Builder::new_multi_thread()
                .worker_threads(2)
                .spread_threshold(threshold)
                .build()
                .unwrap();
            for round in 0..50 {
                let stolen = rt.block_on(async {
                    spindle::spawn(async {
                        let first = Arc::new(AtomicBool::new(false));
                        let f = first.clone();
                        // The first spawn lands in this worker's LIFO slot; the second pushes
                        // it into the deque, where a sibling can steal it.
                        spindle::spawn(async move { f.store(true, Ordering::Release) });
                        spindle::spawn(async {});
                        // Block this worker (a blocking call inside a task) until the first
                        // task has run elsewhere, or 10 s have passed.
                        let deadline =
                            std::time::Instant::now() + std::time::Duration::from_secs(10);
                        while !first.load(Ordering::Acquire) && std::time::Instant::now() < deadline
                        {
                            std::thread::yield_now();
                        }
                        first.load(Ordering::Acquire)
                    })
                    .await
                    .unwrap()
                });
                assert!(
                    stolen,
                    "threshold {threshold}, round {round}: the task was stranded"
                );
            }
        }
    });
}

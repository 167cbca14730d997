//! The `sync` primitives between real tasks on real worker threads: an async `Mutex` under 1,000
//! contending tasks, lock hand-off past aborted waiters, many producers into a bounded `mpsc`,
//! oneshot ping-pong between tasks, a `Semaphore` bounding concurrency, and `Notify` hand-offs.
//! Each test runs on both runtime flavours and under a timeout.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{rt, with_timeout};
use spindle::sync::{mpsc, oneshot, Mutex, Notify, Semaphore};
use spindle::Builder;

/// A 4-worker multi-thread runtime and a current-thread one: every test runs on both.
fn flavours() -> Vec<(&'static str, spindle::Runtime)> {
    vec![
        ("multi-thread(4)", rt(4)),
        (
            "current-thread",
            Builder::new_current_thread().build().unwrap(),
        ),
    ]
}

/// 1,000 tasks on 4 workers increment one counter through the async Mutex, each yielding while
/// holding the guard (a read-modify-write split across an await): no update is lost.
#[test]
fn mutex_counter_1000_tasks() {
    with_timeout(60, || {
        for (name, rt) in flavours() {
            let total = rt.block_on(async {
                let counter = Arc::new(Mutex::new(0u64));
                let handles: Vec<_> = (0..1000)
                    .map(|_| {
                        let counter = counter.clone();
                        spindle::spawn(async move {
                            let mut guard = counter.lock().await;
                            let seen = *guard;
                            spindle::task::yield_now().await; // others run; they must wait
                            *guard = seen + 1;
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                let total = *counter.lock().await;
                total
            });
            assert_eq!(total, 1000, "{name}");
        }
    });
}

/// Waiters aborted while queued for the lock (possibly after it was handed to them) never
/// swallow it: every surviving waiter gets the lock, and the mutex is free at the end.
#[test]
fn mutex_survives_aborted_waiters() {
    with_timeout(60, || {
        for (name, rt) in flavours() {
            rt.block_on(async {
                let m = Arc::new(Mutex::new(Vec::new()));
                let guard = m.lock().await;
                let handles: Vec<_> = (0..20)
                    .map(|i| {
                        let m = m.clone();
                        spindle::spawn(async move { m.lock().await.push(i) })
                    })
                    .collect();
                // Let the waiters queue up behind the held lock.
                for _ in 0..10 {
                    spindle::task::yield_now().await;
                }
                for h in handles.iter().skip(1).step_by(2) {
                    h.abort();
                }
                drop(guard);
                let mut finished = Vec::new();
                for (i, h) in handles.into_iter().enumerate() {
                    match h.await {
                        Ok(()) => finished.push(i),
                        Err(e) => {
                            assert!(e.is_cancelled() && i % 2 == 1, "{name}: task {i}: {e:?}")
                        }
                    }
                }
                // The lock was held during every abort, so no aborted task can have finished.
                assert_eq!(finished, (0..20).step_by(2).collect::<Vec<_>>(), "{name}");
                let mut pushed = m.lock().await.clone();
                pushed.sort();
                assert_eq!(pushed, finished, "{name}");
                assert!(m.try_lock().is_ok(), "{name}: lock leaked");
            });
        }
    });
}

/// 8 producer tasks push 500 messages each through a channel of capacity 4: all 4,000 arrive,
/// each producer's in its own order, and `recv` ends with `None` after the last sender is gone.
#[test]
fn mpsc_many_producers_bounded() {
    with_timeout(60, || {
        for (name, rt) in flavours() {
            rt.block_on(async {
                let (tx, mut rx) = mpsc::channel::<(usize, usize)>(4);
                for p in 0..8 {
                    let tx = tx.clone();
                    spindle::spawn(async move {
                        for i in 0..500 {
                            tx.send((p, i)).await.unwrap();
                        }
                    });
                }
                drop(tx);
                let mut next = [0usize; 8];
                let mut total = 0;
                while let Some((p, i)) = rx.recv().await {
                    assert_eq!(i, next[p], "{name}: producer {p} out of order");
                    next[p] += 1;
                    total += 1;
                }
                assert_eq!(total, 4000, "{name}");
            });
        }
    });
}

/// Unbounded senders on plain std threads feed a receiver task (wakers crossing from outside the
/// runtime).
#[test]
fn mpsc_unbounded_from_foreign_threads() {
    with_timeout(60, || {
        for (name, rt) in flavours() {
            let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        for _ in 0..250 {
                            tx.send(1).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let sum = rt.block_on(async move {
                let mut sum = 0;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                sum
            });
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(sum, 1000, "{name}");
        }
    });
}

/// 1,000 request/reply round trips between two tasks, a fresh oneshot for every reply.
#[test]
fn oneshot_ping_pong_between_tasks() {
    with_timeout(60, || {
        for (name, rt) in flavours() {
            let sum = rt.block_on(async {
                let (req_tx, mut req_rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(1);
                let server = spindle::spawn(async move {
                    while let Some((n, reply)) = req_rx.recv().await {
                        reply.send(n + 1).unwrap();
                    }
                });
                let mut sum = 0;
                for i in 0..1000 {
                    let (tx, rx) = oneshot::channel();
                    req_tx.send((i, tx)).await.unwrap();
                    sum += rx.await.unwrap() - i;
                }
                drop(req_tx);
                server.await.unwrap();
                sum
            });
            assert_eq!(sum, 1000, "{name}");
        }
    });
}

/// A semaphore with 3 permits never lets more than 3 of 50 tasks into the section at once, and
/// every permit is back at the end.
#[test]
fn semaphore_bounds_concurrency() {
    with_timeout(60, || {
        for (name, rt) in flavours() {
            rt.block_on(async {
                let sem = Arc::new(Semaphore::new(3));
                let inside = Arc::new(AtomicUsize::new(0));
                let max_seen = Arc::new(AtomicUsize::new(0));
                let handles: Vec<_> = (0..50)
                    .map(|_| {
                        let (sem, inside, max_seen) =
                            (sem.clone(), inside.clone(), max_seen.clone());
                        spindle::spawn(async move {
                            let _permit = sem.acquire_owned().await.unwrap();
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            max_seen.fetch_max(now, Ordering::SeqCst);
                            spindle::task::yield_now().await;
                            inside.fetch_sub(1, Ordering::SeqCst);
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
                let max = max_seen.load(Ordering::SeqCst);
                assert!((1..=3).contains(&max), "{name}: {max} tasks inside at once");
                assert_eq!(sem.available_permits(), 3, "{name}");
            });
        }
    });
}

/// `notify_one` before the waiter exists is kept as a permit; `notify_waiters` releases every
/// task that registered before it, across workers.
#[test]
fn notify_between_tasks() {
    with_timeout(60, || {
        for (_name, rt) in flavours() {
            rt.block_on(async {
                let notify = Arc::new(Notify::new());
                notify.notify_one(); // nobody waits yet: stored
                let n = notify.clone();
                spindle::spawn(async move { n.notified().await })
                    .await
                    .unwrap();

                // 10 tasks register, report that they did, and wait for one broadcast.
                let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
                let handles: Vec<_> = (0..10)
                    .map(|_| {
                        let (n, ready_tx) = (notify.clone(), ready_tx.clone());
                        spindle::spawn(async move {
                            let notified = n.notified(); // registered from here on
                            ready_tx.send(()).unwrap();
                            notified.await;
                        })
                    })
                    .collect();
                for _ in 0..10 {
                    ready_rx.recv().await.unwrap();
                }
                notify.notify_waiters();
                for h in handles {
                    h.await.unwrap(); // a lost wake-up would hang here and trip the timeout
                }
            });
        }
    });
}

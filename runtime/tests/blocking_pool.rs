//! Integration tests of `spawn_blocking` and the blocking pool on a real runtime: results come
//! back, the `max_blocking_threads` cap holds, idle threads retire after the keep-alive, panics
//! become `JoinError::is_panic`, and shutdown does not wait (beyond its timeout) for a closure
//! that blocks for a long time.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::with_timeout;
use spindle::task::spawn_blocking;

/// Every closure runs and its value comes back through its `JoinHandle`.
#[test]
fn results_come_back() {
    with_timeout(30, || {
        let rt = common::rt(2);
        let sum = rt.block_on(async {
            let handles: Vec<_> = (0..100u64).map(|i| spawn_blocking(move || i * i)).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..100u64).map(|i| i * i).sum::<u64>());
    });
}

/// With `max_blocking_threads(3)`, 12 closures that block until released never run more than
/// 3 at a time and use at most 3 distinct threads; all 12 finish once released.
#[test]
fn max_blocking_threads_is_respected() {
    with_timeout(60, || {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(3)
            .build()
            .unwrap();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let active = Arc::new(AtomicUsize::new(0));
        let high_water = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (gate, active, high_water) = (gate.clone(), active.clone(), high_water.clone());
                let started_tx = started_tx.clone();
                rt.spawn_blocking(move || {
                    let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                    high_water.fetch_max(now, Ordering::SeqCst);
                    let _ = started_tx.send(());
                    let (open, cv) = &*gate;
                    let mut open = open.lock().unwrap(); // no panic while held
                    while !*open {
                        open = cv.wait(open).unwrap();
                    }
                    drop(open);
                    active.fetch_sub(1, Ordering::SeqCst);
                    std::thread::current().id()
                })
            })
            .collect();
        for _ in 0..3 {
            started_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("3 closures should start");
        }
        // Give a cap violation the chance to show itself before releasing the gate.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(high_water.load(Ordering::SeqCst), 3);
        *gate.0.lock().unwrap() = true; // no panic while held
        gate.1.notify_all();
        let threads: HashSet<_> = rt.block_on(async {
            let mut ids = HashSet::new();
            for h in handles {
                ids.insert(h.await.unwrap());
            }
            ids
        });
        assert_eq!(high_water.load(Ordering::SeqCst), 3);
        assert!(threads.len() <= 3, "{} distinct threads", threads.len());
    });
}

/// A panicking closure surfaces as `JoinError::is_panic()`, and the pool keeps working.
#[test]
fn a_panic_becomes_a_join_error() {
    with_timeout(30, || {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        rt.block_on(async {
            let err = spawn_blocking(|| panic!("boom on purpose"))
                .await
                .unwrap_err();
            assert!(err.is_panic());
            assert_eq!(spawn_blocking(|| 5).await.unwrap(), 5);
        });
    });
}

/// `shutdown_timeout(d)` with a closure that blocks for 60 s returns after about `d`, not 60 s.
#[test]
fn shutdown_timeout_does_not_wait_for_a_stuck_closure() {
    with_timeout(60, || {
        let rt = common::rt(1);
        let (started_tx, started_rx) = mpsc::channel();
        let _stuck = rt.spawn_blocking(move || {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_secs(60));
        });
        started_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the closure should start");
        let start = Instant::now();
        rt.shutdown_timeout(Duration::from_millis(200));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(200),
            "returned before the timeout"
        );
        assert!(took < Duration::from_secs(30), "waited {took:?}");
    });
}

/// Dropping a runtime with a closure blocked for 60 s returns (after the default 5 s timeout).
#[test]
fn runtime_drop_does_not_wait_for_a_stuck_closure() {
    with_timeout(60, || {
        let rt = common::rt(1);
        let (started_tx, started_rx) = mpsc::channel();
        let _stuck = rt.spawn_blocking(move || {
            let _ = started_tx.send(());
            std::thread::sleep(Duration::from_secs(60));
        });
        started_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the closure should start");
        let start = Instant::now();
        drop(rt);
        assert!(start.elapsed() < Duration::from_secs(30));
    });
}

/// Blocking threads carry the builder's thread name.
#[test]
fn blocking_threads_are_named() {
    with_timeout(30, || {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pool-test")
            .build()
            .unwrap();
        let name = rt.block_on(async {
            spawn_blocking(|| std::thread::current().name().map(str::to_owned))
                .await
                .unwrap()
        });
        assert_eq!(name.as_deref(), Some("pool-test"));
    });
}

/// Threads of this process whose name is `name` (from `/proc/self/task/*/comm`).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// Idle blocking threads retire after the keep-alive: with `thread_keep_alive(100 ms)`, the
/// four threads that served four concurrent closures are gone (as OS threads) soon after.
#[test]
fn idle_blocking_threads_retire() {
    with_timeout(30, || {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_keep_alive(Duration::from_millis(100))
            .thread_name_fn(|index| match index {
                Some(i) => format!("retire-w{i}"),
                None => "retire-blk".to_string(),
            })
            .build()
            .unwrap();
        // Four closures that wait for each other, so four threads must exist at once.
        let barrier = Arc::new(std::sync::Barrier::new(4));
        rt.block_on(async {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let b = barrier.clone();
                    spawn_blocking(move || {
                        b.wait();
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
        assert!(
            threads_named("retire-blk") >= 1,
            "the pool's threads existed"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while threads_named("retire-blk") > 0 {
            assert!(
                Instant::now() < deadline,
                "idle blocking threads did not retire"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The pool still works after its threads retired.
        assert_eq!(
            rt.block_on(async { spawn_blocking(|| 7).await }).unwrap(),
            7
        );
    });
}

//! Task identity and `Handle::metrics`: each counter checked against a workload whose count is
//! known in advance. Nothing here depends on timing: where a test must wait for the runtime to
//! reach a state (a worker asleep, a timer registered), it polls the metrics until the state
//! shows, with a generous deadline that only a hang would hit; durations are checked only
//! against lower bounds that a `thread::sleep` guarantees.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use common::with_timeout;
use spindle::metrics::{RuntimeMetrics, WorkerState};
use spindle::{Builder, Handle};

/// A current-thread runtime that times every poll.
fn current() -> spindle::Runtime {
    Builder::new_current_thread()
        .metrics_sample_period(1)
        .build()
        .unwrap()
}

/// A multi-thread runtime with `n` workers that times every poll.
fn multi(n: usize) -> spindle::Runtime {
    Builder::new_multi_thread()
        .worker_threads(n)
        .metrics_sample_period(1)
        .build()
        .unwrap()
}

/// Polls `handle.metrics()` until `done` holds; panics after 10 s (a hang, not a slow machine).
fn wait_for(handle: &Handle, what: &str, done: impl Fn(&RuntimeMetrics) -> bool) -> RuntimeMetrics {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = handle.metrics();
        if done(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "never saw {what}: {m:#?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// 100 tasks that each yield 3 times are polled exactly 400 times; with every poll timed, both
/// histograms hold 400 samples, and the polls' total time fits inside the busy time.
#[test]
fn polls_are_counted_exactly() {
    with_timeout(30, || {
        let rt = current();
        rt.block_on(async {
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    spindle::spawn(async {
                        for _ in 0..3 {
                            spindle::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        let m = rt.handle().metrics();
        assert_eq!(m.workers.len(), 1);
        assert_eq!(m.total_polls(), 400);
        assert_eq!(m.spawned_tasks, 100);
        assert_eq!(m.alive_tasks, 0);
        assert_eq!(m.poll_duration().count(), 400);
        assert_eq!(m.schedule_latency().count(), 400);
        let w = &m.workers[0];
        assert!(w.busy > Duration::ZERO);
        assert!(
            w.poll_duration.sum() <= w.busy,
            "polls {:?} outside busy {:?}",
            w.poll_duration.sum(),
            w.busy
        );
        assert_eq!((w.steals, w.lifo_hits, w.overflowed), (0, 0, 0));
    });
}

/// With the default sampling, counters stay exact and the histograms hold at most one sample
/// per poll.
#[test]
fn sampled_histograms_never_exceed_the_polls() {
    with_timeout(30, || {
        let rt = Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            for _ in 0..1000 {
                spindle::spawn(async {}).await.unwrap();
            }
        });
        let m = rt.handle().metrics();
        assert_eq!(m.total_polls(), 1000);
        assert!(m.poll_duration().count() <= 1000);
        assert_eq!(m.poll_duration().count(), m.schedule_latency().count());
    });
}

/// A poll that blocks for 20 ms lands in a bucket whose upper bound is above 20 ms, and counts
/// in the busy time; `quantile(1.0)` reports that bucket.
#[test]
fn a_long_poll_lands_in_a_long_bucket() {
    with_timeout(30, || {
        let rt = current();
        rt.block_on(async {
            spindle::spawn(async { std::thread::sleep(Duration::from_millis(20)) })
                .await
                .unwrap();
        });
        let m = rt.handle().metrics();
        let h = m.poll_duration();
        assert_eq!(h.count(), 1);
        let slow: u64 = (0..h.buckets().len())
            .filter(|&i| {
                h.bucket_upper_bound(i)
                    .is_none_or(|b| b > Duration::from_millis(20))
            })
            .map(|i| h.buckets()[i])
            .sum();
        assert_eq!(slow, 1, "{h:?}");
        assert!(h.quantile(1.0).unwrap() > Duration::from_millis(20));
        assert!(h.sum() >= Duration::from_millis(20));
        assert!(m.workers[0].busy >= Duration::from_millis(20));
    });
}

/// A task draining 300 ready messages spends its budget of 128 twice: two polls cut short.
#[test]
fn budget_exhaustion_is_counted_per_poll() {
    with_timeout(30, || {
        let rt = current();
        rt.block_on(async {
            let (tx, mut rx) = spindle::sync::mpsc::unbounded_channel();
            for i in 0..300 {
                tx.send(i).unwrap();
            }
            drop(tx);
            spindle::spawn(async move {
                let mut n = 0;
                while rx.recv().await.is_some() {
                    n += 1;
                }
                n
            })
            .await
            .unwrap()
        });
        let m = rt.handle().metrics();
        assert_eq!(m.workers[0].budget_exhausted, 2);
        assert_eq!(m.total_polls(), 3);
    });
}

/// One worker: a task spawned from a task runs from the LIFO slot, and so does the parent when
/// the child's completion wakes it. Exactly two LIFO hits.
#[test]
fn lifo_hits_are_counted() {
    with_timeout(30, || {
        let rt = multi(1);
        rt.block_on(async {
            spindle::spawn(async { spindle::spawn(async {}).await.unwrap() })
                .await
                .unwrap();
        });
        let m = rt.handle().metrics();
        assert_eq!(m.workers[0].lifo_hits, 2);
        assert_eq!(m.total_polls(), 3);
    });
}

/// One worker spawning 1,000 tasks from inside a task: all of them wait in its own queue (999
/// in the deque, the last in the LIFO slot). spindle's deques are unbounded, so none
/// overflows to the injector (tokio's 256-slot queue would have moved most of them there).
#[test]
fn local_queue_depth_and_no_overflow() {
    with_timeout(30, || {
        let rt = multi(1);
        let m = rt.block_on(async {
            spindle::spawn(async {
                for _ in 0..1000 {
                    drop(spindle::spawn(async {}));
                }
                Handle::current().metrics()
            })
            .await
            .unwrap()
        });
        assert_eq!(m.workers[0].local_queue_depth, 999);
        assert_eq!(m.workers[0].overflowed, 0);
        assert_eq!(m.injector_depth, 0);
        assert_eq!(m.alive_tasks, 1001);
    });
}

/// The only worker is stuck in a poll, so five tasks spawned from outside wait in the
/// injector: depth 5, and six tasks alive.
#[test]
fn injector_depth_shows_remote_spawns_waiting() {
    with_timeout(30, || {
        let rt = multi(1);
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let blocker = rt.spawn(async move {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap(); // blocks the worker on purpose
        });
        started_rx.recv().unwrap();
        let waiting: Vec<_> = (0..5).map(|_| rt.spawn(async {})).collect();
        let m = rt.handle().metrics();
        assert_eq!(m.injector_depth, 5);
        assert_eq!(m.alive_tasks, 6);
        assert_eq!(m.spawned_tasks, 6);
        release_tx.send(()).unwrap();
        rt.block_on(async {
            blocker.await.unwrap();
            for t in waiting {
                t.await.unwrap();
            }
        });
        // A finished task leaves the task list just after it wakes its awaiter: wait for that.
        let m = wait_for(rt.handle(), "every task gone", |m| m.alive_tasks == 0);
        assert_eq!(m.injector_depth, 0);
    });
}

/// Two workers: a task on worker A queues one stealable task, then blocks A until that task
/// has run. Only B can run it, and only by stealing: the steal shows in B's counters, and the
/// same steals show on the victim's side: with two workers, what one stole in is exactly what
/// the other had stolen out, operations and tasks alike.
#[test]
fn a_stolen_task_shows_in_steals() {
    with_timeout(30, || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .spread_threshold(1)
            .build()
            .unwrap();
        let ran = rt.block_on(async {
            spindle::spawn(async {
                let ran = Arc::new(AtomicBool::new(false));
                let r = ran.clone();
                // The first spawn goes to the LIFO slot; the second pushes it into the deque.
                drop(spindle::spawn(
                    async move { r.store(true, Ordering::Release) },
                ));
                drop(spindle::spawn(async {}));
                let deadline = Instant::now() + Duration::from_secs(10);
                while !ran.load(Ordering::Acquire) && Instant::now() < deadline {
                    std::thread::yield_now();
                }
                ran.load(Ordering::Acquire)
            })
            .await
            .unwrap()
        });
        assert!(ran, "the queued task was never stolen");
        let m = rt.handle().metrics();
        let steals: u64 = m.workers.iter().map(|w| w.steals).sum();
        let stolen: u64 = m.workers.iter().map(|w| w.stolen_tasks).sum();
        assert!(steals >= 1, "{m:#?}");
        assert!(stolen >= steals);
        let [a, b] = &m.workers[..] else {
            panic!("two workers")
        };
        assert_eq!(
            (a.steals, a.stolen_tasks),
            (b.steals_out, b.stolen_out_tasks),
            "{m:#?}"
        );
        assert_eq!(
            (b.steals, b.stolen_tasks),
            (a.steals_out, a.stolen_out_tasks),
            "{m:#?}"
        );
    });
}

/// Three workers and many steals: one task spawns 2,000 tasks onto its own worker's deque and
/// blocks that worker until every one has run, so the siblings take them all, by stealing,
/// from it and from each other. Once the runtime is quiet, every steal is counted on both
/// sides: summed over the workers, steals out equal steals in, and tasks stolen out equal
/// tasks stolen in (the thief and the victim each count the same number for each steal).
#[test]
fn steals_out_match_steals_in() {
    with_timeout(60, || {
        let rt = Builder::new_multi_thread()
            .worker_threads(3)
            .spread_threshold(1)
            .build()
            .unwrap();
        const TASKS: usize = 2000;
        let ran = rt.block_on(async {
            spindle::spawn(async {
                let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                for _ in 0..TASKS {
                    let d = done.clone();
                    drop(spindle::spawn(async move {
                        d.fetch_add(1, Ordering::AcqRel);
                    }));
                }
                let deadline = Instant::now() + Duration::from_secs(20);
                // The last spawn sits in this worker's LIFO slot, which only it can run.
                while done.load(Ordering::Acquire) < TASKS - 1 && Instant::now() < deadline {
                    std::thread::yield_now();
                }
                done.load(Ordering::Acquire)
            })
            .await
            .unwrap()
        });
        assert!(ran >= TASKS - 1, "only {ran} of the tasks ran");
        let m = wait_for(rt.handle(), "every task gone", |m| m.alive_tasks == 0);
        let sum = |f: fn(&spindle::metrics::WorkerMetrics) -> u64| -> u64 {
            m.workers.iter().map(f).sum()
        };
        assert!(sum(|w| w.steals) >= 1, "{m:#?}");
        assert_eq!(sum(|w| w.steals), sum(|w| w.steals_out), "{m:#?}");
        assert_eq!(
            sum(|w| w.stolen_tasks),
            sum(|w| w.stolen_out_tasks),
            "{m:#?}"
        );
        assert!(sum(|w| w.stolen_tasks) >= (TASKS - 1) as u64, "{m:#?}");
    });
}

/// Idle workers sleep light (8 times, 1 ms each) and then deep; a spawn from outside then
/// wakes one of them with a notification, which counts as an unpark.
#[test]
fn parks_light_then_deep_and_unparks() {
    with_timeout(60, || {
        let rt = multi(2);
        let handle = rt.handle();
        // A snapshot reads each field separately, not all at once: a worker counts its deep park
        // and then publishes the state, but a snapshot may read the count before the increment
        // and the state after it. So wait until both are visible.
        let m = wait_for(handle, "both workers asleep deep", |m| {
            m.workers
                .iter()
                .all(|w| w.state == WorkerState::ParkedDeep && w.parks_deep >= 1)
        });
        for w in &m.workers {
            assert!(w.parks_light >= 8, "{w:#?}");
            assert!(w.parks_deep >= 1, "{w:#?}");
        }
        let unparks_before: u64 = m.workers.iter().map(|w| w.unparks).sum();
        let (tx, rx) = mpsc::channel();
        drop(rt.spawn(async move { tx.send(()).unwrap() }));
        rx.recv().unwrap();
        let m = wait_for(handle, "the woken worker's count", |m| {
            m.workers.iter().map(|w| w.unparks).sum::<u64>() > unparks_before
        });
        assert_eq!(m.total_polls(), 1);
    });
}

/// A blocking closure in progress shows as a busy blocking thread; with a cap of one thread, a
/// second closure waits in the pool's queue.
#[test]
fn blocking_pool_threads_and_queue() {
    with_timeout(30, || {
        let rt = Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let first = rt.spawn_blocking(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        });
        started_rx.recv().unwrap();
        let second = rt.spawn_blocking(|| 2);
        let m = rt.handle().metrics();
        assert_eq!(m.blocking_threads, 1);
        assert_eq!(m.blocking_idle_threads, 0);
        assert_eq!(m.blocking_queue_depth, 1);
        assert_eq!(m.alive_tasks, 0, "blocking closures are not async tasks");
        release_tx.send(()).unwrap();
        rt.block_on(async {
            first.await.unwrap();
            assert_eq!(second.await.unwrap(), 2);
        });
        let m = wait_for(rt.handle(), "the blocking thread idle", |m| {
            m.blocking_idle_threads == 1
        });
        assert_eq!((m.blocking_threads, m.blocking_queue_depth), (1, 0));
    });
}

/// A task asleep for an hour is one pending timer; aborting it removes the timer.
#[test]
fn a_sleep_is_a_pending_timer() {
    with_timeout(30, || {
        let rt = multi(1);
        let sleeper = rt.spawn(async { spindle::time::sleep(Duration::from_secs(3600)).await });
        wait_for(rt.handle(), "one pending timer", |m| m.pending_timers == 1);
        sleeper.abort();
        wait_for(rt.handle(), "no pending timer", |m| m.pending_timers == 0);
    });
}

/// A listener, a client and the accepted stream are three registrations; the accept was
/// woken by an event from a reactor turn.
#[test]
fn reactor_turns_events_and_registrations() {
    with_timeout(30, || {
        let rt = current();
        let m = rt.block_on(async {
            let listener = spindle::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let client = spindle::spawn(spindle::net::TcpStream::connect(addr));
            let (server, _) = listener.accept().await.unwrap();
            let client = client.await.unwrap().unwrap();
            let m = Handle::current().metrics();
            drop((server, client, listener));
            m
        });
        assert_eq!(m.registrations, 3);
        assert!(m.reactor_turns >= 1);
        assert!(m.reactor_events >= 1);
        assert_eq!(rt.handle().metrics().registrations, 0);
    });
}

/// Ids: unique, the same inside the task as on its handle, present in blocking closures, absent
/// outside tasks.
#[test]
fn task_ids() {
    with_timeout(30, || {
        assert_eq!(spindle::task::try_id(), None);
        let rt = multi(2);
        rt.block_on(async {
            assert_eq!(
                spindle::task::try_id(),
                None,
                "block_on's own future is not a task"
            );
            let handles: Vec<_> = (0..1000)
                .map(|_| spindle::spawn(async { spindle::task::id() }))
                .collect();
            let mut seen = std::collections::HashSet::new();
            for h in handles {
                let outside = h.id();
                assert_eq!(h.await.unwrap(), outside);
                assert!(seen.insert(outside));
            }
            let b = spindle::task::spawn_blocking(spindle::task::try_id);
            let id = b.id();
            assert_eq!(b.await.unwrap(), Some(id));
            assert!(!seen.contains(&id));
        });
    });
}

/// `task::Builder` spawns named tasks (async and blocking), onto the current runtime or a
/// given one, and reports an error instead of panicking outside a runtime.
#[test]
fn task_builder() {
    with_timeout(30, || {
        use spindle::task::Builder as TaskBuilder;
        assert!(TaskBuilder::new().name("x").spawn(async {}).is_err());
        assert!(TaskBuilder::new().spawn_blocking(|| ()).is_err());
        let rt = multi(1);
        let on = TaskBuilder::new()
            .name("on")
            .spawn_on(async { 1 }, rt.handle())
            .unwrap();
        let sum = rt.block_on(async move {
            let a = TaskBuilder::new().name("a").spawn(async { 2 }).unwrap();
            let b = TaskBuilder::new().name("b").spawn_blocking(|| 3).unwrap();
            on.await.unwrap() + a.await.unwrap() + b.await.unwrap()
        });
        assert_eq!(sum, 6);
        assert_eq!(rt.handle().metrics().spawned_tasks, 2);
    });
}

//! Unit tests of the blocking pool, driven with plain closures and channels (no runtime).
//!
//! Each test runs its body on a helper thread with a deadline ([`within`]), so a hang fails the
//! test instead of stalling the suite. Nothing asserts "took less than"; tests wait for outcomes
//! (a message, a count) with generous deadlines.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::sync::mpsc;

/// Generous deadline for anything that should happen "soon".
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `body` on its own thread and fails if it does not finish within 30 s.
fn within(body: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => worker.join().unwrap(), // the body finished, so join returns at once
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: re-raise its panic in the test thread.
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test body hung"),
    }
}

/// A pool with thread names `test-blocking`.
fn pool(max: usize, keep_alive: Duration) -> BlockingPool {
    BlockingPool::new(
        max,
        keep_alive,
        std::sync::Arc::new(|| "test-blocking".to_string()),
    )
}

/// A gate that jobs wait at until the test opens it.
#[derive(Clone, Default)]
struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let mut open = open.lock().unwrap(); // std mutex: no job panics while holding it
        while !*open {
            open = cv.wait(open).unwrap();
        }
    }
    fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true; // std mutex: no job panics while holding it
        cv.notify_all();
    }
}

/// Polls `cond` every millisecond until it holds or [`PATIENCE`] runs out.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends a message when dropped: shows that a job was dropped unrun.
struct DropSignal(mpsc::Sender<&'static str>);
impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send("dropped");
    }
}

/// Every job runs exactly once, on a thread named by `thread_name`.
#[test]
fn runs_every_job_on_named_threads() {
    within(|| {
        let pool = pool(8, Duration::from_secs(10));
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            let tx = tx.clone();
            pool.spawn(Box::new(move || {
                let name = std::thread::current().name().map(str::to_owned);
                tx.send((i, name)).unwrap(); // the receiver lives until all 100 arrive
            }));
        }
        let mut seen: Vec<usize> = (0..100)
            .map(|_| {
                let (i, name) = rx.recv_timeout(PATIENCE).expect("a job never ran");
                assert_eq!(name.as_deref(), Some("test-blocking"));
                i
            })
            .collect();
        seen.sort();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
        assert!(pool.num_threads() <= 8);
        assert!(pool.shutdown(Some(PATIENCE)));
    });
}

/// With a cap of 4 and 20 jobs that block until released, exactly 4 run at once, 16 wait in
/// the queue, and all 20 finish once released.
#[test]
fn never_more_than_the_cap() {
    within(|| {
        let pool = pool(4, Duration::from_secs(10));
        let gate = Gate::default();
        let active = std::sync::Arc::new(AtomicUsize::new(0));
        let high_water = std::sync::Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 0..20 {
            let (gate, active, high_water) = (gate.clone(), active.clone(), high_water.clone());
            let (started_tx, done_tx) = (started_tx.clone(), done_tx.clone());
            pool.spawn(Box::new(move || {
                let now = active.fetch_add(1, StdOrdering::SeqCst) + 1;
                high_water.fetch_max(now, StdOrdering::SeqCst);
                started_tx.send(()).unwrap(); // the test holds the receiver
                gate.wait();
                active.fetch_sub(1, StdOrdering::SeqCst);
                done_tx.send(()).unwrap(); // the test holds the receiver
            }));
        }
        for _ in 0..4 {
            started_rx
                .recv_timeout(PATIENCE)
                .expect("fewer than 4 jobs started");
        }
        assert_eq!(pool.num_threads(), 4);
        assert_eq!(pool.queue_depth(), 16);
        assert_eq!(high_water.load(StdOrdering::SeqCst), 4);
        gate.open();
        for _ in 0..20 {
            done_rx
                .recv_timeout(PATIENCE)
                .expect("a job never finished");
        }
        assert_eq!(high_water.load(StdOrdering::SeqCst), 4);
        assert!(pool.num_threads() <= 4);
        assert!(pool.shutdown(Some(PATIENCE)));
    });
}

/// An idle thread is reused for the next job instead of a new one being started.
#[test]
fn idle_threads_are_reused() {
    within(|| {
        let pool = pool(8, Duration::from_secs(10));
        let (tx, rx) = mpsc::channel();
        for round in 0..5 {
            let tx = tx.clone();
            pool.spawn(Box::new(move || tx.send(round).unwrap())); // the test holds rx
            assert_eq!(rx.recv_timeout(PATIENCE), Ok(round));
            eventually("the thread goes idle", || pool.num_idle_threads() == 1);
            assert_eq!(pool.num_threads(), 1);
        }
        assert!(pool.shutdown(Some(PATIENCE)));
    });
}

/// Threads retire after `keep_alive` without work, and the pool starts new ones afterwards.
#[test]
fn idle_threads_retire_after_keep_alive() {
    within(|| {
        let pool = pool(8, Duration::from_millis(50));
        let gate = Gate::default();
        let (started_tx, started_rx) = mpsc::channel();
        for _ in 0..3 {
            let (gate, started_tx) = (gate.clone(), started_tx.clone());
            pool.spawn(Box::new(move || {
                started_tx.send(()).unwrap(); // the test holds the receiver
                gate.wait();
            }));
        }
        for _ in 0..3 {
            started_rx
                .recv_timeout(PATIENCE)
                .expect("a job never started");
        }
        assert_eq!(pool.num_threads(), 3);
        gate.open();
        eventually("all threads retire", || pool.num_threads() == 0);
        assert_eq!(pool.num_idle_threads(), 0);
        // The pool still works after every thread retired.
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(move || tx.send(7).unwrap())); // rx is alive below
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(7));
        assert!(pool.shutdown(Some(PATIENCE)));
    });
}

/// A panicking job neither kills its thread nor corrupts the counters.
#[test]
fn a_panicking_job_does_not_break_the_pool() {
    within(|| {
        let pool = pool(1, Duration::from_secs(10));
        pool.spawn(Box::new(|| panic!("job panics on purpose")));
        let (tx, rx) = mpsc::channel();
        pool.spawn(Box::new(move || tx.send("after").unwrap())); // rx is alive below
        assert_eq!(rx.recv_timeout(PATIENCE), Ok("after"));
        assert_eq!(pool.num_threads(), 1);
        assert!(pool.shutdown(Some(PATIENCE)));
        assert_eq!(pool.num_threads(), 0);
    });
}

/// Shutdown with a job still running returns false after its timeout; queued jobs and jobs
/// spawned after shutdown are dropped unrun; once the running job ends, shutdown reports true.
#[test]
fn shutdown_times_out_drops_queued_and_late_jobs() {
    within(|| {
        let pool = pool(1, Duration::from_secs(10));
        let gate = Gate::default();
        let (started_tx, started_rx) = mpsc::channel();
        let g = gate.clone();
        pool.spawn(Box::new(move || {
            started_tx.send(()).unwrap(); // the test holds the receiver
            g.wait();
        }));
        started_rx
            .recv_timeout(PATIENCE)
            .expect("the job never started");

        let (drop_tx, drop_rx) = mpsc::channel();
        let queued = DropSignal(drop_tx.clone());
        pool.spawn(Box::new(move || {
            let _keep = queued;
            panic!("a queued job must not run after shutdown");
        }));
        assert!(!pool.shutdown(Some(Duration::from_millis(100))));
        assert_eq!(drop_rx.recv_timeout(PATIENCE), Ok("dropped"));

        let late = DropSignal(drop_tx);
        pool.spawn(Box::new(move || {
            let _keep = late;
            panic!("a job spawned after shutdown must not run");
        }));
        assert_eq!(drop_rx.recv_timeout(PATIENCE), Ok("dropped"));
        assert_eq!(pool.queue_depth(), 0);

        gate.open();
        assert!(pool.shutdown(Some(PATIENCE)));
        assert_eq!(pool.num_threads(), 0);
    });
}

/// Shutdown wakes idle threads at once rather than waiting out their keep-alive (60 s here,
/// beyond the 30 s test deadline).
#[test]
fn shutdown_wakes_idle_threads() {
    within(|| {
        let pool = pool(4, Duration::from_secs(60));
        let (tx, rx) = mpsc::channel();
        for _ in 0..4 {
            let tx = tx.clone();
            pool.spawn(Box::new(move || tx.send(()).unwrap())); // the test holds rx
        }
        for _ in 0..4 {
            rx.recv_timeout(PATIENCE).expect("a job never ran");
        }
        eventually("threads go idle", || {
            pool.num_idle_threads() == pool.num_threads()
        });
        assert!(pool.shutdown(None));
        assert_eq!(pool.num_threads(), 0);
    });
}

/// Shutdown called from inside one of the pool's own jobs does not wait for itself.
#[test]
fn shutdown_from_inside_a_job() {
    within(|| {
        let pool = std::sync::Arc::new(pool(2, Duration::from_secs(10)));
        let (tx, rx) = mpsc::channel();
        let inner = pool.clone();
        pool.spawn(Box::new(move || {
            tx.send(inner.shutdown(Some(PATIENCE))).unwrap(); // rx is alive below
        }));
        assert_eq!(rx.recv_timeout(PATIENCE + PATIENCE), Ok(true));
        eventually("the last thread exits", || pool.num_threads() == 0);
    });
}

//! Models of the task protocol without a runtime: a test scheduler with a plain queue, and
//! threads racing wakes, completion, `JoinHandle` polls and `abort`.
//!
//! The same scenarios run two ways:
//! - under loom (`scripts/loom.sh`, `--cfg loom`), which explores every interleaving of the
//!   atomics and locks (and reports leaks, so a lost reference fails the model);
//! - as ordinary tests, which Miri runs (`scripts/miri.sh`) to check the raw-pointer code for
//!   undefined behaviour (use-after-free, aliasing, leaks).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Wake, Waker};

use super::{new_task, JoinHandle, Meta, Notified, Schedule, Task};
use crate::loom::{Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};
use std::panic::Location;

#[cfg(loom)]
use loom::thread;
#[cfg(not(loom))]
use std::thread;

/// A scheduler that only queues: the test decides who runs what.
#[derive(Clone)]
struct TestSched(Arc<Mutex<VecDeque<Notified<TestSched>>>>);

impl Schedule for TestSched {
    fn schedule(&self, task: Notified<Self>) {
        self.0.lock().push_back(task);
    }
    fn release(&self, _task: &Task<Self>) -> Option<Task<Self>> {
        None
    }
}

impl TestSched {
    fn new() -> TestSched {
        TestSched(Arc::new(Mutex::new(VecDeque::new())))
    }
    /// Runs queued tasks until the queue is empty.
    fn drain(&self) {
        loop {
            let next = self.0.lock().pop_front();
            match next {
                Some(task) => task.run(),
                None => return,
            }
        }
    }
}

/// Spawns onto the test scheduler; the owned-list reference is dropped at once (not listed).
fn spawn<F>(sched: &TestSched, f: F) -> (Notified<TestSched>, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (task, notified, join) = new_task(f, sched.clone(), Meta::at(Location::caller()));
    drop(task);
    (notified, join)
}

/// A hand-off slot for a waker, with a condvar so the other thread can wait for it.
struct Slot {
    waker: Mutex<Option<Waker>>,
    ready: Condvar,
}

/// Pending on the first poll (after putting its waker in the slot), ready with 42 on the next.
struct TwoPolls {
    slot: Arc<Slot>,
    polls: Arc<AtomicUsize>,
}

impl Future for TwoPolls {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.polls.fetch_add(1, Ordering::SeqCst) == 0 {
            *self.slot.waker.lock() = Some(cx.waker().clone());
            self.slot.ready.notify_one();
            Poll::Pending
        } else {
            Poll::Ready(42)
        }
    }
}

/// A waker for the JoinHandle side that records that it was woken.
struct Flag(AtomicBool);
impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn poll_join<T>(join: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, super::JoinError>> {
    Pin::new(join).poll(&mut Context::from_waker(waker))
}

/// Runs `f` under loom's model checker, or once when not under loom.
fn model(f: impl Fn() + Sync + Send + 'static) {
    #[cfg(loom)]
    loom::model(f);
    #[cfg(not(loom))]
    f();
}

/// A wake from another thread, possibly while the task is still inside its first poll, leads
/// to exactly one more poll, and the output reaches the JoinHandle; every reference is released.
#[test]
fn wake_from_other_thread_while_running() {
    model(|| {
        let sched = TestSched::new();
        let slot = Arc::new(Slot {
            waker: Mutex::new(None),
            ready: Condvar::new(),
        });
        let polls = Arc::new(AtomicUsize::new(0));
        let (notified, mut join) = spawn(
            &sched,
            TwoPolls {
                slot: slot.clone(),
                polls: polls.clone(),
            },
        );
        let s2 = slot.clone();
        let waker_thread = thread::spawn(move || {
            let mut guard = s2.waker.lock();
            while guard.is_none() {
                s2.ready.wait(&mut guard);
            }
            let w = guard.take().unwrap();
            drop(guard);
            w.wake();
        });
        notified.run();
        waker_thread.join().unwrap();
        sched.drain();
        assert_eq!(polls.load(Ordering::SeqCst), 2);
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        match poll_join(&mut join, &Waker::from(flag)) {
            Poll::Ready(Ok(42)) => {}
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// The JoinHandle registering its waker races the task completing on another thread: the
/// handle is either woken or sees the output directly; never neither.
#[test]
fn join_handle_races_completion() {
    model(|| {
        let sched = TestSched::new();
        let (notified, mut join) = spawn(&sched, async { 7u32 });
        let runner = thread::spawn(move || notified.run());
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let first = poll_join(&mut join, &waker);
        runner.join().unwrap();
        match first {
            Poll::Ready(Ok(7)) => {}
            Poll::Pending => {
                assert!(
                    flag.0.load(Ordering::SeqCst),
                    "completion must wake the JoinHandle"
                );
                assert!(matches!(poll_join(&mut join, &waker), Poll::Ready(Ok(7))));
            }
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// `abort` racing the first poll: the task always ends cancelled (it never completes on its own).
#[test]
fn abort_races_run() {
    model(|| {
        let sched = TestSched::new();
        let (notified, mut join) = spawn(&sched, std::future::pending::<()>());
        let runner = thread::spawn(move || notified.run());
        join.abort();
        runner.join().unwrap();
        sched.drain();
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        match poll_join(&mut join, &Waker::from(flag)) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled()),
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// A scheduler that stalls inside `schedule`, *after* queueing the task, until the test has run
/// the task to completion and dropped its `JoinHandle`; then it reads its own fields, as the real
/// executor does (it wakes a sibling worker after the push). The scheduler value lives inside
/// the task's cell, so this read is a use-after-free unless whoever is submitting still holds a
/// reference to the task: Miri (`scripts/miri.sh`) reports it. The two tests below are issue 9's
/// second finding, hit by `wakers_fired_from_foreign_threads` under the stress script.
#[derive(Clone)]
struct StallingSched {
    queue: Arc<Mutex<VecDeque<Notified<StallingSched>>>>,
    /// 0: running; 1: the task is queued and `schedule` waits; 2: the test is done, go on.
    step: Arc<(Mutex<u8>, Condvar)>,
}

impl Schedule for StallingSched {
    fn schedule(&self, task: Notified<Self>) {
        self.queue.lock().push_back(task);
        let (step, cv) = &*self.step;
        let mut at = step.lock();
        *at = 1;
        cv.notify_all();
        while *at != 2 {
            cv.wait(&mut at);
        }
        drop(at);
        // What the executor does after a push: look at its own state.
        let _ = self.queue.lock().len();
    }
    fn release(&self, _task: &Task<Self>) -> Option<Task<Self>> {
        None
    }
}

impl StallingSched {
    fn new() -> StallingSched {
        StallingSched {
            queue: Arc::new(Mutex::new(VecDeque::new())),
            step: Arc::new((Mutex::new(0), Condvar::new())),
        }
    }

    /// On the test's thread: waits until `schedule` has queued the task and stalls, runs the
    /// task to completion, takes its output and drops the `JoinHandle`, then lets `schedule` go on.
    fn complete_while_stalled(&self, mut join: JoinHandle<u32>) {
        let (step, cv) = &*self.step;
        let mut at = step.lock();
        while *at != 1 {
            cv.wait(&mut at);
        }
        drop(at);
        let task = self.queue.lock().pop_front().expect("queued");
        task.run();
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        assert!(matches!(
            poll_join(&mut join, &Waker::from(flag)),
            Poll::Ready(Ok(42))
        ));
        drop(join);
        *step.lock() = 2;
        cv.notify_all();
    }
}

/// `wake()` by value from another thread submits the task; before the fix the waker's reference
/// *became* the queue entry's, so nothing kept the task alive while `schedule` finished.
#[test]
fn wake_by_val_keeps_the_task_alive_while_scheduling() {
    model(|| {
        let sched = StallingSched::new();
        let slot = Arc::new(Slot {
            waker: Mutex::new(None),
            ready: Condvar::new(),
        });
        let polls = Arc::new(AtomicUsize::new(0));
        let (task, notified, join) = new_task(
            TwoPolls {
                slot: slot.clone(),
                polls: polls.clone(),
            },
            sched.clone(),
            Meta::at(Location::caller()),
        );
        drop(task);
        notified.run(); // Pending; the waker is in the slot
        let waker = slot
            .waker
            .lock()
            .take()
            .expect("first poll stored its waker");
        let waker_thread = thread::spawn(move || waker.wake());
        sched.complete_while_stalled(join);
        waker_thread.join().unwrap();
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    });
}

/// Woken during its own poll (a yield): the runner submits the task again. Before the fix the
/// running reference *became* the entry's, with the same hazard as above.
#[test]
fn a_task_woken_while_running_stays_alive_while_requeued() {
    model(|| {
        let sched = StallingSched::new();
        let (task, notified, join) = new_task(
            async {
                crate::task::yield_now().await;
                42u32
            },
            sched.clone(),
            Meta::at(Location::caller()),
        );
        drop(task);
        // The first poll wakes itself and returns Pending; `yield_now` stalls in `schedule`.
        let runner = thread::spawn(move || notified.run());
        sched.complete_while_stalled(join);
        runner.join().unwrap();
    });
}

/// A future that finishes only once `gate` is open: Pending (after leaving its waker in `slot`)
/// while it is shut. Each poll checks `late`, which the model sets once `abort()` has returned
/// *and* the runner thread (the only place a poll can be under way during the abort) is done:
/// any poll after that point would be a poll that started after the abort.
struct Gated {
    gate: Arc<AtomicBool>,
    late: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
}

impl Future for Gated {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        assert!(
            !self.late.load(Ordering::SeqCst),
            "a poll started after abort() returned"
        );
        if self.gate.load(Ordering::SeqCst) {
            return Poll::Ready(5);
        }
        *self.slot.lock() = Some(cx.waker().clone());
        // The gate may have opened while we stored the waker: look once more.
        if self.gate.load(Ordering::SeqCst) {
            Poll::Ready(5)
        } else {
            Poll::Pending
        }
    }
}

/// The shape of issue 9's "lost abort" (`mutex_survives_aborted_waiters`): a task's first poll may
/// be under way on one thread while another thread aborts it and *then* opens what the task waits
/// for (there: releases the lock), and wakes it. Every interleaving ends in one of two ways:
/// - the poll that was already under way when `abort()` was called saw the gate open and
///   finished: the output stands (`Ok(5)`), as it must, since the future ran to completion;
/// - otherwise the task is cancelled, and no poll starts after `abort()` (checked in
///   `Gated::poll`), however the gate's wake races the cancel's own queue entry.
///
/// So a task aborted in the middle of a poll can still complete: abort acts at the task's next
/// scheduling point, never inside a poll. The model fails if `transition_to_running` ignores
/// `CANCELLED` (checked by hand: loom finds the late poll at once).
#[test]
fn abort_wins_over_every_poll_that_starts_after_it() {
    model(|| {
        let sched = TestSched::new();
        let gate = Arc::new(AtomicBool::new(false));
        let late = Arc::new(AtomicBool::new(false));
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let (notified, mut join) = spawn(
            &sched,
            Gated {
                gate: gate.clone(),
                late: late.clone(),
                slot: slot.clone(),
            },
        );
        // The runner polls at most once: a re-poll after a wake goes through the queue.
        let runner = thread::spawn(move || notified.run());
        join.abort();
        gate.store(true, Ordering::SeqCst);
        if let Some(w) = slot.lock().take() {
            w.wake();
        }
        runner.join().unwrap();
        late.store(true, Ordering::SeqCst);
        sched.drain();
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        match poll_join(&mut join, &Waker::from(flag)) {
            Poll::Ready(Ok(5)) => {}
            // A panic here would be `Gated::poll`'s assertion, caught by the task harness.
            Poll::Ready(Err(e)) if e.is_cancelled() => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(sched.0.lock().is_empty());
    });
}

/// Dropping the JoinHandle while the task completes on another thread: the output is dropped
/// exactly once (by one side or the other) and the cell is freed.
#[test]
fn drop_join_handle_races_completion() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        struct CountOnDrop(Arc<AtomicUsize>);
        impl Drop for CountOnDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let sched = TestSched::new();
        let d = drops.clone();
        let (notified, join) = spawn(&sched, async move { CountOnDrop(d) });
        let runner = thread::spawn(move || notified.run());
        drop(join);
        runner.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// A task that panics: the panic is caught, reported to the JoinHandle, and nothing leaks.
#[cfg(not(loom))]
#[test]
fn panic_is_caught_and_reported() {
    let sched = TestSched::new();
    let (notified, mut join) = spawn(&sched, async { panic!("inside task") });
    notified.run();
    let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
    match poll_join(&mut join, &Waker::from(flag)) {
        Poll::Ready(Err(e)) => assert!(e.is_panic()),
        other => panic!("unexpected {other:?}"),
    }
}

/// Waker clones outliving the task's completion keep the cell alive until the last one drops.
#[cfg(not(loom))]
#[test]
fn wakers_outlive_completion() {
    let sched = TestSched::new();
    let slot = Arc::new(Slot {
        waker: Mutex::new(None),
        ready: Condvar::new(),
    });
    let polls = Arc::new(AtomicUsize::new(0));
    let (notified, join) = spawn(
        &sched,
        TwoPolls {
            slot: slot.clone(),
            polls,
        },
    );
    notified.run();
    let w = slot.waker.lock().take().unwrap();
    let w2 = w.clone();
    w.wake_by_ref();
    sched.drain();
    drop(join);
    // The task is complete and its handle gone; these wakers still point at the live cell.
    w.wake();
    w2.wake_by_ref();
    drop(w2);
    sched.drain();
}

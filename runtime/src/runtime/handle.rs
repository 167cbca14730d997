//! [`Handle`]: a clonable reference to a runtime, and how tasks are handed to its scheduler.
//!
//! Every task's cell stores a `Handle` as its scheduler (`impl Schedule for Handle` below), so
//! a waker on any thread can push the task back onto the right runtime's queues.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use super::{context, Shared};
use crate::executor::{
    current_thread::CurrentThread, multi_thread, multi_thread::MultiThread, Scheduler,
};
use crate::metrics::RuntimeMetrics;
use crate::task::{self, JoinHandle, Meta, Notified, Schedule, Task};

/// A cheap, clonable reference to a runtime: spawn onto it from any thread.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 7 }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(from_thread).unwrap(), 7);
/// ```
#[derive(Clone)]
pub struct Handle {
    /// The runtime's shared state.
    pub(crate) inner: crate::loom::Arc<Shared>,
}

/// Returned by [`Handle::enter`] / [`Runtime::enter`](crate::Runtime::enter): the runtime stays
/// current on this thread until it is dropped.
#[derive(Debug)]
pub struct EnterGuard {
    /// Restores the previous context on drop.
    _guard: context::EnterGuard,
}

thread_local! {
    /// True while this thread is inside a `block_on` (nested ones would deadlock).
    static IN_BLOCK_ON: Cell<bool> = const { Cell::new(false) };
}

impl Handle {
    /// The handle of the runtime this thread runs in. Panics outside a runtime.
    #[track_caller]
    pub fn current() -> Handle {
        context::expect_current("Handle::current")
    }

    /// The handle of the runtime this thread runs in, or `None`.
    pub fn try_current() -> Option<Handle> {
        context::current_handle()
    }

    /// Spawns a task onto this runtime (see [`spawn`](crate::spawn)).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(future, Meta::at(Location::caller()))
    }

    /// `spawn` with the task's name and spawn site decided by the caller.
    pub(crate) fn spawn_with<F>(&self, future: F, meta: Meta) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.clone().spawn_owned(future, meta)
    }

    /// `spawn_with` on a handle of the caller's, which the task keeps as its scheduler:
    /// `spindle::spawn` clones the current handle once and moves the future once.
    pub(crate) fn spawn_owned<F>(self, future: F, meta: Meta) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, notified, join) = task::new_task(future, self, meta);
        let handle: *const Handle = task.scheduler();
        // SAFETY: the handle lives in the task's cell, and `join` holds a reference to the
        // task until we return it, so the cell outlives every use below (even if the task
        // runs and completes on another worker as soon as it is scheduled).
        let handle = unsafe { &*handle };
        if let Some(notified) = handle.inner.owned.bind(task, notified) {
            handle.schedule(notified);
        }
        join
    }

    /// Runs a blocking closure on this runtime's blocking pool (see [`spawn_blocking`](crate::task::spawn_blocking)).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.spawn_blocking_with(f, Meta::at(Location::caller()))
    }

    /// `spawn_blocking` with the task's name and spawn site decided by the caller.
    pub(crate) fn spawn_blocking_with<F, R>(&self, f: F, meta: Meta) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (task, notified, join) =
            task::new_task(BlockingTask { f: Some(f) }, BlockingSchedule, meta);
        // Blocking tasks are not in the owned list (shutdown cannot interrupt them): release
        // the reference that the list would have held.
        drop(task);
        let job = BlockingJob {
            task: Some(notified),
            handle: self.clone(),
        };
        self.inner.blocking.spawn(Box::new(move || job.run()));
        join
    }

    /// Runs `future` to completion on this thread (see [`Runtime::block_on`](crate::Runtime::block_on)).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if multi_thread::on_worker_thread() || IN_BLOCK_ON.with(Cell::get) {
            panic!(
                "cannot block_on from inside a runtime worker or another block_on: \
                 it would stall the thread that must make progress; await the future instead"
            );
        }
        IN_BLOCK_ON.with(|b| b.set(true));
        /// Clears the flag even if the future panics.
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_BLOCK_ON.with(|b| b.set(false));
            }
        }
        let _reset = Reset;
        match &self.inner.sched {
            Scheduler::CurrentThread(ct) => ct.block_on(self, future),
            Scheduler::MultiThread(_) => {
                let _enter = context::enter(self.clone());
                block_on_thread(future)
            }
        }
    }

    /// Makes this the current runtime of the thread until the guard drops.
    pub fn enter(&self) -> EnterGuard {
        EnterGuard {
            _guard: context::enter(self.clone()),
        }
    }

    /// Whether two handles refer to the same runtime.
    pub(crate) fn ptr_eq(a: &Handle, b: &Handle) -> bool {
        crate::loom::Arc::ptr_eq(&a.inner, &b.inner)
    }

    /// The multi-thread scheduler. Panics on a current-thread runtime (a bug in the caller).
    pub(crate) fn multi_thread(&self) -> &MultiThread {
        match &self.inner.sched {
            Scheduler::MultiThread(mt) => mt,
            Scheduler::CurrentThread(_) => unreachable!("not a multi-thread runtime"),
        }
    }

    /// The current-thread scheduler. Panics on a multi-thread runtime (a bug in the caller).
    pub(crate) fn current_thread(&self) -> &CurrentThread {
        match &self.inner.sched {
            Scheduler::CurrentThread(ct) => ct,
            Scheduler::MultiThread(_) => unreachable!("not a current-thread runtime"),
        }
    }

    /// Wakes the thread parked in the reactor so it recomputes its timeout (a timer moved earlier).
    pub(crate) fn unpark_driver(&self) {
        self.inner.reactor.unpark();
    }
}

impl Handle {
    /// A snapshot of this runtime's metrics: per worker (polls, busy time, parks, steals,
    /// queue depth, histograms of poll duration and schedule latency, ...) and runtime-wide
    /// (tasks, injector, blocking pool, timers, reactor). See [`RuntimeMetrics`].
    ///
    /// Cheap enough to call a few times a second: it reads each worker's counters without
    /// stopping it, and takes a few short locks (the task list's shards, the blocking pool,
    /// the timer wheel, the reactor's registrations).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = spindle::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// rt.block_on(async {
    ///     spindle::spawn(async { spindle::time::sleep(Duration::from_millis(1)).await })
    ///         .await
    ///         .unwrap();
    /// });
    /// let m = rt.handle().metrics();
    /// assert_eq!(m.workers.len(), 2);
    /// assert_eq!(m.spawned_tasks, 1);
    /// assert!(m.total_polls() >= 2); // the first poll, and the one after the timer fired
    /// for (i, w) in m.workers.iter().enumerate() {
    ///     println!("worker {i}: {} polls, busy {:?}, {} steals", w.polls, w.busy, w.steals);
    /// }
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        let shared = &*self.inner;
        let (workers, injector_depth) = match &shared.sched {
            Scheduler::MultiThread(mt) => (mt.worker_metrics(), mt.injector_depth()),
            Scheduler::CurrentThread(ct) => (ct.worker_metrics(), 0),
        };
        let (alive_tasks, spawned_tasks) = shared.owned.counts();
        let (reactor_turns, reactor_events) = shared.reactor.turns_and_events();
        RuntimeMetrics {
            taken_at: std::time::Instant::now(),
            workers,
            alive_tasks,
            spawned_tasks,
            injector_depth,
            blocking_threads: shared.blocking.num_threads(),
            blocking_idle_threads: shared.blocking.num_idle_threads(),
            blocking_queue_depth: shared.blocking.queue_depth(),
            pending_timers: shared.time.pending(),
            reactor_turns,
            reactor_events,
            registrations: shared.reactor.num_registrations(),
            long_polls: shared.sched.detector().count(),
            recent_long_polls: shared.sched.detector().recent(),
        }
    }
}

impl Handle {
    /// Writes the scheduling trace recorded so far as Chrome trace-event JSON (open it in
    /// Perfetto, ui.perfetto.dev, or `chrome://tracing`): one track per worker thread and per
    /// blocking thread, a slice per poll named by the task's name or spawn site, park spans,
    /// reactor turns, steals and wakes as arrows, queue depths as counters. See the
    /// [`trace`](crate::trace) module.
    ///
    /// Fails with [`io::ErrorKind::Unsupported`](std::io::ErrorKind::Unsupported) if the runtime
    /// does not trace (turn it on with `SPINDLE_TRACE`, [`Builder::trace_path`](crate::Builder::trace_path)
    /// or [`Builder::trace_events_per_thread`](crate::Builder::trace_events_per_thread)).
    /// The workers keep running meanwhile: the dump holds each thread's events up to its last
    /// batch (all of them for a thread that is asleep).
    ///
    /// ```
    /// let rt = spindle::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .trace_events_per_thread(4096)
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     spindle::task::Builder::new()
    ///         .name("greeter")
    ///         .spawn(async { spindle::task::yield_now().await })
    ///         .unwrap()
    ///         .await
    ///         .unwrap()
    /// });
    /// // A worker's latest events reach the rings when it flushes its batch: every 64 events,
    /// // and when it goes to sleep, which an idle worker does within moments.
    /// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    /// let json = loop {
    ///     let mut json = Vec::new();
    ///     rt.handle().dump_trace(&mut json).unwrap();
    ///     let json = String::from_utf8(json).unwrap();
    ///     if json.contains("\"name\":\"greeter\"") || std::time::Instant::now() > deadline {
    ///         break json;
    ///     }
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// };
    /// assert!(json.contains("spindle-worker-1"));
    /// assert!(json.contains("\"name\":\"greeter\""));
    ///
    /// let untraced = spindle::Builder::new_current_thread()
    ///     .trace_events_per_thread(0)
    ///     .build()
    ///     .unwrap();
    /// assert!(untraced.handle().dump_trace(std::io::sink()).is_err());
    /// ```
    pub fn dump_trace(&self, mut out: impl std::io::Write) -> std::io::Result<()> {
        match &self.inner.trace {
            Some(tracer) => tracer.write_json(&mut out),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this runtime does not record a trace (SPINDLE_TRACE, Builder::trace_path)",
            )),
        }
    }

    /// The trace as a JSON string ([`dump_trace`](Handle::dump_trace)); `None` if the
    /// runtime does not trace.
    ///
    /// ```
    /// let rt = spindle::Builder::new_current_thread().build().unwrap();
    /// match rt.handle().trace_json() {
    ///     Some(json) => println!("{} bytes of trace", json.len()), // SPINDLE_TRACE is set
    ///     None => println!("not tracing"),
    /// }
    /// ```
    pub fn trace_json(&self) -> Option<String> {
        let mut out = Vec::new();
        self.dump_trace(&mut out).ok()?;
        // The writer produces UTF-8 only (names are `str`, escapes are ASCII).
        Some(String::from_utf8(out).expect("the trace is UTF-8"))
    }

    /// Whether this runtime records a scheduling trace.
    pub fn is_tracing(&self) -> bool {
        self.inner.trace.is_some()
    }
}

// `#[inline]`: the wake path (`raw.rs`) calls these once per wake; without the hint, whether
// LLVM inlines them flips with unrelated changes elsewhere in the crate, which moved the
// instruction counts of `docs/benchmarks.md` by 3 to 7% (issue 11's trace, measured).
impl Schedule for Handle {
    #[inline]
    fn schedule(&self, task: Notified<Self>) {
        match &self.inner.sched {
            Scheduler::MultiThread(mt) => mt.schedule(self, task, false),
            Scheduler::CurrentThread(ct) => ct.schedule(self, task),
        }
    }

    #[inline]
    fn yield_now(&self, task: Notified<Self>) {
        match &self.inner.sched {
            Scheduler::MultiThread(mt) => mt.schedule(self, task, true),
            Scheduler::CurrentThread(ct) => ct.schedule(self, task),
        }
    }

    #[inline]
    fn release(&self, task: &Task<Self>) -> Option<Task<Self>> {
        self.inner.owned.remove(task)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("sched", &self.inner.sched)
            .finish()
    }
}

/// Polls `future` on this (non-worker) thread, sleeping with `thread::park` between wake-ups.
fn block_on_thread<F: Future>(future: F) -> F::Output {
    /// Wakes the blocked thread.
    struct ThreadWaker {
        /// The thread inside `block_on`.
        thread: std::thread::Thread,
        /// Set by `wake`, so a wake before `park` is not lost (park/unpark also has a token,
        /// but spurious unparks from elsewhere must not make us re-poll needlessly).
        woken: std::sync::atomic::AtomicBool,
    }
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref()
        }
        fn wake_by_ref(self: &Arc<Self>) {
            // Release pairs with the Acquire swap in the loop below.
            self.woken.store(true, std::sync::atomic::Ordering::Release);
            self.thread.unpark();
        }
    }

    let tw = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        woken: std::sync::atomic::AtomicBool::new(false),
    });
    let waker = Waker::from(tw.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        while !tw.woken.swap(false, std::sync::atomic::Ordering::Acquire) {
            std::thread::park();
        }
    }
}

/// The future behind `spawn_blocking`: runs the closure in its first (and only) poll.
struct BlockingTask<F> {
    /// Taken on the first poll.
    f: Option<F>,
}

// Nothing in `BlockingTask` is structurally pinned: the closure is moved out, never polled.
impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self.f.take().expect("a blocking task is polled once");
        Poll::Ready(f())
    }
}

/// The scheduler of blocking tasks. A blocking task is queued once (to the pool) and never
/// returns `Pending`, so it is never woken and never rescheduled.
struct BlockingSchedule;

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified<Self>) {
        // Unreachable by the argument above; cancel rather than run a closure on a wrong thread.
        debug_assert!(false, "blocking tasks are never rescheduled");
        task.shutdown();
    }

    fn release(&self, _task: &Task<Self>) -> Option<Task<Self>> {
        None
    }
}

/// The job handed to the blocking pool. If the pool drops it without running it (shutdown),
/// the task is cancelled so its `JoinHandle` does not wait forever.
struct BlockingJob {
    /// The queue entry; `None` once run.
    task: Option<Notified<BlockingSchedule>>,
    /// Entered while the closure runs, so it can `spawn` onto the runtime.
    handle: Handle,
}

impl BlockingJob {
    fn run(mut self) {
        let _enter = context::enter(self.handle.clone());
        if let Some(task) = self.task.take() {
            match &self.handle.inner.trace {
                None => task.run(),
                Some(tracer) => {
                    crate::trace::enter_blocking(tracer);
                    crate::trace::run(None, task);
                    crate::trace::flush();
                }
            }
        }
    }
}

impl Drop for BlockingJob {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.shutdown();
        }
    }
}

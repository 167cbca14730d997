//! The current-thread scheduler: one thread runs everything, like asyncio's event loop.
//!
//! There are no worker threads. The thread inside `Runtime::block_on` runs the main future,
//! the spawned tasks, the reactor and the timers, in turn. Tasks spawned or woken from other
//! threads are queued and the loop is unparked. Tasks spawned while nobody is in `block_on`
//! wait in the queue until somebody is.
//!
//! Talks to: `task` (runs entries), `park` (sleeps on the reactor), `runtime` (shared state).
//! Invariant: only the thread holding `driver` runs tasks, so tasks of this runtime never run
//! in parallel with each other.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use super::park::Parker;
use crate::loom::{AtomicBool, Mutex, Ordering};
use crate::metrics::{BusyClock, SharedSampler, WorkerMetrics, WorkerState, WorkerStats};
use crate::monitor::record::{Detector, RecordScope};
use crate::runtime::{context, Handle};
use crate::task::Notified;

/// State of one current-thread runtime.
pub(crate) struct CurrentThread {
    /// Every runnable task, in FIFO order (spawns, local and remote wakes alike).
    queue: Mutex<VecDeque<Notified<Handle>>>,
    /// How a waker on another thread wakes the loop (and how the loop sleeps).
    parker: Parker,
    /// Held by the thread inside `block_on`: one loop at a time.
    driver: Mutex<()>,
    /// Poll the reactor without sleeping every this many tasks.
    event_interval: u32,
    /// Set by shutdown: newly queued tasks are cancelled instead.
    shutdown: AtomicBool,
    /// The loop's counters. INVARIANT: written only by the thread holding `driver`.
    stats: WorkerStats,
    /// Picks the queued entries whose schedule latency and poll are timed (see `metrics`).
    sampler: SharedSampler,
    /// The loop's current-poll record and the long-poll reports (`monitor/record.rs`): the thread
    /// inside `block_on` is this runtime's one worker.
    detector: Detector,
    /// Whether the runtime records a scheduling trace (`trace` module); fixed at build.
    trace: bool,
}

impl CurrentThread {
    pub(crate) fn new(
        event_interval: u32,
        long_poll_threshold: Option<std::time::Duration>,
        trace: bool,
    ) -> CurrentThread {
        CurrentThread {
            queue: Mutex::new(VecDeque::new()),
            parker: Parker::new(),
            driver: Mutex::new(()),
            event_interval: event_interval.max(1),
            shutdown: AtomicBool::new(false),
            stats: WorkerStats::default(),
            sampler: SharedSampler::new(),
            detector: Detector::new(1, long_poll_threshold),
            trace,
        }
    }

    /// The long-poll detector's state.
    pub(crate) fn detector(&self) -> &Detector {
        &self.detector
    }

    /// Queues a task and wakes the loop. Out of line: the wake path (`raw.rs`) then reaches
    /// either scheduler with a tail call, and the multi-thread one pays for no register saves
    /// made for this one (`docs/benchmarks.md`, the cost of metrics).
    #[inline(never)]
    pub(crate) fn schedule(&self, handle: &Handle, task: Notified<Handle>) {
        if self.shutdown.load(Ordering::Acquire) {
            task.shutdown();
            return;
        }
        self.sampler.sample(&task, || handle.inner.sample_period);
        self.push(task);
        self.parker.unpark(&*handle.inner);
    }

    /// Appends to the queue.
    fn push(&self, task: Notified<Handle>) {
        self.queue.lock().push_back(task);
    }

    pub(crate) fn shutdown(&self) {
        self.detector.stop();
        self.shutdown.store(true, Ordering::Release);
        let drained: Vec<_> = self.queue.lock().drain(..).collect();
        drop(drained);
    }

    /// A snapshot of the loop's counters (the one "worker").
    pub(crate) fn worker_metrics(&self) -> Vec<WorkerMetrics> {
        vec![self.stats.snapshot(self.queue.lock().len())]
    }

    fn pop(&self) -> Option<Notified<Handle>> {
        self.queue.lock().pop_front()
    }

    /// Runs `future` to completion on this thread, running the runtime's tasks meanwhile.
    ///
    /// The loop:
    /// 1. If the main future was woken, poll it; return its output when ready.
    /// 2. Run up to `event_interval` queued tasks.
    /// 3. If the queue ran dry and the main future is not woken, park on the reactor (timeout:
    ///    the next timer); otherwise poll the reactor and timers without sleeping.
    pub(crate) fn block_on<F: Future>(&self, handle: &Handle, future: F) -> F::Output {
        let _driver = self.driver.lock();
        let _enter = context::enter(handle.clone());
        let _trace = crate::trace::enter_worker(handle.inner.trace.as_ref(), 0);
        let main_woken = StdArc::new(MainWaker {
            woken: AtomicBool::new(true),
            handle: handle.clone(),
        });
        let waker = Waker::from(main_woken.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let stats = &self.stats;
        let _record = RecordScope::enter(self.detector.watch(0), stats.polls.word());
        /// The busy time the loop has not yet added to `stats` (added before each sleep,
        /// every 64th turn, and however `block_on` ends, a panic included; between `block_on`
        /// calls nobody runs the tasks, which shows as a deep sleep).
        struct Pending<'a> {
            stats: &'a WorkerStats,
            busy: BusyClock,
        }
        impl Drop for Pending<'_> {
            fn drop(&mut self) {
                self.busy.flush(self.stats);
                self.stats.set_state(WorkerState::ParkedDeep);
            }
        }
        stats.set_state(WorkerState::Busy);
        let mut pending = Pending {
            stats,
            busy: BusyClock::start(),
        };
        let mut turns: u32 = 0;
        loop {
            // 1.
            if main_woken.woken.swap(false, Ordering::AcqRel) {
                let span = crate::trace::span(self.trace, crate::trace::Kind::MainPoll);
                let polled = crate::coop::budget(None, || future.as_mut().poll(&mut cx));
                drop(span);
                if let Poll::Ready(out) = polled {
                    return out;
                }
            }
            // 2.
            let mut ran_dry = false;
            for _ in 0..self.event_interval {
                match self.pop() {
                    // (While tracing, every entry is stamped, and `run` traces the poll.)
                    Some(task) => stats.run(task),
                    None => {
                        ran_dry = true;
                        break;
                    }
                }
            }
            // 3.
            // Busy time is added up before each sleep, and every 64th turn otherwise (a clock
            // read per turn would cost more than a short turn itself); so is the end of a long
            // poll the monitor flagged (`monitor/record.rs`), if the monitor has not reported it.
            turns = turns.wrapping_add(1);
            let sleep = ran_dry && !main_woken.woken.load(Ordering::Acquire);
            if sleep || turns.is_multiple_of(64) {
                pending.busy.flush(stats);
                if self.detector.attention() {
                    self.detector.end_flagged(0);
                }
                if self.trace {
                    crate::trace::queues(self.queue.lock().len(), None);
                }
            }
            if sleep {
                stats.parks_deep.inc();
                stats.set_state(WorkerState::ParkedDeep);
                let span = crate::trace::park_span(self.trace, false);
                self.parker.park(&*handle.inner, None);
                drop(span);
                stats.set_state(WorkerState::Busy);
                pending.busy.restart();
            } else {
                Parker::poll_driver_now(&*handle.inner);
            }
        }
    }
}

/// The waker of the main future in `block_on`: sets a flag and unparks the loop.
struct MainWaker {
    /// Set by `wake`, cleared by the loop before it polls the main future.
    woken: AtomicBool,
    /// To reach the parker.
    handle: Handle,
}

impl Wake for MainWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &StdArc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.handle
            .current_thread()
            .parker
            .unpark(&*self.handle.inner);
    }
}

impl std::fmt::Debug for CurrentThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentThread")
            .field("queued", &self.queue.lock().len())
            .finish_non_exhaustive()
    }
}

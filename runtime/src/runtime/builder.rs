//! [`Builder`]: choosing the flavour and the knobs of a runtime.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::{Handle, Runtime, Shared};
use crate::blocking::BlockingPool;
use crate::executor::{
    current_thread::CurrentThread, idle::MAX_WORKERS, multi_thread, multi_thread::MultiThread,
    Scheduler,
};
use crate::reactor::Reactor;
use crate::task::OwnedTasks;
use crate::time::TimeDriver;

/// The default of [`Builder::metrics_sample_period`].
const DEFAULT_SAMPLE_PERIOD: u32 = 1024;

/// Names a runtime thread: `Some(i)` for worker `i`, `None` for a blocking-pool thread.
pub(crate) type ThreadNameFn = Arc<dyn Fn(Option<usize>) -> String + Send + Sync>;

/// Which scheduler to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    MultiThread,
    CurrentThread,
}

/// Configures and builds a [`Runtime`], like `tokio::runtime::Builder`.
///
/// ```
/// use std::time::Duration;
/// let rt = spindle::Builder::new_multi_thread()
///     .worker_threads(2)
///     .max_blocking_threads(16)
///     .thread_keep_alive(Duration::from_secs(1))
///     .thread_name("my-app")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub struct Builder {
    /// Multi-thread or current-thread.
    flavor: Flavor,
    /// Number of workers; `None`: one per core.
    worker_threads: Option<usize>,
    /// Cap on blocking-pool threads.
    max_blocking_threads: usize,
    /// How long an idle blocking thread waits for work before it exits.
    keep_alive: Duration,
    /// Thread names.
    thread_name: ThreadNameFn,
    /// Stack size of runtime threads; `None`: the std default.
    stack_size: Option<usize>,
    /// Ticks between checks of the global queue.
    global_queue_interval: u32,
    /// Ticks between non-blocking polls of the reactor and timers.
    event_interval: u32,
    /// Queued tasks on a worker that make it wake a sleeping sibling at once.
    spread_threshold: usize,
    /// Time about one poll in this many for the metrics' histograms.
    metrics_sample_period: u32,
    /// Report polls longer than this (`None`: no monitor thread).
    long_poll_threshold: Option<Duration>,
    /// Whether the monitor hands a stuck worker's queued tasks to its siblings.
    hand_off_blocked_worker: bool,
    /// Events each thread's trace ring keeps; `Some(0)`: tracing off whatever the environment
    /// says; `None`: the default (tracing on only with a path).
    trace_events: Option<usize>,
    /// Where to write the trace at shutdown (turns tracing on).
    trace_path: Option<std::path::PathBuf>,
}

impl Builder {
    /// A work-stealing runtime with several worker threads.
    pub fn new_multi_thread() -> Builder {
        Builder::with_flavor(Flavor::MultiThread)
    }

    /// A runtime whose only thread is the one inside `block_on` (asyncio's model).
    pub fn new_current_thread() -> Builder {
        Builder::with_flavor(Flavor::CurrentThread)
    }

    fn with_flavor(flavor: Flavor) -> Builder {
        Builder {
            flavor,
            worker_threads: None,
            max_blocking_threads: 512,
            keep_alive: Duration::from_secs(10),
            thread_name: Arc::new(|index| match index {
                Some(i) => format!("spindle-worker-{i}"),
                None => "spindle-blocking".to_string(),
            }),
            stack_size: None,
            global_queue_interval: 61,
            event_interval: 61,
            spread_threshold: 4,
            metrics_sample_period: DEFAULT_SAMPLE_PERIOD,
            long_poll_threshold: Some(crate::monitor::DEFAULT_LONG_POLL_THRESHOLD),
            hand_off_blocked_worker: false,
            trace_events: None,
            trace_path: None,
        }
    }

    /// Number of worker threads (multi-thread flavour). Default: the number of cores (at most
    /// 1023). Panics on 0 or on more than 1023.
    #[track_caller]
    pub fn worker_threads(&mut self, n: usize) -> &mut Builder {
        assert!(n > 0, "worker_threads must be at least 1");
        assert!(
            n <= MAX_WORKERS,
            "worker_threads must be at most {MAX_WORKERS}"
        );
        self.worker_threads = Some(n);
        self
    }

    /// Most threads the blocking pool may run at once. Default 512. Panics on 0.
    #[track_caller]
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Builder {
        assert!(n > 0, "max_blocking_threads must be at least 1");
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread lives. Default 10 s.
    pub fn thread_keep_alive(&mut self, d: Duration) -> &mut Builder {
        self.keep_alive = d;
        self
    }

    /// Names every runtime thread `name` (workers get `name-<index>`).
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        let name: String = name.into();
        self.thread_name = Arc::new(move |index| match index {
            Some(i) => format!("{name}-{i}"),
            None => name.clone(),
        });
        self
    }

    /// Names threads with a function of their role: `Some(i)` for worker `i`, `None` for blocking threads.
    pub fn thread_name_fn(
        &mut self,
        f: impl Fn(Option<usize>) -> String + Send + Sync + 'static,
    ) -> &mut Builder {
        self.thread_name = Arc::new(f);
        self
    }

    /// Stack size for runtime threads.
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Ticks between checks of the global queue before local work (default 61). Panics on 0.
    #[track_caller]
    pub fn global_queue_interval(&mut self, ticks: u32) -> &mut Builder {
        assert!(ticks > 0, "global_queue_interval must be at least 1");
        self.global_queue_interval = ticks;
        self
    }

    /// Ticks between non-blocking polls of I/O and timers on a busy worker (default 61). Panics on 0.
    #[track_caller]
    pub fn event_interval(&mut self, ticks: u32) -> &mut Builder {
        assert!(ticks > 0, "event_interval must be at least 1");
        self.event_interval = ticks;
        self
    }

    /// How many tasks must wait in a worker's own queue before it wakes a sleeping sibling to
    /// steal them at once (multi-thread flavour; default 4). Panics on 0.
    ///
    /// Below the threshold the worker wakes nobody as long as a sibling sleeps *light*: a worker
    /// that ran out of work recently sleeps at most 1 ms at a time and looks at every queue
    /// when it wakes, so a queued task waits at most about 1 ms for a thief even if its worker
    /// is stuck in a long poll. A few tasks per reactor turn are cheaper to run on one worker
    /// than to share: each wake-up costs a syscall, a context switch and cache traffic.
    /// `1` wakes a sibling for every stealable task, as tokio does.
    ///
    /// ```
    /// let rt = spindle::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .spread_threshold(1)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(async { spindle::spawn(async { 6 * 7 }).await.unwrap() }), 42);
    /// ```
    #[track_caller]
    pub fn spread_threshold(&mut self, tasks: usize) -> &mut Builder {
        assert!(tasks > 0, "spread_threshold must be at least 1");
        self.spread_threshold = tasks;
        self
    }

    /// Times about one poll in `n` for the metrics' poll-duration and schedule-latency
    /// histograms (default 1024; `1` times every poll). Panics on 0.
    ///
    /// Timing a poll costs three clock reads (at the wake, and before and after the poll),
    /// about as much as a whole poll of a small task; sampling keeps that cost under a few per
    /// cent while the histograms keep their shape. Counters and busy time are exact whatever
    /// the period. See [`Handle::metrics`].
    ///
    /// ```
    /// let rt = spindle::Builder::new_current_thread()
    ///     .metrics_sample_period(1)
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     for _ in 0..5 {
    ///         spindle::spawn(async {}).await.unwrap();
    ///     }
    /// });
    /// assert_eq!(rt.handle().metrics().poll_duration().count(), 5);
    /// ```
    #[track_caller]
    pub fn metrics_sample_period(&mut self, n: u32) -> &mut Builder {
        assert!(n > 0, "metrics_sample_period must be at least 1");
        self.metrics_sample_period = n;
        self
    }

    /// Reports a task that keeps a worker inside one poll for longer than `threshold` (default
    /// `Some(10 ms)`); `None` turns the long-poll detector off.
    ///
    /// A long poll is almost always a blocking call inside async code (`std::thread::sleep`,
    /// a blocking read, a long computation, a contended `std::sync::Mutex`): the worker can run
    /// nothing else meanwhile, neither the tasks queued behind it nor, unless a sibling does,
    /// the reactor and the timers. A monitor thread (`spindle-monitor`, one per runtime) looks at
    /// every worker each `threshold / 2` and reports each such poll once, with the task's id,
    /// name, spawn site and route ([`task::set_route`](crate::task::set_route)), and again when
    /// it returns, with its total duration. Reports go to the [`report`](crate::report) hook as
    /// [`Kind::LongPoll`](crate::report::Kind::LongPoll), and the last 32 are kept in
    /// [`RuntimeMetrics::recent_long_polls`](crate::metrics::RuntimeMetrics::recent_long_polls).
    ///
    /// Cost: a few stores per poll on the worker's own cache line (no clock read), and a thread
    /// that wakes `2000 / threshold_ms` times a second. `None` removes both.
    /// A zero threshold counts as `None`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = spindle::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .long_poll_threshold(Some(Duration::from_millis(50)))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {});
    /// assert_eq!(rt.handle().metrics().long_polls, 0);
    /// ```
    pub fn long_poll_threshold(&mut self, threshold: Option<Duration>) -> &mut Builder {
        self.long_poll_threshold = threshold;
        self
    }

    /// When the long-poll detector finds a worker stuck in a poll, has the other workers take
    /// over the tasks queued behind it (default `false`; multi-thread flavour only).
    ///
    /// With it on, a task woken on a worker always goes to that worker's deque, which siblings
    /// can steal from, and never to the LIFO slot, which they cannot; when the monitor reports a
    /// long poll it wakes a parked sibling to steal the stuck worker's deque, and unparks one so
    /// that I/O and timers are driven while the worker is stuck (Go's `sysmon` does the same
    /// for a thread stuck in a system call). The price: no LIFO slot, so a task woken by the
    /// one that runs now waits its turn behind the deque instead of running next.
    /// It needs [`long_poll_threshold`](Self::long_poll_threshold) on, and cannot help a
    /// runtime with one worker. See `docs/observe.md`, "Hand-off".
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = spindle::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .long_poll_threshold(Some(Duration::from_millis(5)))
    ///     .hand_off_blocked_worker(true)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(async { spindle::spawn(async { 1 }).await.unwrap() }), 1);
    /// ```
    pub fn hand_off_blocked_worker(&mut self, on: bool) -> &mut Builder {
        self.hand_off_blocked_worker = on;
        self
    }

    /// Records a scheduling trace (see the [`trace`](crate::trace) module) and writes it to
    /// `path` as Chrome trace-event JSON when the runtime shuts down; open it in Perfetto
    /// (ui.perfetto.dev) or `chrome://tracing`. Each runtime thread keeps its last
    /// [`trace_events_per_thread`](Builder::trace_events_per_thread) events.
    ///
    /// The environment variable `SPINDLE_TRACE=path.json` does the same for every runtime
    /// built without a path of its own; `SPINDLE_TRACE_EVENTS=n` sizes the rings, and by
    /// itself turns on tracing in memory (no file) for runtimes whose builder says nothing.
    ///
    /// ```
    /// let path = std::env::temp_dir().join(format!("spindle-doc-{}.json", std::process::id()));
    /// let rt = spindle::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .trace_path(&path)
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { spindle::spawn(async {}).await.unwrap() });
    /// drop(rt); // shutdown writes the file
    /// let json = std::fs::read_to_string(&path).unwrap();
    /// assert!(json.contains("\"thread_name\""));
    /// std::fs::remove_file(&path).unwrap();
    /// ```
    pub fn trace_path(&mut self, path: impl Into<std::path::PathBuf>) -> &mut Builder {
        self.trace_path = Some(path.into());
        self
    }

    /// Records a scheduling trace in memory, keeping the last `n` events of each runtime
    /// thread (default [`DEFAULT_EVENTS_PER_THREAD`](crate::trace::DEFAULT_EVENTS_PER_THREAD),
    /// about 48 bytes each); read it with [`Handle::dump_trace`] or [`Handle::trace_json`].
    /// `0` turns tracing off, overriding `SPINDLE_TRACE`.
    ///
    /// Off, tracing costs one predictable branch per poll, wake and park; on, a few stores
    /// per event (`docs/benchmarks.md` has the figures).
    ///
    /// ```
    /// let rt = spindle::Builder::new_current_thread()
    ///     .trace_events_per_thread(1024)
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     spindle::task::Builder::new().name("hello").spawn(async {}).unwrap().await.unwrap()
    /// });
    /// let json = rt.handle().trace_json().unwrap();
    /// assert!(json.contains("\"name\":\"hello\""));
    /// ```
    pub fn trace_events_per_thread(&mut self, n: usize) -> &mut Builder {
        self.trace_events = Some(n);
        self
    }

    /// I/O and timers are always on in spindle; this exists so tokio-shaped code reads the same.
    pub fn enable_all(&mut self) -> &mut Builder {
        self
    }

    /// Builds the runtime and, for the multi-thread flavour, starts its workers.
    pub fn build(&mut self) -> io::Result<Runtime> {
        let (reactor, reactor_core) = Reactor::new()?;
        let trace = crate::trace::resolve(self.trace_events, self.trace_path.clone());
        let sched = match self.flavor {
            Flavor::MultiThread => {
                let n = self
                    .worker_threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                    .min(MAX_WORKERS);
                Scheduler::MultiThread(MultiThread::new(
                    n,
                    self.global_queue_interval,
                    self.event_interval,
                    self.spread_threshold,
                    self.long_poll_threshold,
                    self.hand_off_blocked_worker,
                    trace.is_some(),
                ))
            }
            Flavor::CurrentThread => Scheduler::CurrentThread(CurrentThread::new(
                self.event_interval,
                self.long_poll_threshold,
                trace.is_some(),
            )),
        };
        let workers = match &sched {
            Scheduler::MultiThread(mt) => mt.num_workers(),
            Scheduler::CurrentThread(_) => 1,
        };
        let trace = trace.map(|config| {
            let name = &self.thread_name;
            crate::trace::Tracer::new(config, workers, |i| name(Some(i)), name(None))
        });
        let name = self.thread_name.clone();
        let shared = Shared {
            sched,
            owned: OwnedTasks::new(),
            reactor,
            reactor_core: crate::loom::Mutex::new(reactor_core),
            time: TimeDriver::new(),
            blocking: BlockingPool::new(
                self.max_blocking_threads,
                self.keep_alive,
                Arc::new(move || name(None)),
            ),
            sample_period: if trace.is_some() {
                crate::metrics::TRACE_EVERY_ENTRY
            } else {
                self.metrics_sample_period
            },
            trace,
        };
        let mut rt = Runtime {
            handle: Handle {
                inner: crate::loom::Arc::new(shared),
            },
            threads: Vec::new(),
            shut_down: false,
        };
        if self.flavor == Flavor::MultiThread {
            start_workers(&mut rt, &self.thread_name, self.stack_size)?;
        }
        // The long-poll monitor; joined at shutdown with the workers.
        if let Some(monitor) = crate::monitor::start(&rt.handle)? {
            rt.threads.push(monitor);
        }
        Ok(rt)
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

/// Starts the worker threads of a freshly built multi-thread runtime. On error the threads
/// already started are in `rt.threads`, and dropping `rt` stops them.
fn start_workers(rt: &mut Runtime, name: &ThreadNameFn, stack: Option<usize>) -> io::Result<()> {
    let n = rt.handle.multi_thread().num_workers();
    for index in 0..n {
        let core = rt
            .handle
            .multi_thread()
            .take_core(index)
            .expect("each core is taken exactly once, here");
        let handle = rt.handle.clone();
        let mut b = std::thread::Builder::new().name(name(Some(index)));
        if let Some(size) = stack {
            b = b.stack_size(size);
        }
        rt.threads
            .push(b.spawn(move || multi_thread::run_worker(handle, core))?);
    }
    Ok(())
}

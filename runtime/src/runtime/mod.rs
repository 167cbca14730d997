//! Putting the parts together: [`Runtime`], [`Builder`] and [`Handle`].
//!
//! A runtime is one `Shared` value (scheduler, reactor, timers, blocking pool, the list of
//! live tasks) behind an `Arc`, plus the worker threads that run its loop. [`Handle`] is that
//! `Arc`; every task keeps one, so it can reschedule itself from any thread.
//!
//! ```text
//!   Runtime ──owns──► worker threads ──each runs──► executor::multi_thread::run_worker
//!      │                                                   │ parks on
//!      └──► Handle = Arc<Shared> ◄── every task, waker, TcpStream, Sleep
//!              ├── sched:    executor::Scheduler  (queues, idle workers)
//!              ├── owned:    task::OwnedTasks     (every live task, for shutdown)
//!              ├── reactor:  reactor::Reactor     (+ reactor_core: the epoll half, one owner at a time)
//!              ├── time:     time::TimeDriver     (the timing wheel)
//!              └── blocking: blocking::BlockingPool
//! ```
//!
//! Shutdown (on drop or [`Runtime::shutdown_timeout`]): stop the workers, cancel every task
//! still alive (their destructors run), fire the timers, close the reactor, then wait a bounded
//! time for blocking threads; last, write the scheduling trace if a path was given for it.

mod builder;
pub(crate) mod context;
mod handle;

pub use builder::Builder;
pub use handle::{EnterGuard, Handle};

use std::fmt;
use std::future::Future;
use std::io;
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use crate::blocking::BlockingPool;
use crate::executor::park::{whole_millis, Driver};
use crate::executor::Scheduler;
use crate::loom::MutexGuard;
use crate::reactor::{Reactor, ReactorCore};
use crate::report::{Kind, Report};
use crate::task::{JoinHandle, OwnedTasks};
use crate::time::TimeDriver;

/// How long dropping a [`Runtime`] waits for blocking-pool threads that are still running a
/// closure. They cannot be interrupted; after this they are left running detached.
/// Use [`Runtime::shutdown_timeout`] to choose another bound.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything one runtime shares between its threads.
pub(crate) struct Shared {
    /// The task queues and idle-worker bookkeeping.
    pub(crate) sched: Scheduler,
    /// Every live task, so that shutdown can cancel them.
    pub(crate) owned: OwnedTasks,
    /// Registrations and the poller's waker (any thread).
    pub(crate) reactor: Reactor,
    /// The epoll half; held by at most one parked thread at a time (`try_lock`).
    pub(crate) reactor_core: crate::loom::Mutex<ReactorCore>,
    /// Every pending timer.
    pub(crate) time: TimeDriver,
    /// Threads for `spawn_blocking`.
    pub(crate) blocking: BlockingPool,
    /// Time about one queue entry in this many (`Builder::metrics_sample_period`); while
    /// tracing, `metrics::TRACE_EVERY_ENTRY`: every entry, stamped through the trace.
    pub(crate) sample_period: u32,
    /// The flight recorder, if this runtime traces (`trace` module).
    pub(crate) trace: Option<crate::trace::Tracer>,
}

/// How a parked worker sleeps in this runtime's reactor and wakes for its timers.
impl Driver for Shared {
    type Core<'a> = MutexGuard<'a, ReactorCore>;

    fn try_lock_core(&self) -> Option<MutexGuard<'_, ReactorCore>> {
        self.reactor_core.try_lock()
    }

    fn turn(
        &self,
        core: &mut MutexGuard<'_, ReactorCore>,
        limit: Option<Duration>,
        notified: &dyn Fn() -> bool,
    ) {
        if self.trace.is_some() {
            self.turn_traced(core, limit, notified);
        } else {
            self.turn_io(core, limit, notified);
        }
    }

    fn fire_timers(&self) {
        self.time.process_at(Instant::now());
    }

    fn wake(&self) {
        self.reactor.unpark();
    }
}

impl Shared {
    /// One reactor turn (see [`Driver::turn`]); inlined into both callers, so that the
    /// untraced turn is the function it was before tracing existed.
    #[inline(always)]
    fn turn_io(
        &self,
        core: &mut MutexGuard<'_, ReactorCore>,
        limit: Option<Duration>,
        notified: &dyn Fn() -> bool,
    ) {
        // Sleep in epoll until the next timer (or the limit, if sooner). epoll counts whole
        // milliseconds, so sleep the timer's whole milliseconds (rounding down: waking a little
        // early is fine) and, when less than one is left, poll I/O once and spin (yielding the
        // CPU) for the rest. Rounding up instead would make timers up to 1 ms late.
        let deadline = match limit {
            Some(Duration::ZERO) => None,
            _ => self.time.next_deadline(),
        };
        let result = match deadline.map(|d| (d, d.saturating_duration_since(Instant::now()))) {
            Some((d, left)) if left < Duration::from_millis(1) => {
                let r = core.turn(&self.reactor, Some(Duration::ZERO));
                while Instant::now() < d && !notified() {
                    std::thread::yield_now();
                }
                r
            }
            Some((_, left)) => {
                let wait = whole_millis(left);
                core.turn(&self.reactor, Some(limit.map_or(wait, |l| l.min(wait))))
            }
            None => core.turn(&self.reactor, limit),
        };
        if let Err(e) = result {
            if e.kind() != io::ErrorKind::Interrupted {
                crate::report::emit(&Report::new(
                    Kind::ReactorFailed,
                    "spindle::runtime",
                    format_args!("reactor poll failed: {e}"),
                ));
            }
        }
    }

    /// A reactor turn recorded in the trace, with the I/O events it delivered (the reactor
    /// counts them; only this thread, which holds the core, adds to the count). Out of line,
    /// so that an untraced turn pays one branch.
    #[cold]
    #[inline(never)]
    fn turn_traced(
        &self,
        core: &mut MutexGuard<'_, ReactorCore>,
        limit: Option<Duration>,
        notified: &dyn Fn() -> bool,
    ) {
        let start = crate::trace::now();
        let before = self.reactor.turns_and_events().1;
        self.turn_io(core, limit, notified);
        crate::trace::reactor_turn(start, self.reactor.turns_and_events().1 - before);
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("sched", &self.sched)
            .finish_non_exhaustive()
    }
}

/// A spindle runtime: an executor, a reactor, timers and a blocking pool, ready to run futures.
///
/// ```
/// use std::time::Duration;
///
/// let rt = spindle::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// let out = rt.block_on(async {
///     let a = spindle::spawn(async { 1 });
///     let b = spindle::task::spawn_blocking(|| 2);
///     spindle::time::sleep(Duration::from_millis(1)).await;
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(out, 3);
/// ```
pub struct Runtime {
    /// The shared state.
    handle: Handle,
    /// Worker threads to join at shutdown (empty for the current-thread flavour).
    threads: Vec<ThreadHandle<()>>,
    /// Set once shutdown has run, so `Drop` after `shutdown_timeout` does nothing.
    shut_down: bool,
}

impl Runtime {
    /// A multi-thread runtime with one worker per core (`Builder::new_multi_thread().build()`).
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    /// Runs `future` to completion on the current thread and returns its output: the entry
    /// point of a program (asyncio's `asyncio.run`). Tasks it spawns run on the workers (or,
    /// for a current-thread runtime, on this thread while it waits).
    ///
    /// Panics if called from inside a runtime's worker or another `block_on` (that would stall
    /// the very thread that has to make progress).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task from outside the runtime (see [`spawn`](crate::spawn)).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking closure on the blocking pool (see [`spawn_blocking`](crate::task::spawn_blocking)).
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// The runtime's handle, to spawn onto it from other threads.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Makes this the current runtime of the thread until the guard drops, so that
    /// `spindle::spawn` and `time::sleep` work from plain code.
    pub fn enter(&self) -> EnterGuard {
        self.handle.enter()
    }

    /// Shuts down, waiting at most `timeout` for blocking-pool threads still running a closure.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let rt = spindle::Runtime::new().unwrap();
    /// rt.spawn_blocking(|| std::thread::sleep(Duration::from_secs(2)));
    /// let start = Instant::now();
    /// rt.shutdown_timeout(Duration::from_millis(10));
    /// assert!(start.elapsed() < Duration::from_secs(2));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(timeout);
    }

    /// Shuts down without waiting for blocking-pool threads at all.
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO)
    }

    /// The shutdown sequence, numbered as in the module docs.
    fn shutdown(&mut self, timeout: Duration) {
        if std::mem::replace(&mut self.shut_down, true) {
            return;
        }
        let shared = &self.handle.inner;
        // 1. Stop the workers and wait for them to leave their loops.
        match &shared.sched {
            Scheduler::MultiThread(mt) => mt.shutdown(&self.handle),
            Scheduler::CurrentThread(ct) => ct.shutdown(),
        }
        let me = std::thread::current().id();
        for t in self.threads.drain(..) {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        // 2. Cancel every task still alive, inside the runtime's context (a destructor may
        //    spawn, which then sees the closed list and cancels the new task too). A runtime
        //    dropped from a thread-local's destructor at thread exit may find the context
        //    already destroyed: the tasks are cancelled all the same, outside any context (a
        //    destructor that spawns then panics, as it would outside a runtime).
        {
            let _enter = context::try_enter(self.handle.clone());
            shared.owned.close_and_shutdown_all::<Handle>();
            if let Scheduler::MultiThread(mt) = &shared.sched {
                mt.drain_injector();
            }
        }
        // 3. Nothing waits on timers or sockets any more: release them.
        shared.time.shutdown();
        shared.reactor.shutdown();
        // 4. Blocking closures cannot be interrupted: wait for them, but only so long.
        shared.blocking.shutdown(Some(timeout));
        // 5. Every thread has flushed its trace (or is still running a blocking closure):
        //    write the trace file, if one was asked for.
        if let Some(tracer) = &shared.trace {
            crate::trace::write_at_shutdown(tracer);
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(DEFAULT_SHUTDOWN_TIMEOUT);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

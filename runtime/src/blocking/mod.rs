//! The blocking pool: threads for closures that block, behind `spawn_blocking`
//! (asyncio's `run_in_executor` with its default thread pool).
//!
//! A closure that blocks (a file read, a CPU-heavy hash, a synchronous library call) would stall
//! a worker thread and every task queued behind it. Instead the runtime queues it here as a
//! [`Job`]; a pool thread runs it and the task that awaits its `JoinHandle` is woken when it ends.
//!
//! ```text
//!   spawn(job) ──▶ queue ──▶ idle thread? ── yes ──▶ notify one; it pops the job
//!                             │
//!                             no ──▶ below the cap? ── yes ──▶ start a thread
//!                                          │
//!                                          no ──▶ the job waits for a thread to free up
//!
//!   thread: loop { pop a job and run it | exit if shut down | wait up to keep_alive, then retire }
//! ```
//!
//! Talks to: the runtime (creates the pool with the builder's cap, keep-alive and thread names,
//! wraps each `spawn_blocking` closure in a `Job` that completes its task, and calls `shutdown`
//! when the runtime is dropped). The pool itself knows nothing about tasks.
//!
//! Invariants:
//! - INVARIANT: `threads <= max_threads`: a thread is counted before it is started.
//! - INVARIANT: `idle` counts threads waiting on `job_ready` that no notification has claimed;
//!   whoever sends a notification decrements it and increments `wakeups`, so one idle thread is
//!   never counted on for two jobs.
//! - INVARIANT: after `shutdown` the queue stays empty: queued jobs are dropped, new ones too.
//! - Jobs are run and dropped only with the lock released (a job's drop cancels a task, which
//!   may run arbitrary code).
//!
//! Under `--cfg loom` the pool compiles but is not modelled: loom has no clock, so its timed
//! waits become untimed ones.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::loom::{Arc, Condvar, Mutex, MutexGuard};
use crate::report::{Kind, Report};

/// Makes the name of each new pool thread.
pub(crate) type ThreadNameFn = std::sync::Arc<dyn Fn() -> String + Send + Sync>;

/// A job for the pool: a boxed closure. Dropping it unrun must be harmless (it cancels its task).
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Threads that run blocking closures; grows on demand up to a cap, retires idle threads.
/// Lives in `runtime::Shared` as `blocking`.
pub(crate) struct BlockingPool {
    /// State shared with the pool's threads.
    shared: Arc<Shared>,
}

/// What the pool's threads and its owner share.
struct Shared {
    /// The queue and the counters, under one lock.
    state: Mutex<State>,
    /// Signalled when a job is queued (one idle thread) or at shutdown (all of them).
    job_ready: Condvar,
    /// Signalled whenever a thread exits, for `shutdown` to re-check the count.
    all_exited: Condvar,
    /// Most threads alive at once (the builder's `max_blocking_threads`).
    max_threads: usize,
    /// How long an idle thread waits for a job before it retires.
    keep_alive: Duration,
    /// Names each new thread (the builder's `thread_name`). A std `Arc`: it is read-only
    /// configuration, not synchronization state, and loom's `Arc` cannot hold a `dyn Fn`.
    thread_name: ThreadNameFn,
}

/// The mutable part of [`Shared`].
#[derive(Default)]
struct State {
    /// Jobs not yet picked up by a thread, oldest first.
    queue: VecDeque<Job>,
    /// Threads alive (started and not yet exited). INVARIANT: `<= max_threads`.
    threads: usize,
    /// Threads waiting for a job and not yet claimed by a notification (module invariant).
    idle: usize,
    /// Notifications sent to idle threads that no thread has consumed yet.
    wakeups: usize,
    /// Set by `shutdown`; never cleared.
    shutdown: bool,
}

thread_local! {
    /// The address of the pool whose thread this is (0 elsewhere), so that `shutdown` called from
    /// inside one of its own jobs does not wait for itself.
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

impl BlockingPool {
    /// A pool with no threads yet. `max_threads` is clamped to at least one.
    pub(crate) fn new(max_threads: usize, keep_alive: Duration, thread_name: ThreadNameFn) -> Self {
        BlockingPool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                job_ready: Condvar::new(),
                all_exited: Condvar::new(),
                max_threads: max_threads.max(1),
                keep_alive,
                thread_name,
            }),
        }
    }

    /// Queues `job`; starts a thread if none is idle and the cap allows. After shutdown the job is
    /// dropped unrun.
    pub(crate) fn spawn(&self, job: Job) {
        let mut state = self.shared.state.lock();
        if state.shutdown {
            drop(state);
            drop(job); // outside the lock: dropping cancels the job's task
            return;
        }
        state.queue.push_back(job);
        if state.idle > 0 {
            // Claim one idle thread for this job (module invariant) and wake it.
            state.idle -= 1;
            state.wakeups += 1;
            self.shared.job_ready.notify_one();
        } else if state.threads < self.shared.max_threads {
            state.threads += 1; // counted before it starts, so the cap holds
            drop(state);
            self.start_thread();
        }
        // Otherwise every thread is busy and the cap is reached: the job waits in the queue.
    }

    /// Starts one pool thread that was already counted in `threads`.
    fn start_thread(&self) {
        let shared = self.shared.clone();
        let name = (self.shared.thread_name)();
        let started = std::thread::Builder::new()
            .name(name)
            .spawn(move || shared.run());
        if let Err(err) = started {
            // The OS refused a thread. Uncount it; if no thread is left to run the queue, drop the
            // queued jobs (cancelling their tasks) rather than leave them waiting forever.
            let mut state = self.shared.state.lock();
            state.threads -= 1;
            self.shared.all_exited.notify_all(); // a waiting `shutdown` re-checks the count
            let orphans = if state.threads == 0 {
                std::mem::take(&mut state.queue)
            } else {
                VecDeque::new()
            };
            drop(state);
            crate::report::emit(&Report::new(
                Kind::BlockingThreadFailed,
                "spindle::blocking",
                format_args!("could not start a blocking thread: {err}"),
            ));
            drop(orphans);
        }
    }

    /// Stops accepting jobs, drops queued ones, wakes idle threads, and waits up to `timeout`
    /// (`None`: as long as it takes) for the running ones to finish their job and exit.
    /// Returns true if every thread exited in time. A thread of this very pool that calls it
    /// (from inside a job) is not waited for. Calling it again is harmless.
    pub(crate) fn shutdown(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        let mut state = self.shared.state.lock();
        state.shutdown = true;
        let dropped = std::mem::take(&mut state.queue);
        self.shared.job_ready.notify_all();
        // Drop the queued jobs outside the lock (each cancels its task).
        drop(state);
        drop(dropped);

        let me = CURRENT_POOL.with(Cell::get) == self.shared.addr();
        let allowed = usize::from(me);
        let mut state = self.shared.state.lock();
        while state.threads > allowed {
            match deadline {
                None | Some(None) => self.shared.all_exited.wait(&mut state),
                Some(Some(deadline)) => {
                    if wait_until(&self.shared.all_exited, &mut state, deadline) {
                        return state.threads <= allowed;
                    }
                }
            }
        }
        true
    }

    /// Threads alive now (running a job or idle).
    pub(crate) fn num_threads(&self) -> usize {
        self.shared.state.lock().threads
    }

    /// Threads waiting for a job now.
    pub(crate) fn num_idle_threads(&self) -> usize {
        self.shared.state.lock().idle
    }

    /// Jobs waiting for a thread now.
    pub(crate) fn queue_depth(&self) -> usize {
        self.shared.state.lock().queue.len()
    }
}

impl Shared {
    /// This pool's identity for [`CURRENT_POOL`].
    fn addr(&self) -> usize {
        self as *const Shared as usize
    }

    /// The body of every pool thread.
    ///
    /// Plan, each turn of the loop, holding the lock:
    /// 1. If a job is queued, take it, unlock, run it (a panic is caught), and go round again.
    /// 2. If the pool is shut down, exit.
    /// 3. Otherwise wait idle until notified, shut down, or `keep_alive` passes; then retire.
    fn run(&self) {
        CURRENT_POOL.with(|c| c.set(self.addr()));
        let mut state = self.state.lock();
        'outer: loop {
            // 1. Work first.
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // The runtime's wrapper reports a panic to the task's JoinHandle; this catch only
                // keeps a panic from killing the thread (and our counters with it).
                let _ = catch_unwind(AssertUnwindSafe(job));
                state = self.state.lock();
                continue;
            }
            // 2. Shut down: leave.
            if state.shutdown {
                break;
            }
            // 3. Idle: wait for a job, counting ourselves as available.
            state.idle += 1;
            let retire_at = Instant::now().checked_add(self.keep_alive);
            loop {
                let timed_out = match retire_at {
                    Some(at) => wait_until(&self.job_ready, &mut state, at),
                    None => {
                        self.job_ready.wait(&mut state);
                        false
                    }
                };
                if state.wakeups > 0 {
                    // A spawner claimed us (and already took us off `idle`).
                    state.wakeups -= 1;
                    continue 'outer;
                }
                if state.shutdown || timed_out {
                    state.idle -= 1;
                    break 'outer;
                }
                // A spurious wake-up: keep waiting until `retire_at`.
            }
        }
        // Leaving: uncount ourselves and tell `shutdown`, which may be waiting for the count to
        // reach zero (or one, when it runs inside one of our jobs).
        state.threads -= 1;
        self.all_exited.notify_all();
    }
}

/// Waits on `cv` until notified or `deadline`; true if the deadline passed.
#[cfg(not(loom))]
fn wait_until<T>(cv: &Condvar, guard: &mut MutexGuard<'_, T>, deadline: Instant) -> bool {
    cv.wait_until(guard, deadline).timed_out()
}

/// Under loom there is no clock: an untimed wait (the pool is not modelled).
#[cfg(loom)]
fn wait_until<T>(cv: &Condvar, guard: &mut MutexGuard<'_, T>, _deadline: Instant) -> bool {
    cv.wait(guard);
    false
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("BlockingPool")
            .field("max_threads", &self.shared.max_threads)
            .field("keep_alive", &self.shared.keep_alive)
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("queued", &state.queue.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

// The pool is not modelled under loom (no clock), so its tests use real threads only.
#[cfg(all(test, not(loom)))]
mod tests;

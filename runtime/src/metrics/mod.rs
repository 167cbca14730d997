//! Runtime metrics: what the scheduler has been doing, as a snapshot ([`RuntimeMetrics`]) that
//! [`Handle::metrics`](crate::Handle::metrics) takes on demand.
//!
//! Where each number comes from:
//! - **Per worker** (`stats.rs`): counters that only their own worker writes, each worker's on
//!   its own cache lines, bumped with a plain load and store (no read-modify-write, no line
//!   shared between workers). A snapshot reads them; it never stops a worker.
//! - **Queues**: the local deque and injector lengths are read from the queues themselves.
//! - **Elsewhere**: alive and spawned tasks from the owned-task list (counted under the shard
//!   lock a spawn takes anyway), blocking-pool threads and jobs under the pool's lock, pending
//!   timers under the wheel's lock, reactor turns and events by the one thread that turns it.
//!
//! # Timing, and why it is sampled
//!
//! A poll of a small task costs about 25 ns in spindle, and so does one read of the clock on
//! this kind of machine (see `docs/benchmarks.md`). Timing every poll would make the runtime
//! up to twice as slow on the smallest tasks, so spindle times a *sample* of them:
//!
//! - **Busy time** is exact: the worker reads the clock when it parks, when it wakes, and at
//!   each maintenance tick (every `event_interval` tasks), never per poll.
//! - **Poll duration and schedule latency** are recorded for about one queue entry in
//!   [`Builder::metrics_sample_period`](crate::Builder::metrics_sample_period) (default 1024). The
//!   choice is made where the entry is made (a spawn or a wake): that thread reads the clock
//!   and stamps the task; the worker that runs a stamped entry reads the clock before and after
//!   the poll. Unstamped entries cost one load and a branch. With a period of 1 every poll is
//!   timed, and the histograms' counts equal the poll count.
//!
//! Talks to: `executor` (owns the `WorkerStats`), `runtime::Handle` (stamps entries, builds the
//! snapshot), `coop` (polls cut short), `task` (the stamp lives in the task header).

mod histogram;
mod stats;

pub(crate) use stats::{
    now_ns, sample_remote, BusyClock, Sampler, SharedSampler, WorkerStats, TRACE_EVERY_ENTRY,
};

pub use crate::monitor::record::LongPoll;
pub use histogram::{Histogram, Scale};

use std::time::{Duration, Instant};

/// A snapshot of a runtime's metrics, from [`Handle::metrics`](crate::Handle::metrics).
///
/// Counters (`polls`, `steals`, ...) only grow: subtract two snapshots to get a rate. Gauges
/// (queue depths, threads, timers) are the value at the moment of the snapshot. Each number is
/// read on its own while the runtime keeps running, so the snapshot is not one instant's
/// consistent cut: two counters may be a few events apart.
///
/// ```
/// let rt = spindle::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     let tasks: Vec<_> = (0..10)
///         .map(|_| spindle::spawn(async { spindle::task::yield_now().await }))
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
/// });
/// let m = rt.handle().metrics();
/// assert_eq!(m.workers.len(), 1);
/// assert_eq!(m.total_polls(), 20); // each task: a first poll, and one after its yield
/// assert_eq!(m.spawned_tasks, 10);
/// assert_eq!(m.alive_tasks, 0);
/// println!("busy {:?}, p99 poll {:?}", m.workers[0].busy, m.poll_duration().quantile(0.99));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// When the snapshot was taken (to turn counter differences into rates).
    pub taken_at: Instant,
    /// One entry per worker thread (one for a current-thread runtime: the `block_on` thread).
    pub workers: Vec<WorkerMetrics>,
    /// Async tasks spawned and not yet finished (blocking closures are not tasks of this list).
    pub alive_tasks: usize,
    /// Async tasks spawned since the runtime started.
    pub spawned_tasks: u64,
    /// Tasks waiting in the global injector (spawned or woken from outside the workers).
    pub injector_depth: usize,
    /// Blocking-pool threads alive (running a closure or idle).
    pub blocking_threads: usize,
    /// Blocking-pool threads waiting for a closure.
    pub blocking_idle_threads: usize,
    /// Blocking closures waiting for a thread.
    pub blocking_queue_depth: usize,
    /// Timers (sleeps, timeouts, intervals) waiting to fire.
    pub pending_timers: usize,
    /// Times the reactor asked the OS for I/O events (`epoll_wait` calls).
    pub reactor_turns: u64,
    /// I/O events those turns delivered.
    pub reactor_events: u64,
    /// Sockets registered with the reactor now.
    pub registrations: usize,
    /// Long polls reported since the runtime started (see
    /// [`Builder::long_poll_threshold`](crate::Builder::long_poll_threshold)).
    pub long_polls: u64,
    /// The last 32 long polls reported, oldest first (empty with the detector off).
    pub recent_long_polls: Vec<LongPoll>,
}

impl RuntimeMetrics {
    /// Polls on every worker.
    pub fn total_polls(&self) -> u64 {
        self.workers.iter().map(|w| w.polls).sum()
    }

    /// Poll durations of every worker, merged.
    pub fn poll_duration(&self) -> Histogram {
        Histogram::merge(self.workers.iter().map(|w| &w.poll_duration))
    }

    /// Schedule latencies of every worker, merged.
    pub fn schedule_latency(&self) -> Histogram {
        Histogram::merge(self.workers.iter().map(|w| &w.schedule_latency))
    }
}

/// What one worker has done, from [`RuntimeMetrics::workers`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Queue entries run: task polls (plus the rare drop of a task cancelled while queued).
    pub polls: u64,
    /// Time spent not parked: running tasks, looking for them, turning the reactor when busy.
    /// Updated at each park and every `event_interval` tasks, so it lags by at most that.
    pub busy: Duration,
    /// Sleeps with a time limit: a worker that just ran out of work sleeps light a few
    /// times (1 ms each) and looks at its siblings' queues in between.
    pub parks_light: u64,
    /// Sleeps without a limit, until notified or woken by I/O or a timer.
    pub parks_deep: u64,
    /// Sleeps ended by another thread's notification (a push that wanted this worker).
    /// Always 0 for a current-thread runtime.
    pub unparks: u64,
    /// Successful steals from a sibling's local queue.
    pub steals: u64,
    /// Tasks those steals moved here (about half of the victim's queue each time).
    pub stolen_tasks: u64,
    /// Successful steals that siblings made from this worker's local queue (the other side of
    /// their `steals`: summed over the workers, the two are equal once no steal is under way).
    pub steals_out: u64,
    /// Tasks those steals took from here (the other side of `stolen_tasks`).
    pub stolen_out_tasks: u64,
    /// Tasks in this worker's local queue at the snapshot (the LIFO slot not counted).
    pub local_queue_depth: usize,
    /// Tasks run from the LIFO slot (woken by the task that ran just before).
    pub lifo_hits: u64,
    /// Tasks this worker queued on the global injector instead of its own queues. spindle's
    /// local queues are unbounded, so unlike tokio's 256-slot queues they never overflow;
    /// this counts only pushes made while the worker's queues were unavailable (shutdown).
    pub overflowed: u64,
    /// Polls that spent the whole cooperative budget and were made to yield.
    pub budget_exhausted: u64,
    /// What the worker was doing at the snapshot.
    pub state: WorkerState,
    /// Durations of the timed polls (see the module docs on sampling).
    pub poll_duration: Histogram,
    /// For the timed polls: from the wake (or spawn) to the start of the poll.
    pub schedule_latency: Histogram,
}

/// What a worker is doing, from [`WorkerMetrics::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WorkerState {
    /// Running tasks or looking for them.
    Busy = 0,
    /// Asleep for at most 1 ms, about to look around again.
    ParkedLight = 1,
    /// Asleep until there is work for it.
    ParkedDeep = 2,
}

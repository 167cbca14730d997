//! The live counters behind [`RuntimeMetrics`](super::RuntimeMetrics): one [`WorkerStats`] per
//! worker, written by that worker only, and the clock and sampling used to time polls.
//!
//! Invariants:
//! - INVARIANT (single writer): every field of a `WorkerStats` but `taken` (which thieves add
//!   to, see [`Taken`]) is written by its own worker thread only (the `block_on` thread for a current-thread runtime). So a counter is bumped
//!   with a Relaxed load and a Relaxed store, not a read-modify-write: no other thread can
//!   store in between, and a reader on another thread sees some recent value of each counter
//!   (counters are independent; a snapshot is not a consistent cut across them).
//! - INVARIANT (own line): each `WorkerStats` is aligned to 128 bytes (two cache lines, the
//!   unit the adjacent-line prefetcher pulls), so two workers never write the same line.
//!
//! The atomics are std's, not the loom shim's: no protocol rests on them (nothing is ever
//! decided by reading a counter), with one exception, the poll counter: the long-poll monitor
//! reads it with the worker's poll scope word to tell one poll from the next (`monitor/record.rs`,
//! `read_poll`, whose loom model runs over loom atomics in its place).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Histogram, Scale, WorkerMetrics, WorkerState};

/// A counter with one writer (see the module invariant).
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64) {
        // Relaxed load and store: we are the only writer (module INVARIANT), and readers pair
        // with nothing; they only want a recent value.
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Adds one.
    #[inline(always)]
    pub(crate) fn inc(&self) {
        self.add(1);
    }

    /// Adds one with a Release store (the poll counter: pairs with the long-poll monitor's
    /// Acquire load, `monitor/record.rs`). The same plain store as `inc` on x86.
    #[inline(always)]
    pub(crate) fn inc_release(&self) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }

    /// The counter's word, for the long-poll monitor to read (`RecordScope::enter`).
    pub(crate) fn word(&self) -> &AtomicU64 {
        &self.0
    }

    /// The current value (any thread).
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Number of histogram buckets (see [`Histogram`]).
pub(crate) const BUCKETS: usize = Histogram::BUCKETS;
/// Where the runtime's histogram buckets lie: `[0, 128 ns)`, then one per doubling up to
/// `2^32 ns` (about 4.3 s), then everything above.
const SCALE: Scale = Scale::FROM_128_NS;

/// The bucket a duration of `ns` nanoseconds falls in.
#[inline]
pub(crate) fn bucket_of(ns: u64) -> usize {
    SCALE.bucket_of(ns)
}

/// A log-bucket histogram of durations with one writer.
#[derive(Debug, Default)]
pub(crate) struct AtomicHistogram {
    /// Samples per bucket (see [`bucket_of`]).
    buckets: [Counter; BUCKETS],
    /// Sum of every sample, in nanoseconds.
    sum_ns: Counter,
}

impl AtomicHistogram {
    /// Records one sample. Only the owning worker may call this.
    #[inline]
    pub(crate) fn record(&self, ns: u64) {
        self.buckets[bucket_of(ns)].inc();
        self.sum_ns.add(ns);
    }

    /// A copy of the current counts.
    pub(crate) fn snapshot(&self) -> Histogram {
        Histogram::from_counts(
            SCALE,
            std::array::from_fn(|i| self.buckets[i].get()),
            Duration::from_nanos(self.sum_ns.get()),
        )
    }
}

/// The victim's side of the steals: counted by the thieves, on the victim's stats but on
/// cache lines of their own.
///
/// The exception to the module's single-writer invariant: any sibling that steals from this
/// worker adds here, so these are read-modify-write adds (`fetch_add`), exact even when two
/// thieves steal at once. They sit on their own 128 bytes so that a thief's add does not pull
/// the victim's own counters' line (written at every poll) away from it; the add happens once
/// per steal, which moves a batch of tasks and already touches the victim's deque.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Taken {
    /// Successful steals from this worker's deque.
    steals: AtomicU64,
    /// Tasks those steals moved.
    tasks: AtomicU64,
}

impl Taken {
    /// A sibling stole `tasks` tasks from this worker in one steal.
    #[inline]
    pub(crate) fn record(&self, tasks: u64) {
        // Relaxed: counters; nothing is published through them.
        self.steals.fetch_add(1, Ordering::Relaxed);
        self.tasks.fetch_add(tasks, Ordering::Relaxed);
    }
}

/// The counters of one worker. See the module invariants.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct WorkerStats {
    /// Queue entries run (a poll, or the drop of a task cancelled while queued), counted as
    /// each one starts (with a Release store: the long-poll monitor numbers polls by it).
    pub(crate) polls: Counter,
    /// Nanoseconds spent not parked, added at each park and each maintenance tick.
    pub(crate) busy_ns: Counter,
    /// Sleeps with a time limit (the first few after running out of work; `idle.rs`).
    pub(crate) parks_light: Counter,
    /// Sleeps without a limit.
    pub(crate) parks_deep: Counter,
    /// Sleeps ended by a notification from another thread (not a time-out or own I/O).
    pub(crate) unparks: Counter,
    /// Successful steals from a sibling's deque.
    pub(crate) steals: Counter,
    /// Tasks moved by those steals (the one run at once included).
    pub(crate) stolen: Counter,
    /// Tasks run from the LIFO slot.
    pub(crate) lifo_hits: Counter,
    /// Tasks this worker woke or spawned that went to the injector instead of its own queues.
    pub(crate) overflowed: Counter,
    /// Polls that ran out of cooperative budget (`coop.rs`).
    pub(crate) budget_exhausted: Counter,
    /// What the worker is doing: a [`WorkerState`] as a number.
    pub(crate) state: Counter,
    /// What siblings stole from this worker. The one part written by other threads (see
    /// [`Taken`]).
    pub(crate) taken: Taken,
    /// Duration of timed polls.
    pub(crate) poll_duration: AtomicHistogram,
    /// Wake (or spawn) to start of poll, for timed polls.
    pub(crate) schedule_latency: AtomicHistogram,
}

impl WorkerStats {
    /// Records the state the worker enters (it alone calls this).
    #[inline]
    pub(crate) fn set_state(&self, state: WorkerState) {
        // Relaxed: a gauge for observers; nothing is decided by it.
        self.state.0.store(state as u64, Ordering::Relaxed);
    }

    /// The state last recorded.
    pub(crate) fn state(&self) -> WorkerState {
        match self.state.get() {
            1 => WorkerState::ParkedLight,
            2 => WorkerState::ParkedDeep,
            _ => WorkerState::Busy,
        }
    }

    /// A snapshot, with the worker's local queue depth read by the caller.
    pub(crate) fn snapshot(&self, local_queue_depth: usize) -> WorkerMetrics {
        WorkerMetrics {
            polls: self.polls.get(),
            busy: Duration::from_nanos(self.busy_ns.get()),
            parks_light: self.parks_light.get(),
            parks_deep: self.parks_deep.get(),
            unparks: self.unparks.get(),
            steals: self.steals.get(),
            stolen_tasks: self.stolen.get(),
            // Relaxed: counters (see `Taken::record`).
            steals_out: self.taken.steals.load(Ordering::Relaxed),
            stolen_out_tasks: self.taken.tasks.load(Ordering::Relaxed),
            local_queue_depth,
            lifo_hits: self.lifo_hits.get(),
            overflowed: self.overflowed.get(),
            budget_exhausted: self.budget_exhausted.get(),
            state: self.state(),
            poll_duration: self.poll_duration.snapshot(),
            schedule_latency: self.schedule_latency.snapshot(),
        }
    }

    /// Runs one queue entry, counting it (see [`run_uncounted`](Self::run_uncounted)).
    #[inline]
    pub(crate) fn run<S: 'static>(&self, task: crate::task::Notified<S>) {
        // Counted before the poll: whoever sees the poll's effects (a task's output) also
        // sees it counted; and the long-poll monitor tells polls apart by it.
        self.polls.inc_release();
        self.run_uncounted(task);
    }

    /// Runs one queue entry, timing it if the entry was picked for timing when it was made
    /// (see [`Sampler`]); the caller counts the poll.
    #[inline]
    pub(crate) fn run_uncounted<S: 'static>(&self, task: crate::task::Notified<S>) {
        if task.is_stamped() {
            self.run_timed(task);
        } else {
            task.run();
        }
    }

    /// The rare half of [`run_uncounted`](Self::run_uncounted): a timed poll.
    #[cold]
    #[inline(never)]
    fn run_timed<S: 'static>(&self, task: crate::task::Notified<S>) {
        // While the runtime traces, every entry is stamped and comes here: trace the poll.
        if crate::trace::recording() {
            crate::trace::run(Some(self), task);
            return;
        }
        let start = now_ns();
        let queued_at = task.take_scheduled_at(start);
        task.run();
        let end = now_ns();
        self.schedule_latency
            .record(start.saturating_sub(queued_at));
        self.poll_duration.record(end.saturating_sub(start));
    }
}

/// Busy-time bookkeeping of one worker: when it last became busy.
#[derive(Debug)]
pub(crate) struct BusyClock {
    /// `now_ns()` when the current busy stretch began (or was last flushed).
    since: u64,
}

impl BusyClock {
    /// Starts a busy stretch now.
    pub(crate) fn start() -> BusyClock {
        BusyClock { since: now_ns() }
    }

    /// Adds the busy time so far to `stats` and starts counting again from now; also moves the
    /// thread's cut-short polls into `stats`. Called before a park and at maintenance ticks.
    pub(crate) fn flush(&mut self, stats: &WorkerStats) {
        let now = now_ns();
        stats.busy_ns.add(now.saturating_sub(self.since));
        self.since = now;
        let cut = crate::coop::take_cut_short();
        if cut != 0 {
            stats.budget_exhausted.add(cut);
        }
    }

    /// Starts a new busy stretch (after a park).
    pub(crate) fn restart(&mut self) {
        self.since = now_ns();
    }
}

/// Monotonic nanoseconds (CLOCK_MONOTONIC, the clock behind `Instant`). Never 0 on a running
/// system, which lets 0 mean "not stamped".
#[inline]
pub(crate) fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
        .max(1)
}

/// Picks which queue entries are timed: about one in `period`, at random.
///
/// Each queue keeps one where it is already written under its owner's exclusive access (the
/// current-thread queue's lock, a worker's core), so that deciding costs a decrement and a
/// branch on data the push touches anyway; pushes from elsewhere use a thread-local one
/// ([`sample_remote`]).
#[derive(Debug)]
pub(crate) struct Sampler {
    /// Entries still to make before the next timed one.
    countdown: u32,
    /// xorshift state for the countdown's random reload. INVARIANT: never zero.
    rng: u32,
}

impl Sampler {
    /// A sampler whose first entry is timed (so that a period of 1 times every entry).
    pub(crate) const fn new() -> Sampler {
        Sampler {
            countdown: 1,
            rng: 0x9E37_79B9,
        }
    }

    /// Whether the entry being made now is timed; if so, stamps it with the time. `period`
    /// gives the runtime's sampling period (`Builder::metrics_sample_period`); it is read only
    /// when an entry is timed.
    #[inline(always)]
    pub(crate) fn sample<S: 'static>(
        &mut self,
        task: &crate::task::Notified<S>,
        period: impl FnOnce() -> u32,
    ) {
        if self.tick() {
            self.stamp(task, period);
        }
    }

    /// Counts one entry; true when it is the one to time (then [`reload`](Self::reload)).
    #[inline(always)]
    fn tick(&mut self) -> bool {
        self.countdown -= 1;
        self.countdown == 0
    }

    /// The rare half of [`sample`](Self::sample): reload the countdown, stamp the entry.
    #[cold]
    #[inline(never)]
    fn stamp<S: 'static>(&mut self, task: &crate::task::Notified<S>, period: impl FnOnce() -> u32) {
        let period = period();
        self.reload(period);
        stamp_entry(task, period);
    }

    /// Reloads the countdown with a random value in `1..2 * period` (1 or 0: every entry), so that
    /// on average one entry in `period` is timed and a workload with a period of its own
    /// cannot line up with it.
    fn reload(&mut self, period: u32) {
        self.countdown = if period <= 1 {
            1
        } else {
            let mut x = self.rng;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.rng = x;
            1 + x % (2 * period - 1)
        };
    }
}

impl Default for Sampler {
    fn default() -> Sampler {
        Sampler::new()
    }
}

/// A [`Sampler`] that any thread may use without a lock (the current-thread runtime's queue,
/// which any thread pushes onto): the countdown is read and written with plain loads and
/// stores, so two threads pushing at once may lose a decrement or both time their entries.
/// That only nudges the sampling rate; it never times an entry that was not stamped.
#[derive(Debug)]
pub(crate) struct SharedSampler {
    /// Entries still to make before the next timed one; at or below 0: time this one.
    countdown: std::sync::atomic::AtomicI32,
    /// xorshift state for the reload (see [`Sampler::reload`]). INVARIANT: never zero.
    rng: std::sync::atomic::AtomicU32,
}

impl SharedSampler {
    /// A sampler whose first entry is timed.
    pub(crate) const fn new() -> SharedSampler {
        SharedSampler {
            countdown: std::sync::atomic::AtomicI32::new(1),
            rng: std::sync::atomic::AtomicU32::new(0x9E37_79B9),
        }
    }

    /// [`Sampler::sample`], without a lock.
    #[inline(always)]
    pub(crate) fn sample<S: 'static>(
        &self,
        task: &crate::task::Notified<S>,
        period: impl FnOnce() -> u32,
    ) {
        // Relaxed loads and stores: a sampling decision, nothing is published through it.
        let left = self.countdown.load(Ordering::Relaxed).wrapping_sub(1);
        self.countdown.store(left, Ordering::Relaxed);
        if left <= 0 {
            self.stamp(task, period);
        }
    }

    /// The rare half of [`sample`](Self::sample).
    #[cold]
    #[inline(never)]
    fn stamp<S: 'static>(&self, task: &crate::task::Notified<S>, period: impl FnOnce() -> u32) {
        let mut sampler = Sampler {
            countdown: 0,
            rng: self.rng.load(Ordering::Relaxed),
        };
        let period = period();
        sampler.reload(period);
        self.rng.store(sampler.rng, Ordering::Relaxed);
        self.countdown
            .store(sampler.countdown as i32, Ordering::Relaxed);
        stamp_entry(task, period);
    }
}

/// The sampling period of a runtime that records a scheduling trace: every entry is picked,
/// and stamped by the trace's wake hook, which records the wake and stamps the entry with the
/// time as a metrics sample would. So the trace costs the wake path nothing while it is off
/// (its branch is here, on the rare path), and while it is on every entry is timed.
pub(crate) const TRACE_EVERY_ENTRY: u32 = 0;

/// Stamps an entry picked for timing (through the trace when the runtime traces).
fn stamp_entry<S: 'static>(task: &crate::task::Notified<S>, period: u32) {
    if period == TRACE_EVERY_ENTRY {
        crate::trace::wake(task);
    } else {
        task.set_scheduled_at(now_ns());
    }
}

thread_local! {
    /// The sampler for entries this thread pushes onto a shared queue (the injector).
    static REMOTE: std::cell::RefCell<Sampler> = const { std::cell::RefCell::new(Sampler::new()) };
}

/// [`Sampler::sample`] for an entry pushed from outside the queue's owner (this thread's own
/// sampler).
///
/// The sampler is this thread's, shared by every runtime the thread pushes to, so its countdown
/// may have been set by a runtime with another period: the period is read first, and for a
/// traced runtime every entry is stamped whatever the countdown says (a worker traces exactly
/// the stamped entries' polls; see `WorkerStats::run_timed`).
pub(crate) fn sample_remote<S: 'static>(
    task: &crate::task::Notified<S>,
    period: impl FnOnce() -> u32,
) {
    let period = period();
    if period == TRACE_EVERY_ENTRY {
        stamp_entry(task, period);
        return;
    }
    REMOTE.with(|s| s.borrow_mut().sample(task, || period));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_every_entry_and_on_average() {
        let count = |period, n| {
            let mut sampler = Sampler::new();
            (0..n)
                .filter(|_| {
                    let timed = sampler.tick();
                    if timed {
                        sampler.reload(period);
                    }
                    timed
                })
                .count()
        };
        assert_eq!(count(1, 100), 100);
        let timed = count(64, 64_000);
        assert!(
            (700..1_300).contains(&timed),
            "{timed} of 64,000 timed at 1/64"
        );
    }
}

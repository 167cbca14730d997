//! The long-poll detector: a monitor thread that notices a worker stuck inside one poll (a
//! blocking call in an async task, `time.sleep` inside `async def`) and says which task it is.
//!
//! An async runtime only works if every poll is short: a worker that sleeps, spins or waits on a
//! lock inside a poll cannot run the other tasks of its queues, nor the reactor. Nothing stops a
//! task from doing it, so the runtime at least *notices*: the idea of Go's `sysmon`, a thread
//! of the runtime that wakes now and then and looks at what every worker is doing.
//!
//! # The record
//!
//! Each worker publishes what it is polling now in its own [`PollRecord`]:
//!
//! - `seq`, a counter bumped at the start and at the end of every poll: odd while inside a
//!   poll, and a different number for every poll;
//! - the task's id, its spawn site (a `&'static Location`) and the route label set with
//!   [`set_route`]; all plain data or `'static` references.
//!
//! A poll costs the worker three stores at its start (id, spawn site, seq) and, at its end, one store
//! and one load (the monitor's flag, on the record's own cache line); no clock is read. The monitor compares `seq` between its looks: a worker showing the same odd `seq` for
//! longer than the threshold is stuck in one poll.
//!
//! **Why the record holds no pointer to the task.** The task may complete, and its cell and name
//! be freed, the instant its poll returns, while the monitor is reading the record on another
//! thread. So the monitor never dereferences anything of the task's: it reads the id and the
//! site, which are plain values, with a seqlock-style check (read `seq`, the fields, `seq`
//! again; equal and odd means the fields belong to that poll). The *name* lives in the task's
//! heap cell, so named tasks also lend it to a registry keyed by id (`task/names.rs`), touched
//! only at the spawn and the drop of a named task; the monitor looks the id up there, and finds
//! nothing if the task is already gone. (The alternative, letting the worker print the name
//! when the long poll returns, would delay the name until the poll ends, which for a task
//! stuck for good is never.)
//!
//! **The route** is kept in the record with the number of the poll during which [`set_route`]
//! was called, and the monitor shows it only for that poll: it lasts until the end of that
//! poll, and the worker does nothing about it when a poll ends. It therefore names the route of
//! a handler whose *own* poll blocks (the common `time.sleep` inside `async def` case), but not
//! one that blocks in a later poll after an `.await` returned `Pending`; following the label
//! across polls would need a field in every task's header, read at every poll start, for a
//! label only HTTP connection tasks carry.
//!
//! # The monitor
//!
//! One thread per runtime (`spindle-monitor`), started by the builder unless
//! [`Builder::long_poll_threshold`](crate::Builder::long_poll_threshold) is `None`, and joined
//! at shutdown. Every `threshold / 2` it looks at each record. A poll first seen at one look and
//! still there `threshold` later is reported, once (time the OS kept the worker thread waiting
//! for a CPU does not count: a thread that is runnable but not running is not blocked by its
//! task; see [`counted`]):
//!
//! 1. a [`LongPoll`] goes into the runtime's list of recent reports
//!    ([`RuntimeMetrics::recent_long_polls`](crate::metrics::RuntimeMetrics::recent_long_polls)),
//!    the `long_polls` counter grows, and a [`Kind::LongPoll`] report goes to the hook;
//! 2. the monitor sets the record's `flagged` word to that poll's `seq`;
//! 3. when the poll returns, its worker sees the flag, reads the clock once, and reports the
//!    poll's total duration. If the poll returned just as it was flagged and its worker missed
//!    the flag, the monitor's next look finds the poll over and reports the total itself; a
//!    compare-and-swap on `flagged` decides which of the two does it, so it is done once.
//!
//! Durations are measured from the monitor's last look *before* the poll (a look that saw the
//! worker elsewhere): the poll began after that, so `so_far` and `total` never under-state it,
//! and over-state it by at most the gap between two looks: `threshold / 2` when the monitor
//! thread runs on time, more when a busy machine delays it (the demo on a loaded 2-core
//! machine once reported a 200 ms sleep as 224.7 ms). The poll is only reported when it has
//! surely run for the threshold (counted from the first look that saw it).
//!
//! With hand-off on, the monitor then also gets the stuck worker's queued tasks run elsewhere
//! (`executor/multi_thread.rs`, `MultiThread::hand_off`).
//!
//! Talks to: `executor` (each worker writes its record around each poll; the monitor wakes
//! siblings for hand-off), `task::names` (names by id), `report` (the hook), `metrics` (the
//! counter and the list of recent reports).

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::ptr;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::executor::Scheduler;
use crate::loom::{fence, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use crate::report::{Kind, Report};
use crate::runtime::Handle;
use crate::task::{Id, Meta, Notified};

/// The default of [`Builder::long_poll_threshold`](crate::Builder::long_poll_threshold).
pub const DEFAULT_LONG_POLL_THRESHOLD: Duration = Duration::from_millis(10);

/// How many reports the runtime keeps for [`RuntimeMetrics::recent_long_polls`](crate::metrics::RuntimeMetrics::recent_long_polls).
pub(crate) const RECENT_LONG_POLLS: usize = 32;

/// One long poll: a task that kept its worker inside one poll for longer than the threshold.
///
/// Found in [`RuntimeMetrics::recent_long_polls`](crate::metrics::RuntimeMetrics::recent_long_polls)
/// (the last 32, oldest first) and, as a line of text, in the [`Kind::LongPoll`] reports.
/// `Display` writes the line the reports carry.
///
/// ```
/// use std::time::Duration;
///
/// let rt = spindle::Builder::new_current_thread()
///     .long_poll_threshold(Some(Duration::from_millis(5)))
///     .build()
///     .unwrap();
/// rt.block_on(async {
///     spindle::task::Builder::new()
///         .name("sleepy")
///         .spawn(async { std::thread::sleep(Duration::from_millis(100)) }) // blocks the thread!
///         .unwrap()
///         .await
///         .unwrap();
/// });
/// let polls = rt.handle().metrics().recent_long_polls;
/// assert_eq!(polls.len(), 1);
/// assert_eq!(polls[0].name.as_deref(), Some("sleepy"));
/// assert!(polls[0].so_far >= Duration::from_millis(5));
/// println!("{}", polls[0]); // task 3 "sleepy" (spawned at ...) on worker 0: ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LongPoll {
    /// The task that was being polled.
    pub task_id: Id,
    /// Its name (`task::Builder::name`), if it has one and was still alive when reported.
    pub name: Option<String>,
    /// Where it was spawned.
    pub spawn_site: &'static Location<'static>,
    /// What it was doing, if it said so with [`set_route`] during that poll.
    pub route: Option<&'static str>,
    /// The worker it was blocking (`RuntimeMetrics::workers` index; 0 for a current-thread runtime).
    pub worker: usize,
    /// When the monitor reported it (wall clock, for display).
    pub detected_at: SystemTime,
    /// How long the poll had run when it was reported: at least the threshold; never less than
    /// the truth, and more by at most the gap between two of the monitor's looks
    /// (`threshold / 2`, unless the OS delays the monitor thread).
    pub so_far: Duration,
    /// The poll's whole duration, once it returned (`None` while it is still running); like
    /// `so_far`, never less than the truth and more by at most the gap between two looks.
    pub total: Option<Duration>,
}

impl fmt::Display for LongPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.task_id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " (spawned at {}", self.spawn_site)?;
        if let Some(route) = self.route {
            write!(f, ", route {route}")?;
        }
        write!(f, ") on worker {}: ", self.worker)?;
        match self.total {
            None => write!(
                f,
                "one poll has run for {:.1} ms so far (a blocking call in async code?)",
                ms(self.so_far)
            ),
            Some(total) => write!(f, "the long poll returned after {:.1} ms", ms(total)),
        }
    }
}

/// A duration in milliseconds, for messages.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// What one worker is polling now: written by that worker around every poll, read by the monitor.
///
/// A seqlock keyed by the poll: `task` and `site` are written while `seq` is even (between
/// polls), then `seq` is made odd. The route has its own version counter, `route_ver`, because
/// [`set_route`] changes it in the middle of a poll.
///
/// INVARIANT (single writer): every field but `flagged` is written only by the record's worker
/// thread; `flagged` is set only by the monitor and cleared by whoever claims the completion.
/// Aligned to 128 bytes so that two workers' records never share a cache line.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct PollRecord {
    /// Bumped at the start and at the end of each poll: odd while inside one.
    seq: AtomicU64,
    /// The polled task's id as its scope word (`Id::scope`), valid while `seq` is odd.
    task: AtomicU64,
    /// The polled task's `Meta` word, valid while `seq` is odd: for an unnamed task its spawn
    /// site, a `&'static Location`; for a named task a pointer into the task's heap cell that
    /// is never dereferenced here (decoded by `Meta::static_site`).
    meta: AtomicPtr<()>,
    /// Version of `route_ptr` / `route_len`: odd while [`set_route`] writes them.
    route_ver: AtomicU64,
    /// The route's bytes; null for none. INVARIANT: with `route_len`, a `&'static str` whenever
    /// `route_ver` is even and unchanged across the reads.
    route_ptr: AtomicPtr<u8>,
    /// The route's length.
    route_len: AtomicUsize,
    /// The `seq` of the poll that set the route: the route belongs to that poll only.
    route_seq: AtomicU64,
    /// The `seq` of the poll the monitor reported and whose end is not yet reported; 0 for none.
    flagged: AtomicU64,
    /// The OS thread id of the worker (0: unknown), to read how long the OS kept it waiting
    /// for a CPU (see `run_queue_wait`). Not part of the record's protocol: a plain value, set
    /// when a thread starts working with this record.
    tid: std::sync::atomic::AtomicI32,
}

/// A consistent view of a record: the poll under way, as the monitor read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The poll's number (odd).
    pub(crate) seq: u64,
    /// The task's id as its scope word (`Id::scope`).
    pub(crate) task: u64,
    /// Where the task was spawned, if the record says so by itself (an unnamed task; a named
    /// task's site is in the name registry).
    pub(crate) site: Option<&'static Location<'static>>,
    /// The route label, if one was set during this poll.
    pub(crate) route: Option<&'static str>,
}

impl PollRecord {
    pub(crate) fn new() -> PollRecord {
        PollRecord {
            seq: AtomicU64::new(0),
            task: AtomicU64::new(0),
            meta: AtomicPtr::new(ptr::null_mut()),
            route_ver: AtomicU64::new(0),
            route_ptr: AtomicPtr::new(ptr::null_mut()),
            route_len: AtomicUsize::new(0),
            route_seq: AtomicU64::new(0),
            flagged: AtomicU64::new(0),
            tid: std::sync::atomic::AtomicI32::new(0),
        }
    }

    /// Worker: a poll of task `task`, whose `Meta` word is `meta`, begins. Returns the poll's number.
    #[inline(always)]
    pub(crate) fn enter(&self, task: Id, meta: *mut ()) -> u64 {
        // Release stores: a reader that sees one of these values and then (after its Acquire
        // fence) reloads `seq` sees at least the even `seq` stored before them, so it cannot
        // take this poll's task for the previous poll's (see `snapshot`). Plain stores on x86.
        self.task.store(task.scope(), Ordering::Release);
        self.meta.store(meta, Ordering::Release);
        // Load and store, not an add: this thread is the only writer (INVARIANT).
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        // Release: pairs with the Acquire load in `snapshot`, publishing `task` and `site`.
        self.seq.store(seq, Ordering::Release);
        seq
    }

    /// Worker: poll `seq` returned. True if the monitor had reported it and reporting its
    /// end now falls to the caller.
    #[inline(always)]
    pub(crate) fn leave(&self, seq: u64) -> bool {
        // Release: a reader that sees the next poll's fields after this also sees this store.
        self.seq.store(seq + 1, Ordering::Release);
        // Relaxed: a hint; `claim` decides with a compare-and-swap (which also acquires).
        self.flagged.load(Ordering::Relaxed) == seq && self.claim(seq)
    }

    /// Takes the duty of reporting the end of flagged poll `seq` (the worker at the end of the
    /// poll, or the monitor when it finds the poll over and the flag still set). Exactly one
    /// caller succeeds per flagged poll.
    #[cold]
    pub(crate) fn claim(&self, seq: u64) -> bool {
        // AcqRel on success: Acquire pairs with the Release store in `flag`, so the claimer
        // sees what the monitor recorded before flagging.
        self.flagged
            .compare_exchange(seq, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Monitor: marks poll `seq` as reported, so that its end gets reported too.
    pub(crate) fn flag(&self, seq: u64) {
        // Release: pairs with the AcqRel `claim`; everything recorded before is visible to it.
        self.flagged.store(seq, Ordering::Release);
    }

    /// Monitor: whether poll `seq` is over.
    pub(crate) fn is_over(&self, seq: u64) -> bool {
        // Acquire: pairs with the Release stores of `seq` (a value read is a published one).
        self.seq.load(Ordering::Acquire) != seq
    }

    /// Worker: sets the route label of the current poll, `seq` (see [`set_route`]).
    pub(crate) fn write_route(&self, route: Option<&'static str>, seq: u64) {
        let (ptr, len) = route.map_or((ptr::null_mut(), 0), |r| (r.as_ptr().cast_mut(), r.len()));
        let ver = self.route_ver.load(Ordering::Relaxed);
        // The seqlock write: odd version, a Release fence (so that a reader who sees any of the
        // new values, then fences, sees the odd version), the values, then the even version
        // with Release (pairs with the reader's Acquire load of the version).
        self.route_ver.store(ver + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.route_ptr.store(ptr, Ordering::Relaxed);
        self.route_len.store(len, Ordering::Relaxed);
        self.route_seq.store(seq, Ordering::Relaxed);
        self.route_ver.store(ver + 2, Ordering::Release);
    }

    /// The current poll's number if a poll is under way (a worker asking about its own record).
    fn current_poll(&self) -> Option<u64> {
        // Relaxed: this thread is the writer of `seq`.
        let seq = self.seq.load(Ordering::Relaxed);
        (seq & 1 == 1).then_some(seq)
    }

    /// Any thread: the route label and the poll that set it, or `None` if a write was under
    /// way (try again).
    fn read_route(&self) -> Option<(Option<&'static str>, u64)> {
        // Acquire: pairs with the final Release store of `write_route`.
        let ver = self.route_ver.load(Ordering::Acquire);
        if ver & 1 == 1 {
            return None;
        }
        let ptr = self.route_ptr.load(Ordering::Relaxed);
        let len = self.route_len.load(Ordering::Relaxed);
        let seq = self.route_seq.load(Ordering::Relaxed);
        // Acquire fence: pairs with the writer's Release fence, so if either value came from a
        // newer write, the version read below is that write's odd (or later) one.
        fence(Ordering::Acquire);
        if self.route_ver.load(Ordering::Relaxed) != ver {
            return None;
        }
        if ptr.is_null() {
            return Some((None, seq));
        }
        // SAFETY: the version was even and unchanged around the reads, so `ptr` and `len` come
        // from one `write_route` call, that is from one `&'static str` (field INVARIANT).
        let route = unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) };
        Some((Some(route), seq))
    }

    /// Monitor: the poll under way, read consistently; `None` between polls, or if the worker
    /// moved on while we read.
    pub(crate) fn snapshot(&self) -> Option<Snapshot> {
        // Acquire: pairs with `enter`'s Release store of `seq`, so `task` and `site` are at
        // least this poll's.
        let seq = self.seq.load(Ordering::Acquire);
        if seq & 1 == 0 {
            return None;
        }
        let task = self.task.load(Ordering::Relaxed);
        let meta = self.meta.load(Ordering::Relaxed);
        // A route being rewritten this very moment: look again (bounded; the label is optional).
        // A route set by an earlier poll is not this poll's.
        let route = (0..4)
            .find_map(|_| self.read_route())
            .and_then(|(route, set_by)| route.filter(|_| set_by == seq));
        // Acquire fence: pairs with the Release stores of a later `enter`; if `task` or `site`
        // came from a later poll, the reload below sees that `seq` has moved.
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != seq {
            return None;
        }
        let site = Meta::static_site(meta);
        Some(Snapshot {
            seq,
            task,
            site,
            route,
        })
    }
}

thread_local! {
    /// The record of the worker running on this thread, while it runs with the detector on;
    /// null elsewhere. [`set_route`] writes through it.
    static RECORD: Cell<*const PollRecord> = const { Cell::new(ptr::null()) };
}

/// Points [`RECORD`] at a worker's record until dropped (then restores the previous value).
pub(crate) struct RecordScope {
    /// What `RECORD` held before.
    prev: *const PollRecord,
}

impl RecordScope {
    /// Makes `record` this thread's record. The caller keeps `record` alive until the scope
    /// is dropped (it lives in the runtime's shared state, which the worker keeps alive).
    pub(crate) fn enter(record: Option<&PollRecord>) -> RecordScope {
        if let Some(record) = record {
            // Relaxed: a plain value the monitor reads now and then (see the field's docs).
            record
                .tid
                .store(current_tid(), std::sync::atomic::Ordering::Relaxed);
        }
        let ptr = record.map_or(ptr::null(), ptr::from_ref);
        RecordScope {
            prev: RECORD.with(|r| r.replace(ptr)),
        }
    }
}

impl Drop for RecordScope {
    fn drop(&mut self) {
        RECORD.with(|r| r.set(self.prev));
    }
}

/// Labels what the current task is doing, for long-poll reports (and clears it with `None`).
///
/// The HTTP server calls it with the matched route template (`"GET /users/{id}"`) before it
/// runs a handler, and with `None` after, so that a report about a handler that blocks its
/// worker names the route. The label lasts until the end of the current poll (the worker
/// record ties it to that poll), so it names a poll that blocks right in the handler's own
/// code; see the module docs of `monitor.rs` for why it does not follow the task across polls.
///
/// A no-op outside a task polled by a runtime worker (a blocking-pool thread, `block_on`'s own
/// future), and when the runtime's detector is off. Cheap: a thread-local read and six stores.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     spindle::spawn(async {
///         spindle::task::set_route(Some("GET /report"));
///         // ... the handler's work ...
///         spindle::task::set_route(None);
///     })
///     .await
///     .unwrap();
/// });
/// ```
pub fn set_route(route: Option<&'static str>) {
    let record = RECORD.with(Cell::get);
    if record.is_null() {
        return;
    }
    // SAFETY: a non-null RECORD points at this thread's worker record, alive while the
    // `RecordScope` that set it exists (see `RecordScope::enter`).
    let record = unsafe { &*record };
    if let Some(seq) = record.current_poll() {
        record.write_route(route, seq);
    }
}

impl PollRecord {
    /// Worker: a poll of `task` begins; returns its number for [`poll_ended`](Self::poll_ended).
    #[inline(always)]
    pub(crate) fn poll_started<S: 'static>(&self, task: &Notified<S>) -> u64 {
        let (id, meta) = task.id_and_meta();
        self.enter(id, meta)
    }

    /// Worker: poll `seq` returned; if the monitor reported it, report its end (`detector` is
    /// this record's runtime's, `worker` its index there).
    #[inline(always)]
    pub(crate) fn poll_ended(&self, seq: u64, detector: &Detector, worker: usize) {
        if self.leave(seq) {
            detector.complete(worker, seq, Instant::now());
        }
    }
}

/// A reported poll whose report is kept.
#[derive(Debug)]
struct Incident {
    /// The poll's number in its worker's record.
    seq: u64,
    /// The start bound of the poll (the monitor's last look before it).
    start: Instant,
    /// What is reported.
    report: LongPoll,
}

/// The detector of one runtime: the workers' records, the recent reports, and how the
/// monitor thread is stopped.
#[derive(Debug)]
pub(crate) struct Detector {
    /// One record per worker (one for a current-thread runtime).
    records: Box<[PollRecord]>,
    /// `Builder::long_poll_threshold`; `None`: no monitor, and the workers write no record.
    threshold: Option<Duration>,
    /// The last [`RECENT_LONG_POLLS`] reports, oldest first.
    recent: Mutex<VecDeque<Incident>>,
    /// Long polls reported since the runtime started.
    count: std::sync::atomic::AtomicU64,
    /// Set when the runtime shuts down; the monitor leaves its loop.
    stop: Mutex<bool>,
    /// Wakes the monitor early for shutdown.
    stop_cv: Condvar,
}

impl Detector {
    pub(crate) fn new(workers: usize, threshold: Option<Duration>) -> Detector {
        Detector {
            records: (0..workers).map(|_| PollRecord::new()).collect(),
            threshold: threshold.filter(|t| !t.is_zero()),
            recent: Mutex::new(VecDeque::new()),
            count: std::sync::atomic::AtomicU64::new(0),
            stop: Mutex::new(false),
            stop_cv: Condvar::new(),
        }
    }

    /// The record worker `worker` writes around its polls; `None` when the detector is off.
    pub(crate) fn watch(&self, worker: usize) -> Option<&PollRecord> {
        self.threshold?;
        Some(&self.records[worker])
    }

    /// Whether a monitor thread should run.
    pub(crate) fn threshold(&self) -> Option<Duration> {
        self.threshold
    }

    /// Long polls reported so far.
    pub(crate) fn count(&self) -> u64 {
        // Relaxed: a counter; nothing is published through it.
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The recent reports, oldest first.
    pub(crate) fn recent(&self) -> Vec<LongPoll> {
        self.lock_recent()
            .iter()
            .map(|i| i.report.clone())
            .collect()
    }

    fn lock_recent(&self) -> std::sync::MutexGuard<'_, VecDeque<Incident>> {
        // Poisoning cannot leave the deque half-changed: each update is one call on it.
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the monitor thread to leave (runtime shutdown).
    pub(crate) fn stop(&self) {
        *self.stop.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.stop_cv.notify_all();
    }

    /// Sleeps up to `period`; false once the runtime is shutting down.
    fn sleep(&self, period: Duration) -> bool {
        let guard = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .stop_cv
            .wait_timeout_while(guard, period, |stop| !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        !*guard
    }

    /// Records and reports a newly found long poll.
    fn report(&self, incident: Incident) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::report::emit(&Report::new(
            Kind::LongPoll,
            "spindle::runtime",
            format_args!("{}", incident.report),
        ));
        let mut recent = self.lock_recent();
        if recent.len() == RECENT_LONG_POLLS {
            recent.pop_front();
        }
        recent.push_back(incident);
    }

    /// Reports the end of flagged poll `seq` of `worker`, which returned at (or before) `end`.
    /// Called by whoever won [`PollRecord::claim`].
    #[cold]
    #[inline(never)]
    fn complete(&self, worker: usize, seq: u64, end: Instant) {
        let done = {
            let mut recent = self.lock_recent();
            recent
                .iter_mut()
                .rev()
                .find(|i| i.report.worker == worker && i.seq == seq)
                .map(|i| {
                    i.report.total = Some(end.saturating_duration_since(i.start));
                    i.report.clone()
                })
        };
        // (Not found: 32 newer reports pushed it out of the list; its first report stands.)
        if let Some(report) = done {
            crate::report::emit(&Report::new(
                Kind::LongPoll,
                "spindle::runtime",
                format_args!("{report}"),
            ));
        }
    }
}

/// What the monitor remembers about one worker between looks.
#[derive(Debug)]
struct Look {
    /// The poll seen at the last look (0: none).
    seq: u64,
    /// When the monitor first saw that poll.
    first_seen: Instant,
    /// The start bound of that poll: the look before `first_seen`.
    start: Instant,
    /// Whether that poll was reported.
    reported: bool,
    /// A reported poll whose end is not yet reported.
    open: Option<u64>,
    /// When the last look began.
    last: Instant,
    /// From the second look at the same poll on: when that look was, and how long the OS had
    /// kept the worker thread waiting for a CPU by then (see `run_queue_wait`).
    waited_base: Option<(Instant, Duration)>,
}

/// This thread's OS id (0 under Miri, which has no such thing to give).
fn current_tid() -> i32 {
    #[cfg(not(miri))]
    {
        // SAFETY: `gettid` has no preconditions and cannot fail.
        unsafe { libc::gettid() }
    }
    #[cfg(miri)]
    {
        0
    }
}

/// How long thread `tid` of this process has waited on the OS's run queue (runnable but not
/// running) since it started: the second field of `/proc/self/task/TID/schedstat`. `None`
/// when unknown (no tid, no schedstat in this kernel).
fn run_queue_wait(tid: i32) -> Option<Duration> {
    if tid == 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let ns = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// How much of poll `look` counts toward the threshold at `now`: its time since the first look
/// that saw it, less the time the OS kept the worker waiting for a CPU. A worker that is
/// runnable but not running is not being blocked by its task: on an overloaded machine the OS
/// may keep a thread off the CPU for tens of milliseconds in the middle of a short poll, and
/// that is not the task's fault. The wait is read only once a poll is seen twice (a file read
/// per look at every busy worker would cost more than the rest of the monitor), so the time
/// before that second look counts at most one monitor period.
fn counted(look: &mut Look, now: Instant, period: Duration, tid: i32) -> Duration {
    let Some(waited) = run_queue_wait(tid) else {
        return now.duration_since(look.first_seen);
    };
    let (second_look, waited_then) = *look.waited_base.get_or_insert((now, waited));
    let before = second_look.duration_since(look.first_seen).min(period);
    let since = now
        .duration_since(second_look)
        .saturating_sub(waited.saturating_sub(waited_then));
    before + since
}

/// Starts the monitor thread of a freshly built runtime, if its detector is on.
pub(crate) fn start(handle: &Handle) -> std::io::Result<Option<std::thread::JoinHandle<()>>> {
    if handle.inner.sched.detector().threshold().is_none() {
        return Ok(None);
    }
    let handle = handle.clone();
    // Before any task can be polled (nobody can spawn before `build` returns): the start
    // bound of the polls the monitor's first look finds, however late its thread gets going.
    let started = Instant::now();
    std::thread::Builder::new()
        .name("spindle-monitor".into())
        .spawn(move || run(handle, started))
        .map(Some)
}

/// The monitor thread's loop.
///
/// Every `threshold / 2`, for each worker:
/// 1. If a reported poll has ended and its worker has not claimed its completion, report it.
/// 2. Read the record. A poll not seen before: remember when, and the start bound.
/// 3. The same poll, which has now counted `threshold` (see [`counted`]) and was not yet
///    reported: report it, flag it, and (hand-off
///    on) have the worker's queued tasks run elsewhere.
fn run(handle: Handle, started: Instant) {
    let detector = handle.inner.sched.detector();
    let Some(threshold) = detector.threshold() else {
        return;
    };
    let period = (threshold / 2).max(Duration::from_micros(100));
    let now = started;
    let mut looks: Vec<Look> = (0..detector.records.len())
        .map(|_| Look {
            seq: 0,
            first_seen: now,
            start: now,
            reported: false,
            open: None,
            last: now,
            waited_base: None,
        })
        .collect();
    while detector.sleep(period) {
        for (worker, look) in looks.iter_mut().enumerate() {
            let record = &detector.records[worker];
            // Taken before the record is read: a poll not seen now began after this instant.
            let now = Instant::now();
            // 1.
            if let Some(seq) = look.open {
                if record.is_over(seq) {
                    if record.claim(seq) {
                        // Read after the poll was seen over: never before its end.
                        detector.complete(worker, seq, Instant::now());
                    }
                    look.open = None;
                }
            }
            // 2.
            match record.snapshot() {
                Some(snap) if snap.seq == look.seq => {
                    // 3.
                    let tid = record.tid.load(std::sync::atomic::Ordering::Relaxed);
                    if !look.reported && counted(look, now, period, tid) >= threshold {
                        look.reported = true;
                        found(&handle, worker, snap, look, now);
                    }
                }
                Some(snap) => {
                    look.seq = snap.seq;
                    look.first_seen = now;
                    look.start = look.last;
                    look.reported = false;
                    look.waited_base = None;
                }
                None => look.seq = 0,
            }
            look.last = now;
        }
    }
}

/// Step 3 of the monitor loop: report the poll, flag it, hand off.
fn found(handle: &Handle, worker: usize, snap: Snapshot, look: &mut Look, now: Instant) {
    let detector = handle.inner.sched.detector();
    let Some(task_id) = Id::from_scope(snap.task) else {
        return;
    };
    // A named task's name and site are in the registry, for as long as the task lives.
    let named = crate::task::names::name_of(task_id.as_u64());
    let Some(spawn_site) = snap.site.or(named.as_ref().map(|n| n.1)) else {
        return; // a named task that completed since the snapshot: its poll is over anyway
    };
    detector.report(Incident {
        seq: snap.seq,
        start: look.start,
        report: LongPoll {
            task_id,
            name: named.map(|n| n.0.to_string()),
            spawn_site,
            route: snap.route,
            worker,
            detected_at: SystemTime::now(),
            so_far: now.duration_since(look.start),
            total: None,
        },
    });
    // After the report is stored, so that whoever claims the end finds it (see `flag`).
    detector.records[worker].flag(snap.seq);
    look.open = Some(snap.seq);
    if let Scheduler::MultiThread(mt) = &handle.inner.sched {
        mt.hand_off(worker, handle);
    }
}

/// An unnamed task's `Meta` word: its spawn site (for the tests and models).
#[cfg(test)]
fn word(site: &'static Location<'static>) -> *mut () {
    ptr::from_ref(site).cast_mut().cast()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The record's protocol on one thread: numbers, snapshots between and inside polls, the
    /// route's lifetime, and the claim that only one party wins.
    #[test]
    fn record_round_trip() {
        let r = PollRecord::new();
        let site = Location::caller();
        assert_eq!(r.snapshot(), None);
        let id = Id::from_number(7).unwrap();
        let seq = r.enter(id, word(site));
        assert_eq!(seq, 1);
        r.write_route(Some("GET /x"), seq);
        let snap = r.snapshot().unwrap();
        assert_eq!(
            (snap.seq, Id::from_scope(snap.task), snap.route),
            (1, Some(id), Some("GET /x"))
        );
        assert!(ptr::eq(snap.site.unwrap(), site));
        assert!(!r.is_over(seq));
        r.flag(seq);
        assert!(r.leave(seq), "the worker claims the flagged poll's end");
        assert!(!r.claim(seq), "and the monitor then cannot");
        assert_eq!(r.snapshot(), None);
        let next = r.enter(Id::from_number(8).unwrap(), word(site));
        assert_eq!(next, 3);
        assert_eq!(
            r.snapshot().unwrap().route,
            None,
            "the route ended with its poll"
        );
        assert!(!r.leave(next), "not flagged");
    }
}

/// loom models of the record: the monitor never pairs one poll's number with another poll's
/// task, never sees a torn route, and the end of a flagged poll is claimed exactly once,
/// whichever way the worker's `leave` and the monitor's `flag` interleave. Run with
/// `scripts/loom.sh`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::Arc;
    use loom::thread;

    /// Two sites, to tell the polls apart.
    fn sites() -> [&'static Location<'static>; 2] {
        [Location::caller(), Location::caller()]
    }

    /// A worker runs two polls (task 1 then task 2, the first with a route) while the monitor
    /// takes snapshots: each snapshot pairs a poll number with that poll's task, site and route.
    #[test]
    fn snapshots_are_consistent() {
        loom::model(|| {
            let record = Arc::new(PollRecord::new());
            let [a, b] = sites();
            let r = record.clone();
            let [one, two] = [1, 2].map(|n| Id::from_number(n).unwrap());
            let worker = thread::spawn(move || {
                let s = r.enter(one, word(a));
                r.write_route(Some("GET /a"), s);
                r.leave(s);
                let s = r.enter(two, word(b));
                r.leave(s);
            });
            for _ in 0..2 {
                if let Some(snap) = record.snapshot() {
                    match snap.seq {
                        1 => {
                            assert_eq!(snap.task, one.scope());
                            assert!(ptr::eq(snap.site.unwrap(), a));
                            assert!(matches!(snap.route, None | Some("GET /a")));
                        }
                        3 => {
                            assert_eq!(snap.task, two.scope());
                            assert!(ptr::eq(snap.site.unwrap(), b));
                            assert_eq!(snap.route, None);
                        }
                        other => panic!("poll {other} never ran"),
                    }
                }
            }
            worker.join().unwrap();
        });
    }

    /// The monitor flags the poll it saw while the worker ends it: exactly one of them claims
    /// the completion (the monitor only once it sees the poll over), never both, never neither.
    #[test]
    fn a_flagged_poll_end_is_claimed_once() {
        loom::model(|| {
            let record = Arc::new(PollRecord::new());
            let [a, _] = sites();
            let seq = record.enter(Id::from_number(1).unwrap(), word(a));
            let r = record.clone();
            let worker = thread::spawn(move || r.leave(seq));
            record.flag(seq);
            let mut monitor = false;
            // The monitor's next looks: it claims only a poll that is over.
            while !monitor && record.flagged.load(Ordering::Acquire) == seq {
                if record.is_over(seq) {
                    monitor = record.claim(seq);
                } else {
                    thread::yield_now();
                }
            }
            let worker = worker.join().unwrap();
            if !monitor && !worker {
                // The monitor's loop ended because the flag was cleared: by the worker.
                panic!("nobody claimed the end");
            }
            assert!(monitor != worker, "both claimed the end");
        });
    }
}

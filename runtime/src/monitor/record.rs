//! The long-poll detector's shared state: what a worker publishes about the poll it is in
//! ([`PollRecord`]), the reports ([`LongPoll`], [`Detector`]) and the route label ([`set_route`]).
//!
//! This is the half of the detector that the workers touch; the monitor thread that reads it
//! is in `monitor/mod.rs`. It sits below the executor (which registers each worker's record and
//! reports the end of a flagged poll) and above `coop` (whose scope word it reads) and `task`.
//!
//! # What a worker publishes, and what it costs: nothing per poll
//!
//! A worker already writes two words around every poll, for other reasons:
//!
//! - its poll counter (`WorkerStats::polls`, a metric), bumped before each poll;
//! - its thread's poll scope (`coop.rs`): the polled task's id next to its budget, set when the
//!   poll starts (task 0 outside a task's poll, so also between polls).
//!
//! The record does not copy them: it *points* at them. When a thread starts working as a
//! worker it registers the two words' addresses in its record ([`RecordScope`]), and the monitor
//! reads them from its own thread. The counter says which poll it is (a different number for
//! every poll, like Go's `schedtick`), the scope word which task, and whether the worker is
//! inside a task's poll at all. A poll therefore costs the detector no instruction at all: the
//! two stores are the ones metrics and `task::id()` make anyway (the scope word's store is a
//! Release store, a plain `mov` on x86, like the `Cell` store it replaced).
//!
//! **Reading the two words consistently** ([`read_poll`]): the monitor reads the counter
//! (Acquire), the scope word (Acquire), and the counter again. If both counter reads agree and
//! the scope word names a task, that task's poll is the one the counter numbers; the argument is
//! in `read_poll`, and the loom model `snapshots_are_consistent` checks it.
//!
//! **What the monitor recovers by itself.** From the scope word it has the task's *id*; the spawn
//! site and name are in the task's heap cell, which the monitor may not dereference on the
//! worker's say-so (the poll may end and the task be freed the moment after the monitor looked).
//! So, once it has decided to report a poll, the monitor looks the id up in the runtime's
//! owned-task list (`task::OwnedTasks::describe`): under the list's lock a listed task cannot be
//! freed (the list owns a reference to it), so its name and site can be read there. A task that
//! completed meanwhile is not found, and its poll is over anyway. The lookup walks the list: it
//! costs time proportional to the live tasks, once per incident, on the monitor's thread.
//!
//! **The route** is the one thing written for the detector alone, by [`set_route`] (twice per
//! HTTP request, not per poll): a seqlock of its own, tagged with the poll counter's value, so
//! that it names only the poll during which it was set.
//!
//! **The end of a long poll.** Once it reported a poll, the monitor stores that poll's number in
//! the record's `flagged` word and raises the detector's `attention` word. Workers already test a
//! shared word at the top of every loop turn (it used to be the shutdown flag, which now raises
//! `attention` too), so when `attention` is up a worker checks its own `flagged` there, between
//! two polls, reads the clock and reports the poll's total ([`Detector::end_flagged`]). The
//! current-thread loop checks at its periodic bookkeeping (before each sleep and every 64th turn).
//! The monitor's next look reports the end itself if the worker has not (say it parked at once);
//! a compare-and-swap on `flagged` ([`PollRecord::claim`]) makes sure it is done once; the loom
//! model `a_flagged_poll_end_is_claimed_once` checks that.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::Location;
use std::ptr;
use std::sync::{Condvar, Mutex as StdMutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::loom::{fence, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};
use crate::report::{Kind, Report};
use crate::task::id::Id;

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

/// Where the two words a worker thread writes anyway live (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Words {
    /// The worker's poll counter (`WorkerStats::polls`), bumped with a Release store before
    /// each poll. Lives in the runtime's shared state, as long as the record.
    polls: *const std::sync::atomic::AtomicU64,
    /// The worker thread's poll scope word (`coop::scope_word`), a thread-local of that thread.
    scope: *const std::sync::atomic::AtomicU64,
}

// SAFETY: two addresses of atomics; they are dereferenced only under the record's lock while
// registered, which keeps both alive (INVARIANT of `PollRecord::words`).
unsafe impl Send for Words {}

/// What one worker is polling now, as the monitor sees it: the addresses of the worker's poll
/// counter and scope word, the route label, and the end-of-poll handshake.
///
/// INVARIANT (single writer): the route fields are written only by the worker thread that
/// registered the record; `flagged` is set only by the monitor and cleared by whoever claims
/// the completion. Aligned to 128 bytes so that two workers' records never share a cache line.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct PollRecord {
    /// The words of the thread now working with this record; `None` while no thread does.
    /// INVARIANT: `Some` only from `RecordScope::enter` to the drop of that scope, on the
    /// registered thread, which cannot end (and free its thread-local scope word) in between; so
    /// whoever holds this lock and finds `Some` may read through both pointers.
    words: Mutex<Option<Words>>,
    /// Version of `route_ptr` / `route_len`: odd while [`set_route`] writes them.
    route_ver: AtomicU64,
    /// The route's bytes; null for none. INVARIANT: with `route_len`, a `&'static str` whenever
    /// `route_ver` is even and unchanged across the reads.
    route_ptr: AtomicPtr<u8>,
    /// The route's length.
    route_len: AtomicUsize,
    /// The number (poll counter value) of the poll that set the route: the route is that poll's only.
    route_seq: AtomicU64,
    /// The number of the poll the monitor reported and whose end is not yet reported; 0 for none.
    flagged: AtomicU64,
    /// The OS thread id of the worker (0: unknown), to read how long the OS kept it waiting
    /// for a CPU (`monitor::run_queue_wait`). Not part of the record's protocol: a plain value,
    /// set when a thread starts working with this record.
    pub(crate) tid: std::sync::atomic::AtomicI32,
}

/// A consistent view of a record: the poll under way, as the monitor read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The poll's number: the worker's poll counter during it (never 0).
    pub(crate) seq: u64,
    /// The task's id as its scope word (`Id::scope`, with whatever budget is left).
    pub(crate) task: u64,
    /// The route label, if one was set during this poll.
    pub(crate) route: Option<&'static str>,
}

/// Reads a worker's poll counter and scope word consistently: `Some((poll number, scope
/// word))` if the worker is inside a task's poll, `None` between polls or if the worker moved
/// on while we read (then the caller treats it as "not that poll").
///
/// The writer (one worker thread) does, for each poll `P`: `polls = P` (Release), `scope = the
/// task's word` (Release; again for each budget unit spent), ..., `scope = 0's word` (Release,
/// the poll's end). This reads `p1 = polls` (Acquire), `s = scope` (Acquire), `p2 = polls`.
/// If `p1 == p2 == P` and `s` names a task, then `s` was stored during poll `P`:
/// - not during a later poll `Q > P`: that poll's `polls = Q` is sequenced before its scope
///   store, which our Acquire load of `s` synchronizes with, so `p2` (read after) would be
///   at least `Q`;
/// - not before poll `P` began: `p1 = P` synchronizes with the store `polls = P`, which comes
///   after the scope store ending poll `P - 1`, so `s` is that store's value (task 0: `None`)
///   or a later one.
///
/// `polls` and `scope` load the two words with the given ordering (closures, so that the loom
/// model runs the same function over loom's atomics).
pub(crate) fn read_poll(
    polls: impl Fn(Ordering) -> u64,
    scope: impl Fn(Ordering) -> u64,
) -> Option<(u64, u64)> {
    let p1 = polls(Ordering::Acquire);
    let s = scope(Ordering::Acquire);
    if !crate::coop::is_task_scope(s) {
        return None;
    }
    // Relaxed: ordered after the Acquire load of `s` (see above).
    let p2 = polls(Ordering::Relaxed);
    (p1 == p2 && p1 != 0).then_some((p1, s))
}

impl PollRecord {
    pub(crate) fn new() -> PollRecord {
        PollRecord {
            words: Mutex::new(None),
            route_ver: AtomicU64::new(0),
            route_ptr: AtomicPtr::new(ptr::null_mut()),
            route_len: AtomicUsize::new(0),
            route_seq: AtomicU64::new(0),
            flagged: AtomicU64::new(0),
            tid: std::sync::atomic::AtomicI32::new(0),
        }
    }

    /// Monitor: the poll under way (number and scope word), or `None` (see [`read_poll`]).
    pub(crate) fn current(&self) -> Option<(u64, u64)> {
        let words = self.words.lock();
        let w = (*words)?;
        // SAFETY: registered (INVARIANT of `words`), and we hold the lock: both words are alive.
        let (polls, scope) = unsafe { (&*w.polls, &*w.scope) };
        read_poll(|o| polls.load(o), |o| scope.load(o))
    }

    /// Monitor: the poll under way with its route, read consistently; `None` between polls, or
    /// if the worker moved on while we read.
    pub(crate) fn snapshot(&self) -> Option<Snapshot> {
        let (seq, task) = self.current()?;
        // A route being rewritten this very moment: look again (bounded; the label is optional).
        // A route set by an earlier poll is not this poll's.
        let route = (0..4)
            .find_map(|_| self.read_route())
            .and_then(|(route, set_by)| route.filter(|_| set_by == seq));
        Some(Snapshot { seq, task, route })
    }

    /// Monitor: whether poll `seq` is over (or the worker is gone).
    pub(crate) fn is_over(&self, seq: u64) -> bool {
        self.current().is_none_or(|(now, _)| now != seq)
    }

    /// Takes the duty of reporting the end of flagged poll `seq` (the worker between polls, or
    /// the monitor when it finds the poll over and the flag still set). Exactly one caller
    /// succeeds per flagged poll.
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

    /// Worker: sets the route label of the current poll, number `seq` (see [`set_route`]).
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
}

thread_local! {
    /// The record of the worker running on this thread and that worker's poll counter, while
    /// it runs with the detector on; nulls elsewhere. [`set_route`] writes through it.
    static RECORD: Cell<(*const PollRecord, *const std::sync::atomic::AtomicU64)> =
        const { Cell::new((ptr::null(), ptr::null())) };
}

/// Makes this thread a record's worker until dropped: registers the thread's poll counter and
/// scope word with the record (so the monitor can read them) and points [`RECORD`] at it.
pub(crate) struct RecordScope<'a> {
    /// The record registered, if the detector is on.
    record: Option<&'a PollRecord>,
    /// What `RECORD` held before.
    prev: (*const PollRecord, *const std::sync::atomic::AtomicU64),
}

impl<'a> RecordScope<'a> {
    /// Registers this thread with `record` (if the detector is on; `None` does nothing), whose
    /// poll counter is `polls`. Both live in the runtime's shared state, which outlives the scope.
    pub(crate) fn enter(
        record: Option<&'a PollRecord>,
        polls: &'a std::sync::atomic::AtomicU64,
    ) -> RecordScope<'a> {
        let mut now = (ptr::null(), ptr::null());
        if let Some(record) = record {
            // Relaxed: a plain value the monitor reads now and then (see the field's docs).
            record
                .tid
                .store(current_tid(), std::sync::atomic::Ordering::Relaxed);
            *record.words.lock() = Some(Words {
                polls,
                scope: crate::coop::scope_word(),
            });
            now = (ptr::from_ref(record), ptr::from_ref(polls));
        }
        RecordScope {
            record,
            prev: RECORD.with(|r| r.replace(now)),
        }
    }
}

impl Drop for RecordScope<'_> {
    fn drop(&mut self) {
        RECORD.with(|r| r.set(self.prev));
        if let Some(record) = self.record {
            // Before this thread can end: from here on the monitor no longer reads its words.
            *record.words.lock() = None;
        }
    }
}

impl fmt::Debug for RecordScope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordScope").finish_non_exhaustive()
    }
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

/// Labels what the current task is doing, for long-poll reports (and clears it with `None`).
///
/// The HTTP server calls it with the matched route template (`"GET /users/{id}"`) before it
/// runs a handler, and with `None` after, so that a report about a handler that blocks its
/// worker names the route. The label lasts until the end of the current poll (the worker
/// record ties it to that poll), so it names a poll that blocks right in the handler's own
/// code; see the module docs of `monitor` for why it does not follow the task across polls.
///
/// A no-op outside a task polled by a runtime worker (a blocking-pool thread, `block_on`'s own
/// future), and when the runtime's detector is off. Cheap: two thread-local reads, a load and
/// six stores.
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
    let (record, polls) = RECORD.with(Cell::get);
    if record.is_null() || crate::coop::current_task().is_none() {
        return;
    }
    // SAFETY: a non-null RECORD points at this thread's worker record and poll counter, alive
    // while the `RecordScope` that set it exists (see `RecordScope::enter`).
    let (record, polls) = unsafe { (&*record, &*polls) };
    // Relaxed: this thread is the counter's writer; the number of the poll under way.
    let seq = polls.load(std::sync::atomic::Ordering::Relaxed);
    record.write_route(route, seq);
}

/// A reported poll whose report is kept.
#[derive(Debug)]
pub(crate) struct Incident {
    /// The poll's number (its worker's poll counter during it).
    pub(crate) seq: u64,
    /// The start bound of the poll (the monitor's last look before it).
    pub(crate) start: Instant,
    /// What is reported.
    pub(crate) report: LongPoll,
}

/// The detector of one runtime: the workers' records, the recent reports, and how the
/// monitor thread is stopped.
#[derive(Debug)]
pub(crate) struct Detector {
    /// One record per worker (one for a current-thread runtime).
    pub(crate) records: Box<[PollRecord]>,
    /// Nonzero when a worker should look up from its loop: the number of flagged polls whose
    /// end is not yet reported (wrapping: a claim may come a moment before its increment), plus
    /// [`STOPPING`] once the runtime shuts down. Workers test it at the top of every loop turn.
    attention: std::sync::atomic::AtomicU64,
    /// `Builder::long_poll_threshold`; `None`: no monitor, and the workers write no record.
    threshold: Option<Duration>,
    /// The last [`RECENT_LONG_POLLS`] reports, oldest first.
    recent: StdMutex<VecDeque<Incident>>,
    /// Long polls reported since the runtime started.
    count: std::sync::atomic::AtomicU64,
    /// Set when the runtime shuts down; the monitor leaves its loop.
    stop: StdMutex<bool>,
    /// Wakes the monitor early for shutdown.
    stop_cv: Condvar,
}

impl Detector {
    pub(crate) fn new(workers: usize, threshold: Option<Duration>) -> Detector {
        Detector {
            records: (0..workers).map(|_| PollRecord::new()).collect(),
            attention: std::sync::atomic::AtomicU64::new(0),
            threshold: threshold.filter(|t| !t.is_zero()),
            recent: StdMutex::new(VecDeque::new()),
            count: std::sync::atomic::AtomicU64::new(0),
            stop: StdMutex::new(false),
            stop_cv: Condvar::new(),
        }
    }

    /// The record of worker `worker`, for its `RecordScope`; `None` when the detector is off.
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

    /// Tells the monitor thread to leave, and the workers to look up (runtime shutdown; the
    /// caller has set its shutdown flag before).
    pub(crate) fn stop(&self) {
        // Release: a worker that sees this (Acquire, `attention`) sees the shutdown flag set.
        self.attention
            .fetch_add(STOPPING, std::sync::atomic::Ordering::Release);
        *self.stop.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.stop_cv.notify_all();
    }

    /// Worker, at the top of each loop turn: whether to look up (the runtime is stopping, or a
    /// poll was flagged; then call [`end_flagged`](Self::end_flagged)).
    #[inline(always)]
    pub(crate) fn attention(&self) -> bool {
        // Acquire: pairs with the Release in `stop` (the shutdown flag) and in `found_poll`
        // (the flag stored before the increment).
        self.attention.load(std::sync::atomic::Ordering::Acquire) != 0
    }

    /// Worker `worker`, between two polls: if the monitor flagged one of its polls (necessarily
    /// over now), report that poll's end, unless the monitor already did.
    #[cold]
    #[inline(never)]
    pub(crate) fn end_flagged(&self, worker: usize) {
        // Acquire: pairs with the Release store in `flag`.
        let seq = self.records[worker].flagged.load(Ordering::Acquire);
        if seq != 0 && self.claim(worker, seq) {
            self.complete(worker, seq, Instant::now());
        }
    }

    /// Claims the end of flagged poll `seq` of `worker` (see [`PollRecord::claim`]).
    pub(crate) fn claim(&self, worker: usize, seq: u64) -> bool {
        let won = self.records[worker].claim(seq);
        if won {
            // Relaxed: only a hint to the workers; the flag decides.
            self.attention
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        won
    }

    /// Monitor: poll `seq` of `worker` was reported: flag it and have the worker look up when
    /// the poll returns.
    pub(crate) fn found_poll(&self, worker: usize, seq: u64) {
        self.records[worker].flag(seq);
        // Release: a worker that sees the increment (Acquire, `attention`) sees the flag.
        self.attention
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Sleeps up to `period`; false once the runtime is shutting down.
    pub(crate) fn sleep(&self, period: Duration) -> bool {
        let guard = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .stop_cv
            .wait_timeout_while(guard, period, |stop| !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        !*guard
    }

    /// Records and reports a newly found long poll.
    pub(crate) fn report(&self, incident: Incident) {
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
    pub(crate) fn complete(&self, worker: usize, seq: u64, end: Instant) {
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

/// Added to `Detector::attention` when the runtime stops (far above any count of open polls).
const STOPPING: u64 = 1 << 32;

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::monitor::record::*;
    use std::sync::atomic::AtomicU64 as StdAtomicU64;

    /// The record's protocol on one thread: registration, snapshots between and inside polls,
    /// the route's lifetime, and the claim that only one party wins.
    #[test]
    fn record_round_trip() {
        let r = PollRecord::new();
        let polls = StdAtomicU64::new(0);
        assert_eq!(r.snapshot(), None, "no thread registered");
        let scope = RecordScope::enter(Some(&r), &polls);
        assert_eq!(r.snapshot(), None, "registered, not in a poll");
        let id = Id::from_number(7).unwrap();
        polls.store(1, std::sync::atomic::Ordering::Release);
        crate::coop::budget(Some(id), || {
            set_route(Some("GET /x"));
            let snap = r.snapshot().unwrap();
            assert_eq!(
                (snap.seq, Id::from_scope(snap.task), snap.route),
                (1, Some(id), Some("GET /x"))
            );
            assert!(!r.is_over(1));
        });
        assert_eq!(r.snapshot(), None, "between polls");
        assert!(r.is_over(1));
        r.flag(1);
        assert!(r.claim(1), "the first claim wins");
        assert!(!r.claim(1), "and no other");
        polls.store(2, std::sync::atomic::Ordering::Release);
        crate::coop::budget(Some(Id::from_number(8).unwrap()), || {
            assert_eq!(
                r.snapshot().unwrap().route,
                None,
                "the route ended with its poll"
            );
        });
        drop(scope);
        assert_eq!(r.snapshot(), None, "unregistered");
    }
}

/// loom models of the record: the monitor never pairs one poll's number with another poll's
/// task, never sees a torn route, and the end of a flagged poll is claimed exactly once,
/// whichever way the worker's check and the monitor's flag interleave. Run with
/// `scripts/loom.sh`.
#[cfg(all(test, loom))]
mod loom_tests {
    use crate::loom::Arc;
    use crate::monitor::record::*;
    use loom::thread;

    /// A worker's two words, as loom atomics (the real ones are a metric and a thread-local).
    struct Worker {
        polls: AtomicU64,
        scope: AtomicU64,
    }

    /// Task `n`'s scope word with a fresh budget.
    fn task(n: u64) -> u64 {
        Id::from_number(n).unwrap().scope()
    }

    /// The scope word between polls (task 0).
    const OUTSIDE: u64 = 254;

    /// A worker runs two polls (task 1, which spends a budget unit and sets a route, then
    /// task 2) while the monitor reads: each read pairs a poll number with that poll's task,
    /// and a route only with the poll that set it.
    #[test]
    fn snapshots_are_consistent() {
        loom::model(|| {
            let w = Arc::new(Worker {
                polls: AtomicU64::new(0),
                scope: AtomicU64::new(OUTSIDE),
            });
            let record = Arc::new(PollRecord::new());
            let (w2, r2) = (w.clone(), record.clone());
            let worker = thread::spawn(move || {
                for (n, route) in [(1, Some("GET /a")), (2, None)] {
                    w2.polls.store(n, Ordering::Release);
                    w2.scope.store(task(n), Ordering::Release);
                    if let Some(route) = route {
                        w2.scope.store(task(n) - 1, Ordering::Release);
                        r2.write_route(Some(route), n);
                    }
                    w2.scope.store(OUTSIDE, Ordering::Release);
                }
            });
            for _ in 0..2 {
                let read = read_poll(|o| w.polls.load(o), |o| w.scope.load(o));
                if let Some((seq, scope)) = read {
                    assert_eq!(Id::from_scope(scope), Id::from_number(seq), "poll {seq}");
                    let route = record
                        .read_route()
                        .and_then(|(route, set_by)| route.filter(|_| set_by == seq));
                    assert!(matches!(
                        (seq, route),
                        (1, None | Some("GET /a")) | (2, None)
                    ));
                }
            }
            worker.join().unwrap();
        });
    }

    /// The monitor flags the poll it saw while the worker ends it and looks up: exactly one of
    /// them claims the completion (the monitor only once it sees the poll over), never both,
    /// never neither.
    #[test]
    fn a_flagged_poll_end_is_claimed_once() {
        loom::model(|| {
            let w = Arc::new(Worker {
                polls: AtomicU64::new(1),
                scope: AtomicU64::new(task(1)),
            });
            let detector = Arc::new(Detector::new(1, Some(Duration::from_millis(10))));
            let (w2, d2) = (w.clone(), detector.clone());
            // The worker ends poll 1, then looks up once at the top of its loop.
            let worker = thread::spawn(move || {
                w2.scope.store(OUTSIDE, Ordering::Release);
                d2.attention() && {
                    let seq = d2.records[0].flagged.load(Ordering::Acquire);
                    seq != 0 && d2.claim(0, seq)
                }
            });
            detector.found_poll(0, 1);
            let mut monitor = false;
            // The monitor's next looks: it claims only a poll that is over.
            while !monitor && detector.records[0].flagged.load(Ordering::Acquire) == 1 {
                let over = read_poll(|o| w.polls.load(o), |o| w.scope.load(o)).is_none();
                if over {
                    monitor = detector.claim(0, 1);
                } else {
                    thread::yield_now();
                }
            }
            let worker = worker.join().unwrap();
            if !monitor && !worker {
                panic!("nobody claimed the end");
            }
            assert!(monitor != worker, "both claimed the end");
            assert!(
                !detector.attention(),
                "the count of open polls is back to 0"
            );
        });
    }
}

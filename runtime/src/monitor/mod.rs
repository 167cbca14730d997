//! The long-poll detector: a monitor thread that notices a worker stuck inside one poll (a
//! blocking call in an async task, `time.sleep` inside `async def`) and says which task it is.
//!
//! An async runtime only works if every poll is short: a worker that sleeps, spins or waits on a
//! lock inside a poll cannot run the other tasks of its queues, nor the reactor. Nothing stops a
//! task from doing it, so the runtime at least *notices*: the idea of Go's `sysmon`, a thread
//! of the runtime that wakes now and then and looks at what every worker is doing.
//!
//! # What the workers publish
//!
//! Nothing of their own: the monitor reads, from its thread, two words each worker writes
//! around every poll anyway: its poll counter (a metric) and its thread's poll scope word (the
//! task's id, for `task::id()` and the coop budget). A worker whose counter has not moved
//! between two looks while its scope word names a task has been inside that task's poll all
//! that time, as Go's sysmon compares a P's `schedtick` between two looks. `record.rs` has the
//! words' registration, how they are read consistently, and how the monitor finds the task's
//! name and spawn site without touching a task that may be freed.
//!
//! **The route** is set with [`set_route`] and stored with the number of the poll during
//! which it was called; the monitor shows it only for that poll. It therefore names the route of
//! a handler whose *own* poll blocks (the common `time.sleep` inside `async def` case), but not
//! one that blocks in a later poll after an `.await` returned `Pending`; following the label
//! across polls would need a field in every task's header, read at every poll start, for a
//! label only HTTP connection tasks carry.
//!
//! # The monitor
//!
//! One thread per runtime (`spindle-monitor`), started by the builder unless
//! [`Builder::long_poll_threshold`](crate::Builder::long_poll_threshold) is `None`, and joined
//! at shutdown. Every `threshold / 2` it looks at each worker. A poll first seen at one look and
//! still there `threshold` later is reported, once (time the OS kept the worker thread waiting
//! for a CPU does not count: a thread that is runnable but not running is not blocked by its
//! task; see [`counted`]):
//!
//! 1. a [`LongPoll`] goes into the runtime's list of recent reports
//!    ([`RuntimeMetrics::recent_long_polls`](crate::metrics::RuntimeMetrics::recent_long_polls)),
//!    the `long_polls` counter grows, and a [`Kind::LongPoll`](crate::report::Kind::LongPoll)
//!    report goes to the hook;
//! 2. the monitor flags that poll in the worker's record and raises the detector's `attention`;
//! 3. when the poll returns, its worker sees `attention` at the top of its loop, reads the clock
//!    once, and reports the poll's total duration (the current-thread loop does it at its next
//!    bookkeeping, before it sleeps or within 64 turns). If the monitor's next look finds the
//!    poll over and its end not yet reported, it reports it itself; a compare-and-swap decides
//!    which of the two does it, so it is done once.
//!
//! Durations are measured from the monitor's last look *before* the poll (a look that saw the
//! worker elsewhere): the poll began after that, so `so_far` and `total` never under-state it,
//! and over-state it by at most the gap between two looks: `threshold / 2` when the monitor
//! thread runs on time, more when a busy machine delays it (the demo on a loaded 2-core
//! machine once reported a 200 ms sleep as 224.7 ms); when the monitor reports the end itself,
//! the total also includes the time up to that look (at most one more gap). The poll is only
//! reported when it has surely run for the threshold (counted from the first look that saw it).
//!
//! With hand-off on, the monitor then also gets the stuck worker's queued tasks run elsewhere
//! (`executor/multi_thread.rs`, `MultiThread::hand_off`).
//!
//! Talks to: `record` (the workers' records, the reports), `executor` (hand-off), `runtime`
//! (the owned-task list, to name the task; the handle it runs for).

pub(crate) mod record;

pub use record::DEFAULT_LONG_POLL_THRESHOLD;

use std::time::{Duration, Instant, SystemTime};

use crate::executor::Scheduler;
use crate::runtime::Handle;
use crate::task::id::Id;
use record::{Incident, LongPoll, Snapshot};

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
                    if detector.claim(worker, seq) {
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
    // The task's site and name, read under the owned-task list's lock, which keeps a listed
    // task alive (see `record.rs`). Not listed: it completed since the snapshot (its poll is
    // over anyway), or it is a task of another runtime that a task of ours runs `block_on` for.
    let Some((spawn_site, name)) = handle.inner.owned.describe(task_id) else {
        return;
    };
    detector.report(Incident {
        seq: snap.seq,
        start: look.start,
        report: LongPoll {
            task_id,
            name,
            spawn_site,
            route: snap.route,
            worker,
            detected_at: SystemTime::now(),
            so_far: now.duration_since(look.start),
            total: None,
        },
    });
    // After the report is stored, so that whoever claims the end finds it.
    detector.found_poll(worker, snap.seq);
    look.open = Some(snap.seq);
    if let Scheduler::MultiThread(mt) = &handle.inner.sched {
        mt.hand_off(worker, handle);
    }
}

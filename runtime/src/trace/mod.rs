//! The scheduling trace: a flight recorder per runtime thread, dumped as Chrome trace-event
//! JSON that Perfetto (ui.perfetto.dev) and `chrome://tracing` open.
//!
//! Turned on with `SPINDLE_TRACE=path.json` in the environment (read when a runtime is built),
//! or [`Builder::trace_path`](crate::Builder::trace_path) /
//! [`Builder::trace_events_per_thread`](crate::Builder::trace_events_per_thread). Each worker
//! thread, each blocking-pool thread and a current-thread runtime's loop then records into a
//! ring of its own (`ring.rs`) that keeps its last N events (default
//! [`DEFAULT_EVENTS_PER_THREAD`]). [`Handle::dump_trace`](crate::Handle::dump_trace) writes the
//! rings as JSON at any time; a runtime built with a path writes them there when it shuts down.
//!
//! What is recorded, and where (each thread records only on its own track):
//!
//! | event | recorded by | in the trace |
//! |---|---|---|
//! | a poll | the worker, around the poll | a slice named by the task's name, or its spawn site `file:line`; args: task id |
//! | a wake | the thread that made the queue entry | a zero-length slice `wake`, and a flow arrow to the poll it causes |
//! | a park | the worker, around its sleep | a slice `park (light)` / `park (deep)` |
//! | a reactor turn | the thread that turned it | a slice `reactor turn`, args: events |
//! | a steal | the thief | a zero-length slice on both tracks and a flow arrow from victim to thief |
//! | queue depths | each worker at its maintenance ticks | counters: its local queue, the injector |
//!
//! **Wakes and their polls.** A wake reads the clock and stores the reading in the queue
//! entry's stamp slot in the task header: the same slot the metrics use to time schedule
//! latency (`metrics`, "sampling"), so it costs no extra header word, and the metrics then time
//! every traced entry (the trace reads the clock at each poll anyway). The stamp is the flow's
//! id: the waker records it, the poll that takes the entry records it too. Stamps from one
//! thread strictly increase; if two threads stamp the same nanosecond, or one end of a flow has
//! already left its ring, the JSON writer drops that flow rather than draw a wrong arrow.
//!
//! **Cost.** Off, a poll costs one predictable branch on a flag the worker keeps in a local,
//! and a wake nothing at all: the trace hooks into the metrics' sampler, whose rare path
//! (about one entry in 1024) is where it checks whether the runtime traces; while tracing,
//! the sampler picks every entry and hands it to `wake`. Parks, steals and maintenance ticks
//! branch on the flag too (they are rare next to polls). On, an event is a few stores into
//! the thread's own batch; the ring's lock is taken once per `ring::BATCH` events
//! (`docs/benchmarks.md`, "The scheduling trace: cost").
//!
//! Talks to: `executor` (calls the hooks), `runtime` (owns the `Tracer`, writes the file at
//! shutdown), `metrics` (the clock, and the poll-timing it shares), `task` (ids, names, sites).

mod json;
mod ring;

use std::cell::RefCell;
use std::io;
use std::path::PathBuf;

use crate::loom::{Arc, Mutex};
use crate::metrics::{now_ns, WorkerStats};
use crate::task::Notified;

pub(crate) use ring::Kind;
use ring::{Event, Ring, RingDump, Role, Writer};

/// The default ring size: the last 65,536 events of each thread (about 3 MiB per thread once
/// full; memory grows with use).
pub const DEFAULT_EVENTS_PER_THREAD: usize = 64 * 1024;

/// The tracing part of a runtime's configuration, as the builder resolved it.
#[derive(Debug, Clone)]
pub(crate) struct TraceConfig {
    /// Events each ring keeps.
    pub(crate) events_per_thread: usize,
    /// Where to write the trace at shutdown, if anywhere.
    pub(crate) path: Option<PathBuf>,
}

/// One runtime's flight recorder: every ring, and what the dump needs to name them.
#[derive(Debug)]
pub(crate) struct Tracer {
    /// The configuration.
    config: TraceConfig,
    /// `now_ns()` when the runtime was built: time 0 of the trace.
    epoch: u64,
    /// Every ring, workers' first (ring `i` is worker `i`'s), then blocking threads' in the
    /// order they were made. INVARIANT: only grows.
    rings: Mutex<Vec<Arc<Ring>>>,
    /// How blocking threads are named (the builder's thread name for them).
    blocking_name: String,
}

impl Tracer {
    /// A tracer with one ring per worker, named by `worker_name(i)`.
    pub(crate) fn new(
        config: TraceConfig,
        workers: usize,
        worker_name: impl Fn(usize) -> String,
        blocking_name: String,
    ) -> Tracer {
        let n = config.events_per_thread;
        let rings = (0..workers)
            .map(|i| Arc::new(Ring::new(worker_name(i), Role::Worker(i), n)))
            .collect();
        Tracer {
            config,
            epoch: now_ns(),
            rings: Mutex::new(rings),
            blocking_name,
        }
    }

    /// Where the trace goes at shutdown.
    pub(crate) fn path(&self) -> Option<&PathBuf> {
        self.config.path.as_ref()
    }

    /// A ring for a new blocking thread: a free one, or a new one.
    fn blocking_ring(&self) -> Arc<Ring> {
        use std::sync::atomic::Ordering::{Acquire, Relaxed};
        let mut rings = self.rings.lock();
        for ring in rings.iter() {
            // Acquire pairs with the Release store of the writer's owner that let it go, so
            // its last flush is ordered before our writes (they are under the ring lock too).
            if ring.role == Role::Blocking
                && ring
                    .free
                    .compare_exchange(true, false, Acquire, Relaxed)
                    .is_ok()
            {
                return ring.clone();
            }
        }
        let n = rings.iter().filter(|r| r.role == Role::Blocking).count();
        // `spindle-blocking-3`; with a custom thread name the blocking threads share the
        // workers' prefix (`my-app`), so say what they are (`my-app-blocking-3`).
        let name = if self.blocking_name.contains("blocking") {
            format!("{}-{n}", self.blocking_name)
        } else {
            format!("{}-blocking-{n}", self.blocking_name)
        };
        let ring = Arc::new(Ring::new(
            name,
            Role::Blocking,
            self.config.events_per_thread,
        ));
        rings.push(ring.clone());
        ring
    }

    /// Writes every ring as Chrome trace-event JSON (see `json.rs`).
    pub(crate) fn write_json(&self, out: &mut dyn io::Write) -> io::Result<()> {
        // Flush our own thread's batch first, in case the caller is a traced thread.
        flush();
        let rings: Vec<Arc<Ring>> = self.rings.lock().clone();
        let dumps: Vec<RingDump> = rings.iter().map(|r| r.dump()).collect();
        json::write(out, std::process::id(), self.epoch, &dumps)
    }
}

thread_local! {
    /// This thread's writer, while it records for some runtime (see [`Installed`]).
    static WRITER: RefCell<Option<Writer>> = const { RefCell::new(None) };
}

/// Whether this thread records for a traced runtime now (it has a writer). While it does,
/// every queue entry is stamped (`metrics::stats::TRACE_EVERY_ENTRY`), so a worker's timed
/// poll path, taken for stamped entries only, is where polls get traced: the untraced poll path
/// does not test for tracing at all.
pub(crate) fn recording() -> bool {
    WRITER
        .try_with(|w| w.try_borrow().is_ok_and(|w| w.is_some()))
        .unwrap_or(false)
}

/// Runs `f` on this thread's writer, if it has one (and it is not already in use).
#[inline]
fn with_writer(f: impl FnOnce(&mut Writer)) {
    let _ = WRITER.try_with(|w| {
        if let Ok(mut w) = w.try_borrow_mut() {
            if let Some(w) = w.as_mut() {
                f(w);
            }
        }
    });
}

/// This thread records into a ring until the guard is dropped; then the previous writer (a
/// thread may run a current-thread runtime's `block_on` inside a blocking job) is back.
#[derive(Debug)]
pub(crate) struct Installed {
    /// The writer this thread had before.
    prev: Option<Writer>,
}

/// Makes `ring` this thread's ring until the guard drops.
fn install(ring: Arc<Ring>) -> Installed {
    let prev = WRITER.with(|w| w.borrow_mut().replace(Writer::new(ring)));
    Installed { prev }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // The writer being replaced flushes as it drops. `try_with`: at thread exit the
        // thread-local may be gone already.
        let _ = WRITER.try_with(|w| drop(std::mem::replace(&mut *w.borrow_mut(), prev)));
    }
}

/// For worker `index` (or a current-thread loop, index 0): record into its ring until the
/// guard drops. `None` if the runtime does not trace.
pub(crate) fn enter_worker(tracer: Option<&Tracer>, index: usize) -> Option<Installed> {
    let tracer = tracer?;
    let ring = tracer.rings.lock()[index].clone();
    Some(install(ring))
}

/// A blocking-pool thread about to run a job: give it a ring for the rest of its life if it
/// has none. The writer lives in the thread-local until the thread exits; its drop then
/// flushes it and marks the ring free for the next blocking thread.
pub(crate) fn enter_blocking(tracer: &Tracer) {
    let has = WRITER
        .try_with(|w| w.try_borrow().map(|w| w.is_some()).unwrap_or(true))
        .unwrap_or(true);
    if !has {
        let ring = tracer.blocking_ring();
        WRITER.with(|w| *w.borrow_mut() = Some(Writer::new(ring)));
    }
}

/// Moves this thread's recorded events into its ring, so that a dump sees them (before a
/// sleep, after a blocking job).
pub(crate) fn flush() {
    with_writer(Writer::flush);
}

/// Runs one queue entry, recording the poll (the traced twin of `WorkerStats::run_timed`,
/// which calls it while this thread records). `stats`: the worker's counters (`None` on a
/// blocking thread); the caller counts the poll.
///
/// It also does the metrics' timing: every stamped entry is timed, and while tracing every
/// entry is stamped (by its wake), so the histograms see every poll.
///
/// Out of line and cold, like every hook here: a worker reaches it from its rare timed-poll
/// path, so the untraced path has no test for tracing at all and keeps its inlining
/// (`docs/benchmarks.md`).
#[cold]
#[inline(never)]
pub(crate) fn run<S: 'static>(stats: Option<&WorkerStats>, task: Notified<S>) {
    // Everything needed from the header is read before the poll, which may free the task.
    let raw = task.0.raw();
    let header = raw.header();
    let id = header.id.as_u64();
    let site = header.meta.spawned_at();
    if let Some(name) = header.meta.name() {
        with_writer(|w| w.name_task(id, name));
    }
    let start = now_ns();
    let queued_at = task.take_scheduled_at(start);
    task.run();
    let end = now_ns();
    if let (Some(stats), true) = (stats, queued_at != 0) {
        stats
            .schedule_latency
            .record(start.saturating_sub(queued_at));
        stats.poll_duration.record(end.saturating_sub(start));
    }
    with_writer(|w| {
        w.push(Event {
            a: id,
            b: queued_at,
            site: Some(site),
            ..Event::new(Kind::Poll, start, end.saturating_sub(start))
        })
    });
}

/// The thread is making a queue entry for `task`: stamp the entry and record the wake (the
/// start of the flow to the poll it causes). Called by the metrics' sampler, which picks every
/// entry while the runtime traces (`metrics::TRACE_EVERY_ENTRY`). On a thread that does not
/// record (one outside the runtime), the entry is stamped for the metrics only.
#[cold]
#[inline(never)]
pub(crate) fn wake<S: 'static>(task: &Notified<S>) {
    let mut recorded = false;
    with_writer(|w| {
        let stamp = w.wake_stamp(now_ns());
        task.set_scheduled_at(stamp);
        w.push(Event {
            a: task.0.id().as_u64(),
            ..Event::new(Kind::Wake, stamp, 0)
        });
        recorded = true;
    });
    if !recorded {
        task.set_scheduled_at(now_ns());
    }
}

/// A span being timed: records `kind` from its start to its drop.
#[derive(Debug)]
pub(crate) struct Span {
    /// What it records.
    kind: Kind,
    /// When it began.
    start: u64,
}

/// Starts a park span (light or deep) if `on`, first moving this thread's events into its
/// ring, so that a dump taken while it sleeps sees all of them.
#[inline]
pub(crate) fn park_span(on: bool, light: bool) -> Option<Span> {
    if !on {
        return None;
    }
    flush();
    let kind = if light {
        Kind::ParkLight
    } else {
        Kind::ParkDeep
    };
    Some(Span::start(kind))
}

/// Starts a span of `kind` if `on` (the runtime traces); record it by dropping the result.
#[inline]
pub(crate) fn span(on: bool, kind: Kind) -> Option<Span> {
    if on {
        Some(Span::start(kind))
    } else {
        None
    }
}

impl Span {
    /// A span of `kind` starting now.
    #[cold]
    #[inline(never)]
    fn start(kind: Kind) -> Span {
        Span {
            kind,
            start: now_ns(),
        }
    }
}

impl Drop for Span {
    #[inline(never)]
    fn drop(&mut self) {
        let end = now_ns();
        let event = Event::new(self.kind, self.start, end.saturating_sub(self.start));
        with_writer(|w| w.push(event));
    }
}

/// Records a reactor turn that began at `start` and delivered `events` I/O events.
#[cold]
#[inline(never)]
pub(crate) fn reactor_turn(start: u64, events: u64) {
    let end = now_ns();
    with_writer(|w| {
        w.push(Event {
            a: events,
            ..Event::new(Kind::ReactorTurn, start, end.saturating_sub(start))
        })
    });
}

/// The time now, for a span recorded by hand ([`reactor_turn`]).
pub(crate) fn now() -> u64 {
    now_ns()
}

/// Records a steal of `tasks` tasks from worker `victim`.
#[cold]
#[inline(never)]
pub(crate) fn steal(victim: usize, tasks: u64) {
    let now = now_ns();
    with_writer(|w| {
        w.push(Event {
            a: victim as u64,
            b: tasks,
            ..Event::new(Kind::Steal, now, 0)
        })
    });
}

/// Records the depth of this worker's local queue and of the injector (`None`: the runtime
/// has none, a current-thread runtime).
#[cold]
#[inline(never)]
pub(crate) fn queues(local: usize, injector: Option<usize>) {
    let now = now_ns();
    with_writer(|w| {
        w.push(Event {
            a: local as u64,
            b: injector.map_or(u64::MAX, |n| n as u64),
            ..Event::new(Kind::Queues, now, 0)
        })
    });
}

/// Writes the trace file of a runtime that is shutting down, reporting a failure.
pub(crate) fn write_at_shutdown(tracer: &Tracer) {
    let Some(path) = tracer.path() else { return };
    let result = std::fs::File::create(path).and_then(|f| {
        let mut out = io::BufWriter::new(f);
        tracer.write_json(&mut out)?;
        io::Write::flush(&mut out)
    });
    if let Err(err) = result {
        crate::report::emit(&crate::report::Report::new(
            crate::report::Kind::TraceWriteFailed,
            "spindle::trace",
            format_args!("could not write the trace to {}: {err}", path.display()),
        ));
    }
}

/// The trace configuration from the builder's choices and the environment, which the builder's
/// win over: `SPINDLE_TRACE` (a path) turns tracing on and names the file; `SPINDLE_TRACE_EVENTS`
/// (a number) sizes the rings, and by itself turns on tracing in memory (for
/// `Handle::dump_trace`: how the demo server turns it on). `events == Some(0)` turns it off.
pub(crate) fn resolve(events: Option<usize>, path: Option<PathBuf>) -> Option<TraceConfig> {
    if events == Some(0) {
        return None;
    }
    let env_path = std::env::var_os("SPINDLE_TRACE").filter(|p| !p.is_empty());
    let path = path.or(env_path.map(PathBuf::from));
    let env_events = std::env::var("SPINDLE_TRACE_EVENTS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    if events.is_none() && path.is_none() && env_events.is_none() {
        return None;
    }
    Some(TraceConfig {
        events_per_thread: events.or(env_events).unwrap_or(DEFAULT_EVENTS_PER_THREAD),
        path,
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    /// A dump taken from another thread while both workers run, wake and steal: it completes,
    /// and sees the events flushed so far (the cross-thread path that Miri checks, see
    /// `scripts/miri.sh`).
    #[test]
    fn dumps_while_the_workers_run() {
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(2)
            .trace_events_per_thread(256)
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let dumper = std::thread::spawn(move || {
            (0..3)
                .map(|_| handle.trace_json().unwrap().len())
                .collect::<Vec<_>>()
        });
        rt.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    crate::spawn(async {
                        for _ in 0..4 {
                            crate::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        for len in dumper.join().unwrap() {
            assert!(len > 0);
        }
        let json = rt.handle().trace_json().unwrap();
        assert!(json.starts_with('{') && json.trim_end().ends_with('}'));
        assert!(json.contains("spindle-worker-1"));
    }
}

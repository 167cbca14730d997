//! The multi-thread scheduler: N workers, each with a local queue, stealing from one another.
//!
//! This is `uvicorn --workers N` inside one process: every worker runs the same loop and any
//! worker can run any task. Where a task goes when it is woken:
//!
//! ```text
//!   wake on a worker thread ──► that worker's LIFO slot ──(old occupant)──► its local deque (FIFO)
//!   wake / spawn from outside ──► the global injector                           │
//!                                          │                      stolen by idle workers (half)
//!                                          ▼                                    ▼
//!                               every worker, every 61 ticks  ◄──  a worker with nothing to do
//! ```
//!
//! The LIFO slot runs a just-woken task next (its data is hot in cache: the ping-pong of a
//! request and its response); a chain of LIFO runs is capped so that the deque is not starved.
//! Talks to: `task` (runs `Notified` entries), `idle` (who to wake), `park` (sleeping on the
//! reactor or a condvar), `runtime` (the shared state and configuration), `metrics` (each
//! worker counts what it does in its own `WorkerStats`, which `Handle::metrics` reads),
//! `trace` (when the runtime traces, each worker records polls, parks, steals and wakes).

use std::cell::{Cell, RefCell};
use std::ptr;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use super::idle::{Idle, LIGHT_SLEEP, LIGHT_SLEEPS};
use super::park::Parker;
use crate::loom::{AtomicBool, Mutex, Ordering};
use crate::metrics::{BusyClock, Sampler, WorkerMetrics, WorkerState, WorkerStats};
use crate::monitor::record::{Detector, RecordScope};
use crate::runtime::{context, Handle};
use crate::task::Notified;

/// How many tasks in a row may come from the LIFO slot before the deque gets a turn.
const MAX_LIFO_CHAIN: u32 = 3;

/// A queue entry of this scheduler.
type Entry = Notified<Handle>;

/// State shared by all workers of one runtime.
pub(crate) struct MultiThread {
    /// Tasks spawned or woken from outside any worker of this runtime.
    injector: Injector<Entry>,
    /// One per worker (by index): how others steal from its local deque.
    stealers: Box<[Stealer<Entry>]>,
    /// One per worker (by index): how others wake it.
    parkers: Box<[Parker]>,
    /// One per worker (by index): its counters. INVARIANT: written only by that worker.
    stats: Box<[WorkerStats]>,
    /// Searching / parked accounting; decides whom a push wakes.
    idle: Idle,
    /// The per-worker state, waiting to be claimed by the worker threads at start.
    #[allow(clippy::vec_box)] // each core moves, boxed, into its worker thread
    cores: Mutex<Vec<Box<Core>>>,
    /// Set once by `shutdown`; workers leave their loop when they see it.
    shutdown: AtomicBool,
    /// Check the injector before local work every this many ticks (fairness for remote tasks).
    global_queue_interval: u32,
    /// Poll the reactor and timers without sleeping every this many ticks (I/O fairness).
    event_interval: u32,
    /// A worker's own pushes wake a sleeping sibling once this many tasks wait in its deque
    /// (sooner if no sibling sleeps light; see `idle.rs`).
    spread_threshold: usize,
    /// Each worker's current-poll record and the long-poll reports (`monitor/record.rs`).
    detector: Detector,
    /// `Builder::hand_off_blocked_worker`: wakes go to the deque, never the LIFO slot, so that
    /// a sibling can take them when this worker is stuck in a long poll (see [`MultiThread::hand_off`]).
    hand_off: bool,
    /// Whether the runtime records a scheduling trace (`trace` module); fixed at build.
    trace: bool,
}

/// The state only its own worker thread touches.
pub(crate) struct Core {
    /// Which worker this is (index into `stealers` / `parkers`).
    index: usize,
    /// The task woken most recently on this worker; run next unless the chain cap is hit.
    lifo: Option<Entry>,
    /// How many tasks in a row came from `lifo`.
    lifo_chain: u32,
    /// This worker's FIFO deque; the owner pops the front, thieves steal batches.
    local: Worker<Entry>,
    /// Loop iterations, for the periodic global-queue and driver checks.
    tick: u32,
    /// Whether this worker counts in `Idle`'s searching number.
    searching: bool,
    /// Picks steal victims.
    rand: FastRand,
    /// Picks the entries this worker makes whose schedule latency and poll are timed.
    sampler: Sampler,
    /// Whether the runtime traces (a copy of `MultiThread::trace` where the steal path looks).
    /// (Wakes need no flag: while tracing, the sampler sends every entry through the trace.)
    trace: bool,
}

/// What a worker thread keeps in its thread-local while it runs.
struct WorkerContext {
    /// The runtime this worker belongs to.
    handle: Handle,
    /// This worker's index (also in the core, which is not always available).
    index: usize,
    /// INVARIANT: borrowed only in short sections, never across a task poll, so that a wake
    /// from inside a poll can push onto the LIFO slot.
    core: RefCell<Option<Box<Core>>>,
}

thread_local! {
    /// Points at the `WorkerContext` on this worker thread's stack while `run` executes; null elsewhere.
    static WORKER: Cell<*const WorkerContext> = const { Cell::new(ptr::null()) };
}

/// True on a thread that is currently a worker of some multi-thread runtime.
pub(crate) fn on_worker_thread() -> bool {
    WORKER.with(|w| !w.get().is_null())
}

impl MultiThread {
    pub(crate) fn new(
        num_workers: usize,
        global_queue_interval: u32,
        event_interval: u32,
        spread_threshold: usize,
        long_poll_threshold: Option<std::time::Duration>,
        hand_off: bool,
        trace: bool,
    ) -> MultiThread {
        let mut cores = Vec::with_capacity(num_workers);
        let mut stealers = Vec::with_capacity(num_workers);
        for index in 0..num_workers {
            let local = Worker::new_fifo();
            stealers.push(local.stealer());
            cores.push(Box::new(Core {
                index,
                lifo: None,
                lifo_chain: 0,
                local,
                tick: 0,
                searching: false,
                rand: FastRand::new(index as u64 + 1),
                sampler: Sampler::new(),
                trace,
            }));
        }
        MultiThread {
            injector: Injector::new(),
            stealers: stealers.into_boxed_slice(),
            parkers: (0..num_workers).map(|_| Parker::new()).collect(),
            stats: (0..num_workers).map(|_| WorkerStats::default()).collect(),
            idle: Idle::new(num_workers),
            cores: Mutex::new(cores),
            shutdown: AtomicBool::new(false),
            global_queue_interval: global_queue_interval.max(1),
            event_interval: event_interval.max(1),
            spread_threshold: spread_threshold.max(1),
            detector: Detector::new(num_workers, long_poll_threshold),
            hand_off,
            trace,
        }
    }

    /// The long-poll detector's state.
    pub(crate) fn detector(&self) -> &Detector {
        &self.detector
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.parkers.len()
    }

    /// Queues a task: onto this worker's LIFO slot / deque when called on one of our workers,
    /// else onto the injector. `is_yield` sends it to the back of the deque instead of the LIFO slot.
    pub(crate) fn schedule(&self, handle: &Handle, task: Entry, is_yield: bool) {
        let leftover = WORKER.with(|w| {
            let ctx = w.get();
            if ctx.is_null() {
                return Some(task);
            }
            // SAFETY: a non-null WORKER points at the WorkerContext on this thread's stack in
            // `run`, which outlives every use on this thread (it is reset before `run` returns).
            let ctx = unsafe { &*ctx };
            if !Handle::ptr_eq(&ctx.handle, handle) {
                return Some(task); // a worker of another runtime
            }
            let Ok(mut core) = ctx.core.try_borrow_mut() else {
                self.stats[ctx.index].overflowed.inc();
                return Some(task);
            };
            let Some(core) = core.as_mut() else {
                self.stats[ctx.index].overflowed.inc();
                return Some(task);
            };
            core.sampler.sample(&task, || handle.inner.sample_period);
            // With hand-off on, the LIFO slot stays empty: a task there could not be taken
            // from a worker stuck in a long poll.
            let pushed_to_deque = if is_yield || self.hand_off {
                core.local.push(task);
                true
            } else if let Some(prev) = core.lifo.replace(task) {
                core.local.push(prev);
                true
            } else {
                false
            };
            if pushed_to_deque {
                // Others can steal it now. Wake one if nobody is searching and either the
                // backlog has reached the spread threshold or no sleeper will come by on its
                // own (not this worker: it may be on the sleepers list while its reactor turn
                // queues these tasks).
                let backlog = core.local.len() >= self.spread_threshold;
                self.notify_parked(handle, Some(core.index), backlog);
            }
            None
        });
        if let Some(task) = leftover {
            crate::metrics::sample_remote(&task, || handle.inner.sample_period);
            self.injector.push(task);
            self.notify_parked(handle, None, true);
        }
    }

    /// Wakes one parked worker other than `except`, if the no-thundering-herd rules (see
    /// `idle.rs`) say so. `backlog`: the work is worth a wake-up even if a sibling sleeps light.
    fn notify_parked(&self, handle: &Handle, except: Option<usize>, backlog: bool) {
        if let Some(index) = self.idle.worker_to_notify(except, backlog) {
            self.parkers[index].unpark(&*handle.inner);
        }
    }

    /// Starts the shutdown: every worker leaves its loop at its next check.
    pub(crate) fn shutdown(&self, handle: &Handle) {
        self.shutdown.store(true, Ordering::SeqCst);
        // After the flag: a worker that sees `attention` raised by this then sees the flag.
        self.detector.stop();
        for parker in self.parkers.iter() {
            parker.unpark(&*handle.inner);
        }
    }

    /// The monitor found worker `stuck` inside a long poll: with hand-off on, get the tasks
    /// queued behind that poll run elsewhere, and make sure someone drives I/O and timers.
    ///
    /// 1. The stuck worker's LIFO slot is empty (with hand-off on, wakes skip it) and its deque
    ///    is stealable: if it (or the injector) holds tasks, wake a parked sibling as a
    ///    searcher, which steals half of it; that thief's own wake rules bring more help.
    /// 2. Only a parked worker turns the reactor and fires timers. A sibling sleeping on its
    ///    condvar (because the stuck worker held the reactor when it parked) would leave every
    ///    timer and socket waiting for the stuck poll; unpark one parked sibling so that it
    ///    parks again, in the reactor this time.
    pub(crate) fn hand_off(&self, stuck: usize, handle: &Handle) {
        if !self.hand_off {
            return;
        }
        // 1.
        if !self.stealers[stuck].is_empty() || !self.injector.is_empty() {
            self.notify_parked(handle, Some(stuck), true);
        }
        // 2.
        if let Some(sibling) =
            (0..self.num_workers()).find(|&i| i != stuck && self.idle.is_parked(i))
        {
            self.parkers[sibling].unpark(&*handle.inner);
        }
    }

    /// Drops every task still in the injector (after the workers stopped).
    pub(crate) fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(task) => drop(task),
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
    }

    /// A snapshot of every worker's counters, with its local queue's depth.
    pub(crate) fn worker_metrics(&self) -> Vec<WorkerMetrics> {
        self.stats
            .iter()
            .zip(self.stealers.iter())
            .map(|(stats, stealer)| stats.snapshot(stealer.len()))
            .collect()
    }

    /// Tasks waiting in the injector.
    pub(crate) fn injector_depth(&self) -> usize {
        self.injector.len()
    }

    /// Takes the core of worker `index` for the thread that will run it.
    pub(crate) fn take_core(&self, index: usize) -> Option<Box<Core>> {
        let mut cores = self.cores.lock();
        let pos = cores.iter().position(|c| c.index == index)?;
        Some(cores.swap_remove(pos))
    }
}

/// The body of a worker thread.
///
/// The loop, step by step:
/// 1. Leave if the runtime is shutting down (and report the end of a poll the long-poll
///    monitor flagged).
/// 2. Every `event_interval` ticks, poll the reactor and timers without sleeping, so I/O and
///    timers make progress even when every worker is busy.
/// 3. Take a task from local sources: every `global_queue_interval` ticks the injector first;
///    otherwise the LIFO slot (unless the chain cap is hit), the local deque, then the injector.
/// 4. None local: become a searcher (if allowed) and steal half of a random victim's deque.
/// 5. Found one: stop searching (waking another searcher if we were the last), run it.
/// 6. Nothing anywhere: park (on the reactor or a condvar), then loop.
pub(crate) fn run_worker(handle: Handle, core: Box<Core>) {
    let ctx = WorkerContext {
        handle: handle.clone(),
        index: core.index,
        core: RefCell::new(Some(core)),
    };
    let _enter = context::enter(handle.clone());
    WORKER.with(|w| w.set(&ctx));
    /// Clears the thread-local even if a task's destructor panics out of the loop.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            WORKER.with(|w| w.set(ptr::null()));
        }
    }
    let _reset = Reset;

    let shared = handle.multi_thread();
    let stats = &shared.stats[ctx.index];
    let _record = RecordScope::enter(shared.detector.watch(ctx.index), stats.polls.word());
    let tracing = shared.trace;
    let _trace = crate::trace::enter_worker(handle.inner.trace.as_ref(), ctx.index);
    let mut busy = BusyClock::start();
    loop {
        // 1. One test per turn for both: the detector's `attention` is raised at shutdown and
        //    when the monitor flagged a poll of some worker (`monitor/record.rs`).
        if shared.detector.attention() {
            if shared.shutdown.load(Ordering::Acquire) {
                break;
            }
            shared.detector.end_flagged(ctx.index);
        }
        // 2. Driver first, so that whatever it wakes lands in our queues before we look.
        let maintenance = {
            let mut core = ctx.core.borrow_mut();
            let core = core
                .as_mut()
                .expect("the core stays in the context while running");
            core.tick = core.tick.wrapping_add(1);
            core.tick.is_multiple_of(shared.event_interval)
        };
        if maintenance {
            busy.flush(stats);
            Parker::poll_driver_now(&*handle.inner);
            if tracing {
                crate::trace::queues(
                    shared.stealers[ctx.index].len(),
                    Some(shared.injector.len()),
                );
            }
        }
        // 3.
        let task = {
            let mut core = ctx.core.borrow_mut();
            next_local_task(shared, core.as_mut().expect("core present"), stats)
        };
        // 4.
        let task = task.or_else(|| {
            let mut core = ctx.core.borrow_mut();
            steal_work(shared, core.as_mut().expect("core present"), stats)
        });
        match task {
            // 5.
            Some(task) => {
                let was_last_searcher = {
                    let mut core = ctx.core.borrow_mut();
                    let core = core.as_mut().expect("core present");
                    core.searching && {
                        core.searching = false;
                        shared.idle.transition_from_searching()
                    }
                };
                if was_last_searcher {
                    shared.notify_parked(&handle, None, true);
                }
                // (While tracing, every entry is stamped, and `run` traces the poll.)
                stats.run(task);
            }
            // 6.
            None => {
                busy.flush(stats);
                park(shared, &ctx, stats);
                stats.set_state(WorkerState::Busy);
                busy.restart();
            }
        }
    }
    busy.flush(stats);

    // Leaving: drop the queue entries this worker holds. The tasks themselves stay in the
    // owned-task list, which the runtime cancels after every worker has stopped.
    let core = ctx.core.borrow_mut().take();
    if let Some(mut core) = core {
        drop(core.lifo.take());
        while core.local.pop().is_some() {}
    }
}

/// Step 3 of the loop: the next task from this worker's own sources (and the injector).
fn next_local_task(shared: &MultiThread, core: &mut Core, stats: &WorkerStats) -> Option<Entry> {
    if core.tick.is_multiple_of(shared.global_queue_interval) {
        if let Some(task) = pop_injector(shared, core) {
            core.lifo_chain = 0;
            return Some(task);
        }
    }
    if let Some(task) = core.lifo.take() {
        if core.lifo_chain < MAX_LIFO_CHAIN {
            core.lifo_chain += 1;
            stats.lifo_hits.inc();
            return Some(task);
        }
        // Chain cap reached: the LIFO task waits its turn at the back of the deque.
        core.local.push(task);
    }
    core.lifo_chain = 0;
    core.local.pop().or_else(|| pop_injector(shared, core))
}

/// Moves a batch from the injector into the local deque and returns one task of it.
fn pop_injector(shared: &MultiThread, core: &mut Core) -> Option<Entry> {
    loop {
        match shared.injector.steal_batch_and_pop(&core.local) {
            Steal::Success(task) => return Some(task),
            Steal::Empty => return None,
            Steal::Retry => continue,
        }
    }
}

/// Step 4: steal about half of a random victim's deque, then try the injector once more.
fn steal_work(shared: &MultiThread, core: &mut Core, stats: &WorkerStats) -> Option<Entry> {
    if !core.searching {
        if !shared.idle.transition_to_searching() {
            return None;
        }
        core.searching = true;
    }
    let n = shared.stealers.len();
    let start = core.rand.next_below(n as u32) as usize;
    for i in 0..n {
        let victim = (start + i) % n;
        if victim == core.index {
            continue;
        }
        loop {
            let before = core.local.len();
            match shared.stealers[victim].steal_batch_and_pop(&core.local) {
                Steal::Success(task) => {
                    // The batch landed in our deque, but for the one we run now. (Saturating:
                    // a sibling may already be stealing some of it back.)
                    stats.steals.inc();
                    let moved = core.local.len().saturating_sub(before) as u64 + 1;
                    stats.stolen.add(moved);
                    // The victim's side, on its stats (added atomically: see `Taken`).
                    shared.stats[victim].taken.record(moved);
                    if core.trace {
                        crate::trace::steal(victim, moved);
                    }
                    return Some(task);
                }
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
    }
    pop_injector(shared, core)
}

/// Step 6: sleep until there may be work.
///
/// The first [`LIGHT_SLEEPS`] sleeps are light: at most [`LIGHT_SLEEP`] each, after which the
/// worker looks at every queue (siblings' deques included) by itself. A sibling with a small
/// backlog counts on that instead of waking us (see `idle.rs`). Then it sleeps deep, until
/// notified or woken by its own reactor turn.
fn park(shared: &MultiThread, ctx: &WorkerContext, stats: &WorkerStats) {
    let (index, was_searching) = {
        let mut core = ctx.core.borrow_mut();
        let core = core.as_mut().expect("core present");
        let s = core.searching;
        core.searching = false;
        (core.index, s)
    };
    // 1. Announce ourselves asleep (light). If we were the last searcher, a push may have
    //    skipped waking anyone because we were searching: look once more and pass the baton on.
    if shared.idle.transition_to_parked(index, was_searching) && has_visible_work(shared) {
        // Possibly ourselves (we are on the sleepers list now): then our park returns at once
        // and we search again, rather than leave the work for workers that may all be busy.
        shared.notify_parked(&ctx.handle, None, true);
    }
    // 2. Sleep until notified, or until the reactor/timers gave this worker something to run,
    //    or (while light) until it is time to look around. Never sleep on work of our own: a
    //    task in our LIFO slot cannot be stolen, so it would wait for our next wake-up.
    let has_local = || {
        let core = ctx.core.borrow();
        let core = core.as_ref().expect("core present");
        core.lifo.is_some() || !core.local.is_empty()
    };
    let mut first = true;
    let mut light_sleeps = 0;
    loop {
        let light = light_sleeps < LIGHT_SLEEPS;
        if !(first && has_local()) {
            if light {
                stats.parks_light.inc();
                stats.set_state(WorkerState::ParkedLight);
            } else {
                stats.parks_deep.inc();
                stats.set_state(WorkerState::ParkedDeep);
            }
            let _span = crate::trace::park_span(shared.trace, light);
            shared.parkers[index].park(&*ctx.handle.inner, light.then_some(LIGHT_SLEEP));
        }
        first = false;
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        let has_local = has_local();
        let set_searching = || {
            ctx.core
                .borrow_mut()
                .as_mut()
                .expect("core present")
                .searching = true;
        };
        if !shared.idle.is_parked(index) {
            // Woken by `notify_parked`: it counted us awake and searching.
            stats.unparks.inc();
            set_searching();
            return;
        }
        // Get up on our own if the reactor turn or a timer queued tasks here, if work waits
        // globally, or (light sleepers) if a sibling's deque has something to steal.
        let mut get_up =
            has_local || !shared.injector.is_empty() || (light && has_visible_work(shared));
        if !get_up && light {
            light_sleeps += 1;
            // Turning deep: a push may have counted on us coming by, so look once more.
            get_up = light_sleeps == LIGHT_SLEEPS
                && shared.idle.sleep_deep(index)
                && has_visible_work(shared);
        }
        if get_up {
            if !shared.idle.transition_from_parked(index) {
                // Raced with a notify that just counted us as searching.
                set_searching();
            }
            return;
        }
        // Nothing yet: sleep again.
    }
}

/// Whether any queue that a woken worker could take from holds a task.
fn has_visible_work(shared: &MultiThread) -> bool {
    !shared.injector.is_empty() || shared.stealers.iter().any(|s| !s.is_empty())
}

/// A tiny xorshift generator for picking steal victims (quality is irrelevant, speed is not).
#[derive(Debug)]
struct FastRand {
    /// INVARIANT: never zero (xorshift's fixed point).
    state: u64,
}

impl FastRand {
    fn new(seed: u64) -> FastRand {
        FastRand {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    fn next_below(&mut self, n: u32) -> u32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        (((x >> 32) * n as u64) >> 32) as u32
    }
}

impl std::fmt::Debug for MultiThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiThread")
            .field("workers", &self.num_workers())
            .field("idle", &self.idle)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::runtime::Handle;

    /// The light sleeper's own look is what rescues a small backlog. The test waits until its
    /// sibling sleeps light and nobody searches, so that a push below the threshold wakes
    /// nobody; then it queues a stealable task and blocks the worker until that task has run
    /// elsewhere. Without the light sleeper's look (and the look when it turns deep) the task
    /// would be stranded and the 10 s deadline would fail the round.
    #[test]
    fn a_light_sleeper_steals_a_small_backlog_without_being_woken() {
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(2)
            .spread_threshold(64)
            .build()
            .unwrap();
        for round in 0..20 {
            let stolen = rt.block_on(async {
                crate::spawn(async {
                    let handle = Handle::current();
                    let idle = &handle.multi_thread().idle;
                    let deadline = Instant::now() + Duration::from_secs(10);
                    // Us awake, the sibling light, nobody searching. If the sibling has gone
                    // deep meanwhile (a slow machine), give it a task from outside so that it
                    // runs and parks light again.
                    loop {
                        match idle.counts() {
                            (1, 1, 0) => break,
                            (1, 0, 0) => {
                                let h = handle.clone();
                                std::thread::spawn(move || drop(h.spawn(async {})))
                                    .join()
                                    .unwrap();
                            }
                            _ => {}
                        }
                        assert!(Instant::now() < deadline, "the sibling never slept light");
                        std::thread::yield_now();
                    }
                    let first = Arc::new(AtomicBool::new(false));
                    let f = first.clone();
                    // The first spawn goes to the LIFO slot; the second pushes it into the deque.
                    crate::spawn(async move { f.store(true, Ordering::Release) });
                    crate::spawn(async {});
                    while !first.load(Ordering::Acquire) && Instant::now() < deadline {
                        std::thread::yield_now();
                    }
                    first.load(Ordering::Acquire)
                })
                .await
                .unwrap()
            });
            assert!(stolen, "round {round}: the task was stranded");
        }
    }
}

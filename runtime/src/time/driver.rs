//! The timer driver: one [`Wheel`] per runtime behind a mutex, plus the clock that maps
//! `Instant`s to the wheel's ticks of [`TICK_NANOS`] (250 µs).
//!
//! Talks to: the executor (a parked worker asks [`TimeDriver::next_deadline`] for its epoll
//! timeout and calls [`TimeDriver::process_at`] after it wakes; busy workers call `process_at`
//! now and then), and [`Sleep`](super::Sleep) (registers, re-arms and removes its timer here).
//!
//! Invariants:
//! - INVARIANT (never early): a deadline becomes tick `ceil((deadline - start) / tick)` and the
//!   clock reads `floor((now - start) / tick)`, so a timer fires only when `now >= deadline`.
//! - INVARIANT (no waker under the lock): wakers are woken and dropped only after the mutex is
//!   released. Waking runs scheduler code and dropping a waker may drop a whole task (whose own
//!   `Sleep` would then lock this mutex again), so doing either under the lock could deadlock.
//! - INVARIANT (cache): `next_tick` equals the wheel's `next_expiration()` (or `NONE`) whenever
//!   the mutex is unlocked; it is only written with the mutex held.

use std::task::Waker;
use std::time::{Duration, Instant};

use super::wheel::Wheel;
use crate::loom::{AtomicU64, Mutex, Ordering};

/// `next_tick` value meaning "no timer pending".
const NONE: u64 = u64::MAX;

/// What the wheel stores for one `Sleep`.
#[derive(Debug)]
pub(crate) struct TimerState {
    /// The task to wake when the timer fires; refreshed on every pending poll.
    waker: Option<Waker>,
    /// Set when the timer fired (or the driver shut down). The `Sleep` reads it on its next poll.
    fired: bool,
}

/// The wheel's resolution: one tick is 250 µs. Deadlines round up to a whole tick, so a timer
/// fires at most one tick late (plus wake-up latency), never early. A millisecond tick would
/// make a 10 ms sleep wake up to 1 ms late; a finer tick costs only more frequent cascades
/// (the six levels still span 64^6 ticks, about 199 days, before the overflow list).
pub(crate) const TICK_NANOS: u64 = 250_000;

/// The timer driver: every pending timer of one runtime. Lives in `runtime::Shared` as `time`.
#[derive(Debug)]
pub(crate) struct TimeDriver {
    /// The instant that tick 0 stands for; ticks count whole [`TICK_NANOS`] periods after it.
    start: Instant,
    /// The wheel's earliest expiration tick, or [`NONE`], readable without the lock so that
    /// `next_deadline` (before every park) and `process_at`'s "nothing due" check stay cheap.
    next_tick: AtomicU64,
    /// Goes up whenever timers fire (or the driver shuts down). A `Sleep` that registered while
    /// it read generation `g` and still reads `g` knows its timer has not fired and still holds
    /// its waker, so it can return `Pending` without the lock (see `Sleep::poll_elapsed`).
    /// Written only with the mutex held.
    fire_generation: AtomicU64,
    /// The wheel and the shutdown flag.
    inner: Mutex<Inner>,
}

/// The part of the driver behind its mutex.
#[derive(Debug)]
struct Inner {
    /// Every registered timer, pending or fired-but-not-yet-collected.
    wheel: Wheel<TimerState>,
    /// Set by `shutdown`: every timer has fired and new ones fire at once.
    is_shutdown: bool,
}

/// What [`TimeDriver::poll_timer`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TimerPoll {
    /// The deadline has passed (or the runtime is shutting down): the sleep is over.
    Fired,
    /// Still waiting; the waker is stored. `earlier` is true when this timer moved the earliest
    /// deadline earlier, so the caller must wake the parked worker to shorten its timeout.
    Pending {
        /// The earliest deadline moved earlier.
        earlier: bool,
    },
}

impl TimeDriver {
    /// A driver with no timers, whose clock starts now.
    pub(crate) fn new() -> Self {
        Self::with_start(Instant::now())
    }

    /// A driver whose tick 0 is `start` (tests pick their own clock).
    pub(crate) fn with_start(start: Instant) -> Self {
        TimeDriver {
            start,
            next_tick: AtomicU64::new(NONE),
            fire_generation: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                wheel: Wheel::new(),
                is_shutdown: false,
            }),
        }
    }

    /// Fires (wakes) every timer due at or before `now`; returns how many fired.
    /// Cheap when nothing is due: one atomic load, no lock.
    pub(crate) fn process_at(&self, now: Instant) -> usize {
        let now_tick = self.tick_floor(now);
        // Acquire pairs with the Release store in `refresh_cache`: we see the latest earliest tick.
        if now_tick < self.next_tick.load(Ordering::Acquire) {
            return 0;
        }
        let mut wakers = Vec::new();
        let fired = {
            let mut inner = self.inner.lock();
            let fired = self.fire_due(&mut inner.wheel, now_tick, &mut wakers);
            self.refresh_cache(&inner.wheel);
            fired
        };
        // INVARIANT (no waker under the lock): the guard is gone.
        wakers.into_iter().for_each(Waker::wake);
        fired
    }

    /// The earliest pending deadline (exact on the wheel's lowest level, otherwise the moment the
    /// timer's slot cascades, which is earlier). One atomic load.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        // Acquire pairs with the Release store in `refresh_cache`.
        match self.next_tick.load(Ordering::Acquire) {
            NONE => None,
            tick => tick
                .checked_mul(TICK_NANOS)
                .and_then(|ns| self.start.checked_add(Duration::from_nanos(ns))),
        }
    }

    /// Fires every pending timer and makes every later one fire at once: at shutdown, sleeps
    /// complete immediately (early) instead of waiting for a runtime that no longer runs.
    pub(crate) fn shutdown(&self) {
        let mut wakers = Vec::new();
        {
            let mut inner = self.inner.lock();
            inner.is_shutdown = true;
            self.bump_generation();
            self.fire_due(&mut inner.wheel, u64::MAX, &mut wakers);
            self.refresh_cache(&inner.wheel);
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The `Sleep` side: registers the timer for `deadline` on first use (storing its key in
    /// `key`), or refreshes its waker; reports whether it has fired. `now` is the caller's clock
    /// reading, already known to be before `deadline`.
    pub(crate) fn poll_timer(
        &self,
        key: &mut Option<usize>,
        deadline: Instant,
        now: Instant,
        waker: &Waker,
    ) -> TimerPoll {
        let mut wakers = Vec::new();
        let mut old_waker = None;
        let result = {
            let mut inner = self.inner.lock();
            if inner.is_shutdown {
                return TimerPoll::Fired;
            }
            // Bring the wheel up to the present first, so the new deadline is placed relative
            // to now (firing whatever else is due on the way; those are woken below).
            self.fire_due(&mut inner.wheel, self.tick_floor(now), &mut wakers);
            let k = match *key {
                Some(k) => k,
                None => {
                    let k = inner.wheel.insert(TimerState {
                        waker: None,
                        fired: false,
                    });
                    *key = Some(k);
                    if !inner.wheel.schedule(k, self.tick_ceil(deadline)) {
                        inner.wheel.get_mut(k).fired = true;
                    }
                    k
                }
            };
            let state = inner.wheel.get_mut(k);
            if state.fired {
                TimerPoll::Fired
            } else {
                if !matches!(&state.waker, Some(w) if w.will_wake(waker)) {
                    old_waker = state.waker.replace(waker.clone());
                }
                let earlier = self.refresh_cache(&inner.wheel);
                TimerPoll::Pending { earlier }
            }
        };
        drop(old_waker);
        wakers.into_iter().for_each(Waker::wake);
        result
    }

    /// Moves registered timer `key` to `deadline` (a `Sleep::reset`). If the new deadline is
    /// already due the timer fires now. Returns true when the earliest deadline moved earlier.
    pub(crate) fn reset_timer(&self, key: usize, deadline: Instant) -> bool {
        let mut to_wake = None;
        let earlier = {
            let mut inner = self.inner.lock();
            if inner.is_shutdown {
                return false;
            }
            let scheduled = inner.wheel.schedule(key, self.tick_ceil(deadline));
            let state = inner.wheel.get_mut(key);
            state.fired = !scheduled;
            if !scheduled {
                to_wake = state.waker.take();
                self.bump_generation();
            }
            self.refresh_cache(&inner.wheel)
        };
        if let Some(w) = to_wake {
            w.wake();
        }
        earlier
    }

    /// Forgets timer `key` (its `Sleep` completed or was dropped). O(1).
    pub(crate) fn remove_timer(&self, key: usize) {
        let state = {
            let mut inner = self.inner.lock();
            let state = inner.wheel.remove(key);
            self.refresh_cache(&inner.wheel);
            state
        };
        drop(state); // INVARIANT (no waker under the lock): its waker is dropped out here.
    }

    /// Number of timers waiting in the wheel (for tests and metrics).
    pub(crate) fn pending(&self) -> usize {
        self.inner.lock().wheel.pending()
    }

    /// The fire generation (see the field): Acquire pairs with the Release bump, so a reader
    /// that sees no change also sees no fire.
    pub(crate) fn fire_generation(&self) -> u64 {
        self.fire_generation.load(Ordering::Acquire)
    }

    /// Marks that timers fired. Called with the mutex held, in the same critical section that
    /// takes the fired timers' wakers (which are woken after the unlock, so a `Sleep` that read
    /// the old generation just before still gets its wake-up).
    fn bump_generation(&self) {
        self.fire_generation.fetch_add(1, Ordering::Release);
    }

    /// Polls the wheel up to `now_tick`, marking each due timer fired and collecting its waker.
    /// Called with the mutex held (it takes the wheel by reference to show it).
    fn fire_due(
        &self,
        wheel: &mut Wheel<TimerState>,
        now_tick: u64,
        wakers: &mut Vec<Waker>,
    ) -> usize {
        let fired = wheel.poll(now_tick, |_, state| {
            state.fired = true;
            wakers.extend(state.waker.take());
        });
        if fired > 0 {
            self.bump_generation();
        }
        fired
    }

    /// Re-reads the wheel's earliest expiration into `next_tick`. Returns true if it moved
    /// earlier. Must be called with the mutex held (it takes the wheel by reference to show it).
    fn refresh_cache(&self, wheel: &Wheel<TimerState>) -> bool {
        let new = wheel.next_expiration().unwrap_or(NONE);
        // Release pairs with the Acquire loads in `process_at` / `next_deadline`. The swap
        // itself is ordered by the mutex against other writers.
        let old = self.next_tick.swap(new, Ordering::Release);
        new < old
    }

    /// Whole ticks from `start` to `now`, rounded down (the clock).
    fn tick_floor(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start);
        u64::try_from(since.as_nanos() / u128::from(TICK_NANOS)).unwrap_or(u64::MAX)
    }

    /// Whole ticks from `start` to `deadline`, rounded up (never fire early).
    fn tick_ceil(&self, deadline: Instant) -> u64 {
        let until = deadline.saturating_duration_since(self.start);
        let ticks = until.as_nanos().div_ceil(u128::from(TICK_NANOS));
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }
}

// Real locks and real wakers: not a loom model.
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::test_util::CountingWaker;

    fn counter() -> (CountingWaker, Waker) {
        let c = CountingWaker::new();
        let w = c.waker();
        (c, w)
    }

    fn wakes(c: &CountingWaker) -> usize {
        c.count()
    }

    /// Rounding: deadlines round up and the clock rounds down, so nothing fires early.
    #[test]
    fn ticks_round_toward_never_early() {
        let start = Instant::now();
        let d = TimeDriver::with_start(start);
        let cases: &[(u64, u64, u64)] = &[
            // (nanoseconds after start, tick_floor, tick_ceil)
            (0, 0, 0),
            (1, 0, 1),
            (249_999, 0, 1),
            (250_000, 1, 1),
            (10_000_001, 40, 41),
        ];
        for &(ns, floor, ceil) in cases {
            let t = start + Duration::from_nanos(ns);
            assert_eq!(d.tick_floor(t), floor, "floor of {ns} ns");
            assert_eq!(d.tick_ceil(t), ceil, "ceil of {ns} ns");
        }
        assert_eq!(d.tick_ceil(start - Duration::from_millis(5)), 0);
    }

    /// A registered timer shows up in `next_deadline`, fires in `process_at` at (not before) its
    /// deadline, wakes its waker once, and then reports `Fired`.
    #[test]
    fn register_fire_and_collect() {
        let start = Instant::now();
        let d = TimeDriver::with_start(start);
        let (count, waker) = counter();
        let deadline = start + Duration::from_micros(10_500);
        let mut key = None;
        let first = d.poll_timer(&mut key, deadline, start, &waker);
        assert_eq!(first, TimerPoll::Pending { earlier: true });
        assert_eq!(
            d.next_deadline(),
            Some(start + Duration::from_micros(10_500))
        );
        // Polling again with the same waker does not move the deadline.
        let again = d.poll_timer(&mut key, deadline, start, &waker);
        assert_eq!(again, TimerPoll::Pending { earlier: false });
        assert_eq!(d.process_at(start + Duration::from_micros(10_499)), 0);
        assert_eq!(wakes(&count), 0);
        assert_eq!(d.process_at(start + Duration::from_micros(10_500)), 1);
        assert_eq!(wakes(&count), 1);
        assert_eq!(d.next_deadline(), None);
        assert_eq!(
            d.poll_timer(&mut key, deadline, start, &waker),
            TimerPoll::Fired
        );
        d.remove_timer(key.unwrap()); // key was set by the first poll
        assert_eq!(d.pending(), 0);
    }

    /// A later timer does not ask for an unpark; an earlier one does.
    #[test]
    fn earlier_deadline_requests_unpark() {
        let start = Instant::now();
        let d = TimeDriver::with_start(start);
        let (_c, waker) = counter();
        let (mut a, mut b, mut c) = (None, None, None);
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(
            d.poll_timer(&mut a, at(50), start, &waker),
            TimerPoll::Pending { earlier: true }
        );
        assert_eq!(
            d.poll_timer(&mut b, at(60), start, &waker),
            TimerPoll::Pending { earlier: false }
        );
        assert_eq!(
            d.poll_timer(&mut c, at(20), start, &waker),
            TimerPoll::Pending { earlier: true }
        );
    }

    /// Removing a timer cancels it: it never wakes and the next deadline moves on.
    #[test]
    fn removed_timer_never_fires() {
        let start = Instant::now();
        let d = TimeDriver::with_start(start);
        let (count, waker) = counter();
        let mut key = None;
        d.poll_timer(&mut key, start + Duration::from_millis(5), start, &waker);
        d.remove_timer(key.unwrap()); // set by poll_timer above
        assert_eq!(d.next_deadline(), None);
        assert_eq!(d.process_at(start + Duration::from_secs(1)), 0);
        assert_eq!(wakes(&count), 0);
    }

    /// Reset moves a timer; a reset into the past fires it at once.
    #[test]
    fn reset_moves_or_fires() {
        let start = Instant::now();
        let d = TimeDriver::with_start(start);
        let (count, waker) = counter();
        let mut key = None;
        d.poll_timer(&mut key, start + Duration::from_millis(100), start, &waker);
        let k = key.unwrap(); // set by poll_timer above
        assert!(d.reset_timer(k, start + Duration::from_millis(10)));
        assert_eq!(d.next_deadline(), Some(start + Duration::from_millis(10)));
        d.process_at(start + Duration::from_millis(5));
        assert!(!d.reset_timer(k, start));
        assert_eq!(wakes(&count), 1);
        assert_eq!(
            d.poll_timer(&mut key, start, start, &waker),
            TimerPoll::Fired
        );
    }

    /// Shutdown fires every pending timer, and timers registered afterwards fire at once.
    #[test]
    fn shutdown_fires_everything() {
        let start = Instant::now();
        let d = TimeDriver::with_start(start);
        let (count, waker) = counter();
        let mut keys: Vec<Option<usize>> = vec![None; 100];
        for (i, key) in keys.iter_mut().enumerate() {
            let deadline = start + Duration::from_secs(1 + i as u64 * 1000);
            d.poll_timer(key, deadline, start, &waker);
        }
        d.shutdown();
        assert_eq!(wakes(&count), 100);
        assert_eq!(d.next_deadline(), None);
        let mut late = None;
        let far = start + Duration::from_secs(3600);
        assert_eq!(
            d.poll_timer(&mut late, far, start, &waker),
            TimerPoll::Fired
        );
    }
}

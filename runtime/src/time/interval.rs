//! [`Interval`]: a ticker that yields at a fixed period, built on one re-armed [`Sleep`].
//!
//! Talks to: [`Sleep`] only. Each tick re-arms the same sleep for the next deadline, chosen by
//! [`MissedTickBehavior`] when the task fell behind.
//!
//! Invariant: the sleep's deadline is always the time of the next tick to hand out; ticks are
//! handed out in increasing order and never before their time.

use std::future::poll_fn;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{far_future, sleep_until, Sleep};

/// A ticker whose first tick completes at once and then every `period`.
///
/// Panics if `period` is zero, or outside a runtime.
///
/// ```
/// use std::time::Duration;
///
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let mut interval = spindle::time::interval(Duration::from_millis(10));
///     let first = interval.tick().await; // immediate
///     let second = interval.tick().await; // 10 ms later
///     assert!(second - first >= Duration::from_millis(10));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// A ticker whose first tick is at `start` and then every `period`.
///
/// Panics if `period` is zero, or outside a runtime.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let start = Instant::now() + Duration::from_millis(5);
///     let mut interval = spindle::time::interval_at(start, Duration::from_millis(5));
///     assert_eq!(interval.tick().await, start);
/// });
/// ```
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(!period.is_zero(), "interval period must be non-zero");
    Interval {
        delay: sleep_until(start),
        period,
        missed_tick_behavior: MissedTickBehavior::default(),
    }
}

/// What an [`Interval`] does when a tick is missed: when the task asks for a tick so late that
/// the tick after it is already due.
///
/// With a 10 ms period, ticks due at 0, 10, 20, ... and a task that stalls from 5 to 37 ms:
/// ```text
/// Burst: 10, 20, 30 at once (at 37), then 40, 50, ...   keeps the schedule, catches up
/// Delay: 10 at 37, then 47, 57, ...                     restarts the period from now
/// Skip:  10 at 37, then 40, 50, ...                     drops the missed ticks, keeps the grid
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Hand out the missed ticks as fast as they are asked for, until back on schedule.
    #[default]
    Burst,
    /// Start the schedule over: the next tick is one period after the late one was handed out.
    Delay,
    /// Drop the missed ticks: the next tick is the next one on the original grid after now.
    Skip,
}

impl MissedTickBehavior {
    /// The deadline after a tick that was due at `due` and handed out, late, at `now`.
    fn next_after_late(self, due: Instant, now: Instant, period: Duration) -> Instant {
        let next = match self {
            MissedTickBehavior::Burst => due.checked_add(period),
            MissedTickBehavior::Delay => now.checked_add(period),
            MissedTickBehavior::Skip => {
                // How far `now` is into the current period; the next grid point is the rest of it.
                let into = (now - due).as_nanos() % period.as_nanos();
                let rest = period - Duration::from_nanos(u64::try_from(into).unwrap_or(0));
                now.checked_add(rest)
            }
        };
        next.unwrap_or_else(|| far_future(now))
    }
}

/// A ticker created by [`interval`] or [`interval_at`]; await [`Interval::tick`] in a loop.
#[derive(Debug)]
pub struct Interval {
    /// Sleeps until the next tick. Its deadline is the next tick's time (module invariant).
    delay: Sleep,
    /// Time between ticks. INVARIANT: non-zero.
    period: Duration,
    /// What to do after falling behind.
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for (not when it was
    /// handed out: under load that is later).
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// The poll behind [`tick`](Interval::tick), for hand-written futures.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let due = self.delay.deadline();
        let now = Instant::now();
        let on_time = due
            .checked_add(self.period)
            .unwrap_or_else(|| far_future(due));
        // A tick is missed when the next one is already due by the time this one is handed out.
        let next = if now >= on_time {
            self.missed_tick_behavior
                .next_after_late(due, now, self.period)
        } else {
            on_time
        };
        self.delay.reset(next);
        Poll::Ready(due)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        let now = Instant::now();
        let next = now
            .checked_add(self.period)
            .unwrap_or_else(|| far_future(now));
        self.delay.reset(next);
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The current [`MissedTickBehavior`].
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Sets what happens after falling behind.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spindle::time::{interval, MissedTickBehavior};
    ///
    /// let rt = spindle::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let mut ticker = interval(Duration::from_millis(10));
    ///     ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    ///     assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Skip);
    /// });
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table from the `MissedTickBehavior` docs: period 10 ms, tick due at 10 handed out at 37.
    #[test]
    fn next_after_late_table() {
        let base = Instant::now();
        let ms = |n| base + Duration::from_millis(n);
        let period = Duration::from_millis(10);
        let cases = [
            (MissedTickBehavior::Burst, 10, 37, 20),
            (MissedTickBehavior::Delay, 10, 37, 47),
            (MissedTickBehavior::Skip, 10, 37, 40),
            (MissedTickBehavior::Skip, 10, 40, 50), // exactly on a grid point: the next one
            (MissedTickBehavior::Skip, 0, 20, 30),
        ];
        for (behavior, due, now, expected) in cases {
            assert_eq!(
                behavior.next_after_late(ms(due), ms(now), period),
                ms(expected),
                "{behavior:?} due {due} now {now}"
            );
        }
    }
}

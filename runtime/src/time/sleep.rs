//! [`Sleep`], the future behind [`sleep`] and [`sleep_until`]: `asyncio.sleep` for spindle.
//!
//! Talks to: the runtime's [`TimeDriver`](super::driver::TimeDriver) (through the `Handle` it
//! captured when it was created) and `coop` (each poll spends one unit of budget).
//!
//! A `Sleep` holds a *key* into the driver's wheel rather than an intrusive node, so it is
//! `Unpin` and can be moved freely. It registers lazily on its first pending poll, removes its
//! entry when it completes, and cancels it on drop; both are O(1).
//!
//! Invariants:
//! - INVARIANT: `key` is `Some` exactly while the driver's wheel holds an entry for this sleep.
//! - INVARIANT: `poll` returns `Ready` only when `Instant::now() >= deadline`, or after the
//!   runtime's timers shut down (then it completes early, by design).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::driver::TimerPoll;
use crate::runtime::{context, Handle};

/// Waits until `duration` has elapsed. Like `asyncio.sleep(seconds)`.
///
/// The returned [`Sleep`] is bound to the current runtime (this panics outside one). Resolution
/// is one timer tick (250 µs), and a sleep never completes before its deadline.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let start = Instant::now();
///     spindle::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    let deadline = now.checked_add(duration).unwrap_or_else(|| far_future(now));
    Sleep::new(deadline, "spindle::time::sleep")
}

/// Waits until `deadline`. A deadline in the past completes on the first poll.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     spindle::time::sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline, "spindle::time::sleep_until")
}

/// About 30 years from `now`: the deadline used when `now + duration` does not fit in an
/// `Instant`. Far enough to mean "never", near enough to compute with.
pub(crate) fn far_future(now: Instant) -> Instant {
    let thirty_years = Duration::from_secs(86_400 * 365 * 30);
    now.checked_add(thirty_years).unwrap_or(now)
}

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
///
/// `Sleep` is `Unpin`: it can be stored in a struct and polled without pinning. Dropping it
/// before it completes cancels the timer.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    /// The runtime whose timer driver holds our entry (captured at creation, so a `Sleep` can be
    /// polled or dropped from any thread).
    handle: Handle,
    /// When the sleep completes.
    deadline: Instant,
    /// Our entry in the driver's wheel, once registered. See the module INVARIANT.
    key: Option<usize>,
    /// Set when `poll` has returned `Ready`, so later polls are ready at once.
    completed: bool,
    /// The waker our wheel entry holds and the driver's fire generation read before it was
    /// stored. While the generation is unchanged no timer has fired, so the entry is still
    /// pending with that waker: a poll from the same task can return `Pending` at once, with
    /// no clock read and no lock. That is the common case of a timeout guarding I/O, which is
    /// polled on every wake-up of the I/O.
    registered: Option<(Waker, u64)>,
}

impl Sleep {
    /// A sleep until `deadline` on the current runtime; `what` names the caller in the panic.
    #[track_caller]
    fn new(deadline: Instant, what: &str) -> Sleep {
        Sleep {
            handle: context::expect_current(what),
            deadline,
            key: None,
            completed: false,
            registered: None,
        }
    }

    /// The instant at which this sleep completes.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = spindle::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let at = Instant::now() + Duration::from_secs(1);
    ///     assert_eq!(spindle::time::sleep_until(at).deadline(), at);
    /// });
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has been reached (or the sleep completed because the runtime shut
    /// down its timers).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = spindle::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let sleep = spindle::time::sleep(Duration::from_secs(60));
    ///     assert!(!sleep.is_elapsed());
    ///     assert!(spindle::time::sleep(Duration::ZERO).is_elapsed());
    /// });
    /// ```
    pub fn is_elapsed(&self) -> bool {
        self.completed || Instant::now() >= self.deadline
    }

    /// Moves the deadline to `deadline`, whether or not the sleep already completed; the sleep
    /// can then be awaited again. A task waiting on it is woken at the new deadline.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = spindle::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let mut sleep = spindle::time::sleep(Duration::from_secs(3600));
    ///     let soon = Instant::now() + Duration::from_millis(5);
    ///     sleep.reset(soon);
    ///     (&mut sleep).await;
    ///     assert!(Instant::now() >= soon);
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.completed = false;
        // A new deadline may already be due: the next poll must look at the clock.
        self.registered = None;
        if let Some(key) = self.key {
            if self.handle.inner.time.reset_timer(key, deadline) {
                self.handle.unpark_driver();
            }
        }
    }

    /// Polls for the deadline without spending coop budget. `Timeout` uses this so that an inner
    /// future which used up the budget cannot keep its deadline from being noticed.
    pub(crate) fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.completed {
            return Poll::Ready(());
        }
        let driver = &self.handle.inner.time;
        // 1. Fast path: registered with this task's waker and no timer fired since, so ours is
        //    still pending and will wake this task. (A deadline the driver has not processed yet
        //    may have passed; it fires on the driver's next turn, as it would for any sleeper.)
        let generation = driver.fire_generation();
        if let Some((waker, seen)) = &self.registered {
            if *seen == generation && self.key.is_some() && waker.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        // 2. The clock is the truth: a passed deadline is ready, registered or not.
        let now = Instant::now();
        if now >= self.deadline {
            self.complete();
            return Poll::Ready(());
        }
        // 3. Otherwise ask the driver (registering on first use) and leave our waker there.
        match driver.poll_timer(&mut self.key, self.deadline, now, cx.waker()) {
            TimerPoll::Fired => {
                self.complete();
                Poll::Ready(())
            }
            TimerPoll::Pending { earlier } => {
                match &mut self.registered {
                    Some((waker, seen)) if waker.will_wake(cx.waker()) => *seen = generation,
                    other => *other = Some((cx.waker().clone(), generation)),
                }
                // 4. A new earliest deadline: the parked worker's epoll timeout is too long now.
                if earlier {
                    self.handle.unpark_driver();
                }
                Poll::Pending
            }
        }
    }

    /// Marks the sleep done and frees its wheel entry.
    fn complete(&mut self) {
        self.completed = true;
        self.registered = None;
        if let Some(key) = self.key.take() {
            self.handle.inner.time.remove_timer(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A leaf future: spend budget first, so a loop over always-ready sleeps still yields.
        if crate::coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        self.get_mut().poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Cancel: O(1) unlink from the wheel. A fired entry is just freed.
        if let Some(key) = self.key.take() {
            self.handle.inner.time.remove_timer(key);
        }
    }
}

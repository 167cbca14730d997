//! [`timeout`] and [`timeout_at`]: run a future, but give up at a deadline
//! (`asyncio.wait_for(aw, timeout)` for spindle).
//!
//! Talks to: [`Sleep`] for the deadline. The wrapped future is polled in place, so [`Timeout`]
//! pins it structurally (see the `SAFETY` note in `poll`).
//!
//! Invariant: the inner future is polled first on every poll, so a future that is ready at the
//! deadline still wins; the deadline is checked without spending coop budget, so an inner future
//! that spends the whole budget cannot hide the deadline.

use std::error::Error;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep, sleep_until, Sleep};

/// Runs `future`, returning `Err(Elapsed)` if it has not completed within `duration`.
/// When the time is up, the future is dropped (cancelled) along with the `Timeout`.
///
/// ```
/// use std::time::Duration;
/// use spindle::time::{sleep, timeout};
///
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let quick = timeout(Duration::from_secs(5), async { 42 }).await;
///     assert_eq!(quick, Ok(42));
///     let slow = timeout(Duration::from_millis(10), sleep(Duration::from_secs(60))).await;
///     assert!(slow.is_err());
/// });
/// ```
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        delay: sleep(duration),
    }
}

/// Like [`timeout`], with an absolute deadline.
///
/// ```
/// use std::time::{Duration, Instant};
/// use spindle::time::timeout_at;
///
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let deadline = Instant::now() + Duration::from_secs(5);
///     assert_eq!(timeout_at(deadline, async { "done" }).await, Ok("done"));
/// });
/// ```
#[track_caller]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        delay: sleep_until(deadline),
    }
}

/// The error of a [`Timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

/// A future with a deadline; created by [`timeout`] and [`timeout_at`].
/// Its output is `Ok(output)` if the inner future finished first, `Err(Elapsed)` otherwise.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Timeout<F> {
    /// The future being raced against the deadline.
    /// INVARIANT: structurally pinned: once the `Timeout` is pinned, `future` is never moved.
    future: F,
    /// The deadline. `Sleep` is `Unpin`, so it needs no pinning.
    delay: Sleep,
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The inner future, mutably. Needs `&mut Timeout`, which a pinned `!Unpin` timeout never
    /// hands out, so this cannot break the pinning.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// The inner future, giving up the deadline.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // The pin projection: structural onto `future`, not onto `delay`. It is sound because
        // - `future` is never moved out while pinned: only `into_inner(self)` moves it, and that
        //   needs the `Timeout` by value, which a pinned `!Unpin` value never gives out;
        // - `Timeout` has no `Drop` impl that could move it and is not `repr(packed)`;
        // - `Timeout<F>` is `Unpin` only when `F` is (auto trait; `Sleep` is `Unpin`);
        // - `delay` is only used through `&mut`, which is fine because `Sleep: Unpin`.
        // SAFETY: nothing is moved out of `this` while pinned (the projection argument above).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this.future` lives inside a pinned `Timeout` and is structurally pinned (above).
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        // 1. The future first: if it is ready, it wins, even at the deadline.
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // 2. Then the deadline, without spending budget (see the module invariant).
        match this.delay.poll_elapsed(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

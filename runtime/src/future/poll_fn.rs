//! [`poll_fn`]: a future made from a closure — the smallest possible hand-written future.
//!
//! Used throughout the runtime to turn a `poll_*` method into something `.await`able
//! (`mpsc::Receiver::recv`, `oneshot::Sender::closed`, the [`join!`](crate::join) macro).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Creates a future whose `poll` calls `f`.
///
/// ```
/// use std::task::Poll;
/// use spindle::future::poll_fn;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// // A future that is pending once (waking itself so it gets polled again), then ready.
/// let mut first = true;
/// let v = poll_fn(|cx| {
///     if std::mem::take(&mut first) {
///         cx.waker().wake_by_ref();
///         Poll::Pending
///     } else {
///         Poll::Ready(7)
///     }
/// })
/// .await;
/// assert_eq!(v, 7);
/// # });
/// ```
pub fn poll_fn<T, F>(f: F) -> PollFn<F>
where
    F: FnMut(&mut Context<'_>) -> Poll<T>,
{
    PollFn { f }
}

/// The future of [`poll_fn`].
#[must_use = "futures do nothing unless polled"]
pub struct PollFn<F> {
    /// Called on every poll.
    f: F,
}

impl<F> fmt::Debug for PollFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollFn").finish_non_exhaustive()
    }
}

// `F: Unpin` keeps this free of unsafe pin projection: a closure that captured a pinned value by
// value could otherwise move it. Closures that capture references (the usual case) are `Unpin`.
impl<T, F> Future for PollFn<F>
where
    F: FnMut(&mut Context<'_>) -> Poll<T> + Unpin,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        (self.get_mut().f)(cx)
    }
}

//! [`select`]: race two futures, finish with the first one ready, and hand back the other.
//!
//! Design choice: the output is `Either<(A::Output, B), (B::Output, A)>`, not just the winner's
//! output. The loser is returned *unfinished* so the caller decides: keep awaiting it later, or drop
//! it — dropping a future is how Rust cancels it (asyncio's `task.cancel()`). The price is that both
//! futures must be [`Unpin`] so they can be moved out; wrap others in `std::pin::pin!` or `Box::pin`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One of two values: which future of a [`select`] finished first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Either<L, R> {
    /// The first (left) future won.
    Left(L),
    /// The second (right) future won.
    Right(R),
}

/// Waits for whichever of `a` and `b` finishes first; `a` is polled first when both are ready.
///
/// ```
/// use std::pin::pin;
/// use spindle::future::{select, Either};
/// use spindle::sync::oneshot;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (_keep_open, never) = oneshot::channel::<u32>();
/// let (tx, soon) = oneshot::channel::<u32>();
/// tx.send(2).unwrap();
/// match select(never, soon).await {
///     Either::Left(_) => unreachable!("nothing is ever sent on the left"),
///     Either::Right((value, left)) => {
///         assert_eq!(value, Ok(2));
///         drop(left); // cancel the loser
///     }
/// }
/// // Futures that are not Unpin (like `async` blocks) are pinned first:
/// let a = pin!(async { 1 });
/// let b = pin!(std::future::pending::<u8>());
/// assert!(matches!(select(a, b).await, Either::Left((1, _))));
/// # });
/// ```
pub fn select<A, B>(a: A, b: B) -> Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    Select {
        inner: Some((a, b)),
    }
}

/// The future of [`select`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Select<A, B> {
    /// Both futures. INVARIANT: `Some` until one finishes, then moved into the output.
    inner: Option<(A, B)>,
}

impl<A, B> Future for Select<A, B>
where
    A: Future + Unpin,
    B: Future + Unpin,
{
    type Output = Either<(A::Output, B), (B::Output, A)>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (a, b) = this.inner.as_mut().expect("Select polled after completion");
        if let Poll::Ready(out) = Pin::new(a).poll(cx) {
            // The INVARIANT on `inner`: it was `Some` just above.
            let (_, b) = this.inner.take().unwrap();
            return Poll::Ready(Either::Left((out, b)));
        }
        if let Poll::Ready(out) = Pin::new(b).poll(cx) {
            // As above.
            let (a, _) = this.inner.take().unwrap();
            return Poll::Ready(Either::Right((out, a)));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::oneshot;
    use crate::test_util::{block_on, poll_once, CountingWaker};
    use std::pin::pin;

    /// The ready future wins on either side, and the loser comes back still usable.
    #[test]
    fn picks_the_ready_one_and_returns_the_other() {
        let (tx_a, rx_a) = oneshot::channel::<&str>();
        let (tx_b, rx_b) = oneshot::channel::<&str>();
        tx_b.send("b").unwrap();
        let loser = match block_on(select(rx_a, rx_b)) {
            Either::Right((Ok("b"), loser)) => loser,
            other => panic!("expected the right side to win, got {other:?}"),
        };
        tx_a.send("a").unwrap();
        assert_eq!(block_on(loser), Ok("a"));

        let (tx_a, rx_a) = oneshot::channel::<u8>();
        let (_tx_b, rx_b) = oneshot::channel::<u8>();
        tx_a.send(1).unwrap();
        assert!(matches!(
            block_on(select(rx_a, rx_b)),
            Either::Left((Ok(1), _))
        ));
    }

    /// While neither is ready, select is pending and either side's wake-up wakes it.
    #[test]
    fn pending_until_one_is_ready() {
        let (_tx_a, rx_a) = oneshot::channel::<u8>();
        let (tx_b, rx_b) = oneshot::channel::<u8>();
        let w = CountingWaker::new();
        let mut sel = pin!(select(rx_a, rx_b));
        assert!(poll_once(sel.as_mut(), &w.waker()).is_pending());
        tx_b.send(5).unwrap();
        assert_eq!(w.count(), 1);
        assert!(matches!(
            poll_once(sel.as_mut(), &w.waker()),
            Poll::Ready(Either::Right((Ok(5), _)))
        ));
    }

    /// When both are ready, the left one wins (documented bias).
    #[test]
    fn left_wins_ties() {
        let a = std::future::ready('a');
        let b = std::future::ready('b');
        assert!(matches!(block_on(select(a, b)), Either::Left(('a', _))));
    }
}

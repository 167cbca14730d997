//! A one-shot channel: one value, sent once, from one [`Sender`] to one [`Receiver`].
//!
//! It is the reply path of request/response between tasks ("send me a job and a oneshot for the
//! answer"), and it is hot: the `ping_pong` benchmark creates one per message. So it takes no lock:
//! one allocation (`Inner`) holds the value slot, the two wakers, and an atomic state word whose
//! bits say who may touch which cell.
//!
//! ```text
//!        Sender ──► Inner { state, value, rx_waker, tx_waker } ◄── Receiver
//!
//!   state bits:   RX_WAKER_SET  rx_waker holds the receiver's waker   (set by the receiver)
//!                 TX_DONE       the sender finished: value stored,    (set by the sender; final)
//!                               or the sender dropped without a value
//!                 RX_CLOSED     the receiver closed or dropped         (set by the receiver; final)
//!                 TX_WAKER_SET  tx_waker holds the sender's waker      (set by the sender)
//! ```
//!
//! Who may touch which cell (the rules every `// SAFETY:` below points to):
//!
//! 1. `value` — the sender writes it only before setting `TX_DONE` (and takes it back if setting
//!    `TX_DONE` failed because `RX_CLOSED` was set); the receiver reads it only after it saw
//!    `TX_DONE`. `TX_DONE` is set with Release and seen with Acquire, so the write is visible.
//! 2. `rx_waker` — the receiver writes it only while `RX_WAKER_SET` is clear *and* `TX_DONE` is
//!    clear (it clears the bit itself first and checks `TX_DONE` in the same atomic step); the
//!    sender reads it only if `RX_WAKER_SET` was set in the state it replaced when setting `TX_DONE`.
//!    Because both steps are read-modify-writes of the same word, exactly one of them comes first:
//!    either the sender sees the bit (and the receiver then sees `TX_DONE` and keeps off the cell),
//!    or the receiver cleared it first (and the sender keeps off).
//! 3. `tx_waker` — the mirror image of rule 2, with the sender writing (`Sender::poll_closed`) and
//!    the receiver reading when it sets `RX_CLOSED`.
//! 4. Reads may overlap reads (the `will_wake` check reads a cell the other side may be reading).
//! 5. Once `TX_DONE` and `RX_CLOSED` are both set, or one side is gone, nobody writes a waker any
//!    more; whatever is left in the cells is dropped with `Inner` when the last `Arc` goes.
//!
//! The loom model in `runtime/tests/loom_oneshot.rs` checks these rules under every interleaving.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::{Arc, AtomicUsize, Ordering, UnsafeCell};

/// `rx_waker` holds the receiver's waker.
const RX_WAKER_SET: usize = 0b0001;
/// The sender is finished: the value is stored, or the sender was dropped without sending.
const TX_DONE: usize = 0b0010;
/// The receiver closed the channel or was dropped: sending fails from now on.
const RX_CLOSED: usize = 0b0100;
/// `tx_waker` holds the sender's waker (it waits in [`Sender::closed`]).
const TX_WAKER_SET: usize = 0b1000;

/// Creates a one-shot channel.
///
/// ```
/// use spindle::sync::oneshot;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, rx) = oneshot::channel();
/// spindle::spawn(async move {
///     tx.send(6 * 7).unwrap();
/// });
/// assert_eq!(rx.await, Ok(42));
/// # });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

/// The shared cell of one channel; see the module docs for who may touch what.
struct Inner<T> {
    /// The bits above. Every transition is one atomic read-modify-write.
    state: AtomicUsize,
    /// The value in flight. Access rule 1.
    value: UnsafeCell<Option<T>>,
    /// The waker of the task awaiting the [`Receiver`]. Access rule 2.
    rx_waker: UnsafeCell<Option<Waker>>,
    /// The waker of the task awaiting [`Sender::closed`]. Access rule 3.
    tx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are only touched under the access rules in the module docs, which give each
// side exclusive access at the right moments; the value moves between threads, so `T: Send`.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; `&Inner` is shared by the two halves living on different threads.
unsafe impl<T: Send> Sync for Inner<T> {}

/// The sending half of a [`channel`].
pub struct Sender<T> {
    /// The shared cell. INVARIANT: `Some` until `send` consumes the sender.
    inner: Option<Arc<Inner<T>>>,
}

/// The receiving half of a [`channel`]; `.await` it for the value.
///
/// Resolves to `Err(RecvError)` if the sender is dropped without sending. Polling it again after
/// it resolved panics, as for most futures.
pub struct Receiver<T> {
    /// The shared cell. INVARIANT: `None` once the receiver has produced its result.
    inner: Option<Arc<Inner<T>>>,
}

/// The error of awaiting a [`Receiver`]: the sender was dropped without sending a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

/// The error of [`Receiver::try_recv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; the sender is still alive.
    Empty,
    /// The sender was dropped without sending, or the value was already received.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending")
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("oneshot channel empty"),
            TryRecvError::Closed => f.write_str("oneshot channel closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}

impl<T> Inner<T> {
    /// Wakes the receiver's waker. Caller: the sender, right after its RMW that set `TX_DONE`
    /// replaced a state with `RX_WAKER_SET`.
    fn wake_rx(&self) {
        self.rx_waker.with(|w| {
            // SAFETY: rule 2 — the bit was set when we set TX_DONE, so the receiver will not write
            // the cell again (it checks TX_DONE before writing); we only read it.
            let waker = unsafe { &*w };
            if let Some(w) = waker {
                w.wake_by_ref();
            }
        });
    }

    /// Wakes the sender's waker. Caller: the receiver, right after its RMW that set `RX_CLOSED`
    /// replaced a state with `TX_WAKER_SET` and without `TX_DONE`.
    fn wake_tx(&self) {
        self.tx_waker.with(|w| {
            // SAFETY: rule 3 — the mirror of `wake_rx`: TX_WAKER_SET was set when we set
            // RX_CLOSED, so the sender will not write the cell again; we only read it.
            let waker = unsafe { &*w };
            if let Some(w) = waker {
                w.wake_by_ref();
            }
        });
    }

    /// Takes the value. Caller: the receiver, after it saw `TX_DONE`.
    fn take_value(&self) -> Option<T> {
        // SAFETY: rule 1 — TX_DONE was observed with Acquire, so the sender's write happened
        // before and the sender never touches the cell again.
        self.value.with_mut(|v| unsafe { (*v).take() })
    }
}

/// Stores `waker` in `cell` guarded by the state bit `bit`, unless `stop` is (or becomes) set.
///
/// This is the waker-registration dance of rules 2 and 3, written once for both sides:
/// returns `true` if the waker is registered (the caller may return `Pending`), `false` if `stop`
/// is set (the caller should look at the state again: its event happened).
///
/// The caller must be the only writer of `cell` and of `bit` (the receiver for `rx_waker`, the
/// sender for `tx_waker`).
fn register(
    state: &AtomicUsize,
    cell: &UnsafeCell<Option<Waker>>,
    bit: usize,
    stop: usize,
    waker: &Waker,
) -> bool {
    // Acquire pairs with the Release half of the other side's RMW that set `stop`.
    let current = state.load(Ordering::Acquire);
    if current & stop != 0 {
        return false;
    }
    if current & bit != 0 {
        // A waker is registered already. Same task? Then nothing to do.
        // SAFETY: rule 4 — the other side may only read this cell now; reads may overlap.
        let same = cell.with(|w| unsafe { (*w).as_ref().is_some_and(|w| w.will_wake(waker)) });
        if same {
            return true;
        }
        // Take the bit back before writing the cell. AcqRel: Acquire pairs with the RMW that set
        // `stop`; Release is not needed for the cell (we are about to overwrite it) but harmless.
        let prev = state.fetch_and(!bit, Ordering::AcqRel);
        if prev & stop != 0 {
            // The other side already set `stop` and may be reading the cell right now: hands off.
            return false;
        }
    }
    // SAFETY: rules 2/3 — the bit is clear and `stop` was clear when we cleared it (or when we
    // loaded it), so the other side will not read the cell until we set the bit again.
    cell.with_mut(|w| unsafe { *w = Some(waker.clone()) });
    // Release publishes the waker to the other side's RMW (its Acquire) that will see the bit;
    // Acquire pairs with the RMW that may have set `stop` meanwhile.
    let prev = state.fetch_or(bit, Ordering::AcqRel);
    prev & stop == 0
}

impl<T> Sender<T> {
    /// Sends `value`, consuming the sender. Fails, giving the value back, if the receiver has
    /// closed or been dropped. Never waits.
    pub fn send(mut self, value: T) -> Result<(), T> {
        // The INVARIANT on `inner`: `send` consumes `self`, so it is still `Some` here.
        let inner = self.inner.take().unwrap();
        // SAFETY: rule 1 — TX_DONE is not set yet and only the sender sets it, so the receiver
        // does not read the cell.
        inner.value.with_mut(|v| unsafe { *v = Some(value) });
        // Relaxed: only a first guess for the compare-exchange below, which re-reads the word;
        // the only decision taken on it (RX_CLOSED: take our own value back) needs no other data.
        let mut current = inner.state.load(Ordering::Relaxed);
        loop {
            if current & RX_CLOSED != 0 {
                // SAFETY: rule 1 — TX_DONE was never set, so the receiver never reads the value.
                let value = inner.value.with_mut(|v| unsafe { (*v).take() });
                // The value was put there just above and nobody else took it.
                return Err(value.unwrap());
            }
            // AcqRel: Release publishes the value to the receiver's Acquire load / RMW that sees
            // TX_DONE; Acquire pairs with the receiver's Release when it set RX_WAKER_SET, making
            // its waker visible to `wake_rx`. Failure is Relaxed for the same reason as the load.
            match inner.state.compare_exchange_weak(
                current,
                current | TX_DONE,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(prev) => {
                    if prev & RX_WAKER_SET != 0 {
                        inner.wake_rx();
                    }
                    return Ok(());
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Whether the receiver has closed or been dropped (a `send` would fail).
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            // Acquire pairs with the receiver's RMW that set RX_CLOSED (for symmetry; no data follows).
            Some(inner) => inner.state.load(Ordering::Acquire) & RX_CLOSED != 0,
            None => true,
        }
    }

    /// Waits until the receiver closes or is dropped — e.g. to stop computing an answer nobody
    /// will read.
    ///
    /// ```
    /// use spindle::sync::oneshot;
    ///
    /// # let rt = spindle::Runtime::new().unwrap();
    /// # rt.block_on(async {
    /// let (mut tx, rx) = oneshot::channel::<u32>();
    /// drop(rx); // the requester gave up
    /// tx.closed().await;
    /// assert!(tx.is_closed());
    /// # });
    /// ```
    pub async fn closed(&mut self) {
        crate::future::poll_fn(|cx| self.poll_closed(cx)).await
    }

    /// Polls for the receiver closing; registers the task's waker if it has not.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(inner) = &self.inner else {
            return Poll::Ready(());
        };
        if register(
            &inner.state,
            &inner.tx_waker,
            TX_WAKER_SET,
            RX_CLOSED,
            cx.waker(),
        ) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return; // `send` already finished the protocol
        };
        // Mark the sender finished without a value. AcqRel as in `send`: the receiver's waker
        // must be visible to `wake_rx`, and the receiver must see TX_DONE.
        let prev = inner.state.fetch_or(TX_DONE, Ordering::AcqRel);
        if prev & RX_WAKER_SET != 0 && prev & RX_CLOSED == 0 {
            inner.wake_rx();
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    ///
    /// ```
    /// use spindle::sync::oneshot::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send("done").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("done"));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed)); // the one value was taken
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        // Acquire pairs with the sender's Release RMW that set TX_DONE (rule 1).
        let state = inner.state.load(Ordering::Acquire);
        if state & TX_DONE != 0 {
            let value = inner.take_value();
            self.inner = None;
            value.ok_or(TryRecvError::Closed)
        } else if state & RX_CLOSED != 0 {
            // Closed by us before any value was sent: none can come now.
            self.inner = None;
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Closes the channel from the receiving side: a later `send` fails. A value sent before the
    /// close can still be received with `try_recv` or `.await`.
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            // AcqRel: Release makes RX_CLOSED visible to the sender's RMWs; Acquire pairs with the
            // sender's Release when it set TX_WAKER_SET, making its waker visible to `wake_tx`.
            let prev = inner.state.fetch_or(RX_CLOSED, Ordering::AcqRel);
            if prev & TX_WAKER_SET != 0 && prev & (TX_DONE | RX_CLOSED) == 0 {
                inner.wake_tx();
            }
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let inner = this
            .inner
            .as_ref()
            .expect("oneshot::Receiver polled after it completed");
        // A oneshot is not a coop budget point: it can be ready at most once, so it cannot keep
        // a task busy forever the way a stream can.
        let registered = register(
            &inner.state,
            &inner.rx_waker,
            RX_WAKER_SET,
            TX_DONE | RX_CLOSED,
            cx.waker(),
        );
        if registered {
            return Poll::Pending;
        }
        // TX_DONE or RX_CLOSED is set; `try_recv` tells which and takes the value.
        match this.try_recv() {
            Ok(value) => Poll::Ready(Ok(value)),
            Err(_) => Poll::Ready(Err(RecvError(()))),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self
            .inner
            .as_ref()
            .map(|inner| inner.state.load(Ordering::Acquire));
        f.debug_struct("oneshot::Receiver")
            .field("state", &state)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{block_on, poll_once, CountingWaker};
    use std::pin::pin;

    /// A value sent before or after the receiver starts waiting arrives, and wakes it once.
    #[test]
    fn send_then_recv_and_recv_then_send() {
        let (tx, rx) = channel();
        tx.send(1).unwrap();
        assert_eq!(block_on(rx), Ok(1));

        let (tx, rx) = channel();
        let w = CountingWaker::new();
        let mut rx = pin!(rx);
        assert!(poll_once(rx.as_mut(), &w.waker()).is_pending());
        assert!(poll_once(rx.as_mut(), &w.waker()).is_pending()); // same waker kept
        tx.send("hi").unwrap();
        assert_eq!(w.count(), 1);
        assert_eq!(poll_once(rx.as_mut(), &w.waker()), Poll::Ready(Ok("hi")));
    }

    /// A receiver re-polled by a different task wakes the newest one, not the old.
    #[test]
    fn waker_is_replaced() {
        let (tx, rx) = channel::<u8>();
        let (old, new) = (CountingWaker::new(), CountingWaker::new());
        let mut rx = pin!(rx);
        assert!(poll_once(rx.as_mut(), &old.waker()).is_pending());
        assert!(poll_once(rx.as_mut(), &new.waker()).is_pending());
        drop(tx);
        assert_eq!((old.count(), new.count()), (0, 1));
        assert_eq!(
            poll_once(rx.as_mut(), &new.waker()),
            Poll::Ready(Err(RecvError(())))
        );
    }

    /// Dropping the sender without sending gives `RecvError` (awaiting) / `Closed` (try_recv).
    #[test]
    fn dropped_sender() {
        let (tx, mut rx) = channel::<u8>();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

        let (tx, rx) = channel::<u8>();
        drop(tx);
        assert_eq!(block_on(rx), Err(RecvError(())));
    }

    /// Dropping or closing the receiver makes `send` fail and hand the value back.
    #[test]
    fn dropped_or_closed_receiver() {
        let (tx, rx) = channel();
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(String::from("back")), Err(String::from("back")));

        let (tx, mut rx) = channel();
        rx.close();
        assert_eq!(tx.send(5), Err(5));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    /// A value sent before `close` can still be received after it.
    #[test]
    fn value_sent_before_close_survives() {
        let (tx, mut rx) = channel();
        tx.send(9).unwrap();
        rx.close();
        assert_eq!(rx.try_recv(), Ok(9));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }

    /// `Sender::closed` waits for the receiver to go away, and is woken when it does.
    #[test]
    fn sender_closed_wakes() {
        let (mut tx, rx) = channel::<u8>();
        let w = CountingWaker::new();
        {
            let mut closed = pin!(tx.closed());
            assert!(poll_once(closed.as_mut(), &w.waker()).is_pending());
            drop(rx);
            assert_eq!(w.count(), 1);
            assert!(poll_once(closed.as_mut(), &w.waker()).is_ready());
        }
        assert!(tx.is_closed());
    }

    /// The value is dropped exactly once whichever side goes first.
    #[test]
    fn value_dropped_once() {
        let token = std::sync::Arc::new(());
        let (tx, rx) = channel();
        tx.send(token.clone()).unwrap();
        assert_eq!(std::sync::Arc::strong_count(&token), 2);
        drop(rx);
        assert_eq!(std::sync::Arc::strong_count(&token), 1);
    }

    /// Many round trips between two threads (each side blocking in `block_on`) all arrive.
    #[test]
    fn ping_pong_across_threads() {
        let (to_b, from_a) = std::sync::mpsc::channel::<Sender<u32>>();
        let b = std::thread::spawn(move || {
            for tx in from_a {
                let _ = tx.send(1);
            }
        });
        let mut sum = 0;
        for _ in 0..1000 {
            let (tx, rx) = channel();
            to_b.send(tx).unwrap();
            sum += block_on(rx).unwrap();
        }
        drop(to_b);
        b.join().unwrap();
        assert_eq!(sum, 1000);
    }
}

//! Multi-producer, single-consumer queues between tasks: [`channel`] (bounded: a full queue makes
//! senders wait, which is back-pressure) and [`unbounded_channel`] (never waits; memory is the limit).
//! The asyncio counterpart is `asyncio.Queue(maxsize)`.
//!
//! One shared `Chan` per channel:
//!
//! ```text
//!   Sender ─┐                         ┌────────────── Chan ───────────────┐
//!   Sender ─┼─ push under the lock ─► │ queue: VecDeque<T>  [m1][m2][m3]   │ ─► Receiver
//!   Sender ─┘                         │ rx_waker, senders, rx_closed       │     (pop; returns a
//!       │                             │ capacity: Semaphore (bounded only) │      permit per message)
//!       └── acquire 1 permit ───────► └────────────────────────────────────┘
//! ```
//!
//! Bounded capacity *is* a [`Semaphore`] with `cap` permits: a send first acquires a permit (one
//! free slot), the receiver gives one back for every message it takes out. So senders waiting for
//! space inherit the semaphore's properties: FIFO order, and a dropped send future gives its place
//! (or the slot it was already handed) to the next sender. Closing the receiver closes the
//! semaphore, which fails every waiting send.
//!
//! INVARIANTS: the receiver sees `None` only when the queue is empty and either every sender is
//! gone or the receiver closed; a message pushed is never lost while the receiver exists (it is
//! dropped with the receiver otherwise).

use std::collections::VecDeque;
use std::fmt;
use std::task::{ready, Context, Poll, Waker};

use super::semaphore::{Semaphore, TryAcquireError};
use crate::loom::{Arc, Mutex};

/// A bounded channel holding at most `capacity` messages; `send` waits while it is full.
///
/// # Panics
/// If `capacity` is 0.
///
/// ```
/// use spindle::sync::mpsc;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, mut rx) = mpsc::channel(8);
/// for id in 0..3 {
///     let tx = tx.clone();
///     spindle::spawn(async move { tx.send(id).await.unwrap() });
/// }
/// drop(tx); // the receiver ends once the three clones are gone too
/// let mut got = Vec::new();
/// while let Some(id) = rx.recv().await {
///     got.push(id);
/// }
/// got.sort();
/// assert_eq!(got, [0, 1, 2]);
/// # });
/// ```
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "mpsc::channel capacity must be at least 1");
    let chan = Chan::new(Some(Semaphore::new(capacity)));
    (
        Sender {
            tx: Tx::new(chan.clone()),
        },
        Receiver { rx: Rx { chan } },
    )
}

/// A channel without a bound: `send` never waits.
///
/// ```
/// use spindle::sync::mpsc;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let (tx, mut rx) = mpsc::unbounded_channel();
/// tx.send("a").unwrap(); // not async
/// tx.send("b").unwrap();
/// drop(tx);
/// assert_eq!(rx.recv().await, Some("a"));
/// assert_eq!(rx.recv().await, Some("b"));
/// assert_eq!(rx.recv().await, None);
/// # });
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(None);
    (
        UnboundedSender {
            tx: Tx::new(chan.clone()),
        },
        UnboundedReceiver { rx: Rx { chan } },
    )
}

/// What the senders and the receiver of one channel share.
struct Chan<T> {
    /// Queue, receiver waker and liveness flags, changed together under one lock.
    state: Mutex<State<T>>,
    /// Bounded channels: one permit per free slot. `None` for unbounded channels.
    /// INVARIANT: `Some` exactly for channels made by [`channel`], the only ones with [`Sender`]s.
    /// INVARIANT (while the receiver lives): free permits + queued messages + sends between their
    /// acquire and their push == the capacity.
    capacity: Option<Semaphore>,
}

/// The lock-protected part of a [`Chan`].
struct State<T> {
    /// Messages in order of arrival.
    queue: VecDeque<T>,
    /// The receiver's waker when it waits on an empty queue.
    rx_waker: Option<Waker>,
    /// Live senders (clones included); at 0 the receiver drains the queue and then sees `None`.
    senders: usize,
    /// Set by `Receiver::close` or drop; sends fail from then on.
    rx_closed: bool,
}

impl<T> Chan<T> {
    /// A channel with no messages and no senders yet (the caller makes the first one).
    fn new(capacity: Option<Semaphore>) -> Arc<Chan<T>> {
        Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                rx_waker: None,
                senders: 0,
                rx_closed: false,
            }),
            capacity,
        })
    }

    /// Appends `value` and wakes the receiver; gives the value back if the receiver closed.
    /// A bounded sender calls this only while holding a capacity permit, which the message keeps.
    fn push(&self, value: T) -> Result<(), T> {
        let mut state = self.state.lock();
        if state.rx_closed {
            return Err(value);
        }
        state.queue.push_back(value);
        let waker = state.rx_waker.take();
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

/// The sender-count bookkeeping shared by [`Sender`] and [`UnboundedSender`].
struct Tx<T> {
    /// The channel. INVARIANT: counted in `State::senders` for as long as this `Tx` lives.
    chan: Arc<Chan<T>>,
}

impl<T> Tx<T> {
    /// Registers one more sender on `chan`.
    fn new(chan: Arc<Chan<T>>) -> Tx<T> {
        chan.state.lock().senders += 1;
        Tx { chan }
    }

    /// Whether the receiver closed or was dropped.
    fn is_closed(&self) -> bool {
        self.chan.state.lock().rx_closed
    }
}

impl<T> Clone for Tx<T> {
    fn clone(&self) -> Self {
        Tx::new(self.chan.clone())
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        let mut state = self.chan.state.lock();
        state.senders -= 1;
        // The last sender: the receiver must wake to drain the queue and then see `None`.
        let waker = if state.senders == 0 {
            state.rx_waker.take()
        } else {
            None
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving logic shared by [`Receiver`] and [`UnboundedReceiver`].
struct Rx<T> {
    /// The channel; its `Drop` closes it.
    chan: Arc<Chan<T>>,
}

impl<T> Rx<T> {
    /// Takes the next message, or `None` once the channel is closed or every sender is gone and
    /// the queue is empty.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // A busy channel is always ready: spend budget so a `while let` over it yields in time.
        ready!(crate::coop::poll_proceed(cx));
        let mut state = self.chan.state.lock();
        if let Some(value) = state.queue.pop_front() {
            drop(state);
            self.slot_freed();
            return Poll::Ready(Some(value));
        }
        if state.senders == 0 || state.rx_closed {
            return Poll::Ready(None);
        }
        match &state.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The non-waiting `recv`.
    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut state = self.chan.state.lock();
        if let Some(value) = state.queue.pop_front() {
            drop(state);
            self.slot_freed();
            return Ok(value);
        }
        if state.senders == 0 || state.rx_closed {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// A message left the queue: give its capacity permit back (wakes the oldest waiting sender).
    fn slot_freed(&self) {
        if let Some(capacity) = &self.chan.capacity {
            capacity.release(1);
        }
    }

    /// Stops new messages; those already queued can still be received.
    fn close(&mut self) {
        self.chan.state.lock().rx_closed = true;
        if let Some(capacity) = &self.chan.capacity {
            capacity.close(); // fails every send waiting for space
        }
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        self.close();
        // Drop the queued messages now (outside the lock: their destructors may do anything).
        let queue = std::mem::take(&mut self.chan.state.lock().queue);
        drop(queue);
    }
}

/// The sending half of a bounded [`channel`]. Clone it for more producers.
pub struct Sender<T> {
    /// Shared sender logic.
    tx: Tx<T>,
}

/// The sending half of an [`unbounded_channel`]. Clone it for more producers.
pub struct UnboundedSender<T> {
    /// Shared sender logic.
    tx: Tx<T>,
}

/// The receiving half of a bounded [`channel`].
pub struct Receiver<T> {
    /// Shared receiver logic.
    rx: Rx<T>,
}

/// The receiving half of an [`unbounded_channel`].
pub struct UnboundedReceiver<T> {
    /// Shared receiver logic.
    rx: Rx<T>,
}

/// The error of a send: the receiver is gone or closed. Holds the message that was not sent.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// The error of [`Sender::try_send`]; holds the message that was not sent.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel is full right now.
    Full(T),
    /// The receiver is gone or closed.
    Closed(T),
}

/// The error of `try_recv`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// No message now; senders are still alive.
    Empty,
    /// No message and none can come: every sender is gone, or the receiver closed.
    Disconnected,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Fails only if the receiver is gone or
    /// closed, giving the value back in the error.
    ///
    /// Cancellation-safe: if this future is dropped before it completes, `value` is dropped, not
    /// sent, and the sender's place in line (or the slot it was handed) goes to the next sender.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        // The INVARIANT on `capacity`: bounded channels (the only ones with a `Sender`) have one.
        let capacity = self.tx.chan.capacity.as_ref().unwrap();
        match capacity.acquire().await {
            // The message now stands for the permit; the receiver releases it when it takes it.
            Ok(permit) => permit.forget(),
            Err(_) => return Err(SendError(value)),
        }
        self.tx.chan.push(value).map_err(SendError)
    }

    /// Sends `value` if there is room right now, without waiting.
    ///
    /// ```
    /// use spindle::sync::mpsc::{self, TrySendError};
    ///
    /// let (tx, mut rx) = mpsc::channel(1);
    /// tx.try_send(1).unwrap();
    /// assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2)))); // the value comes back
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// tx.try_send(2).unwrap(); // room again
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        // The INVARIANT on `capacity`: bounded channels have one.
        let capacity = self.tx.chan.capacity.as_ref().unwrap();
        match capacity.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::NoPermits) => return Err(TrySendError::Full(value)),
            Err(TryAcquireError::Closed) => return Err(TrySendError::Closed(value)),
        }
        self.tx.chan.push(value).map_err(TrySendError::Closed)
    }

    /// Free slots right now.
    pub fn capacity(&self) -> usize {
        self.tx
            .chan
            .capacity
            .as_ref()
            .map_or(0, Semaphore::available_permits)
    }

    /// Whether the receiver closed or was dropped (sends would fail).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl<T> UnboundedSender<T> {
    /// Sends `value` at once. Fails only if the receiver is gone or closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.tx.chan.push(value).map_err(SendError)
    }

    /// Whether the receiver closed or was dropped (sends would fail).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// Methods shared by both receivers; written once as a macro so the docs show on each type.
macro_rules! receiver_methods {
    () => {
        /// Waits for the next message. `None` means the channel is finished: every sender is gone
        /// (or the receiver closed) and every message was received.
        ///
        /// Cancellation-safe: if the future is dropped, no message is lost.
        pub async fn recv(&mut self) -> Option<T> {
            crate::future::poll_fn(|cx| self.rx.poll_recv(cx)).await
        }

        /// Takes the next message if one is queued, without waiting.
        pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
            self.rx.try_recv()
        }

        /// Polls for the next message (for hand-written futures); see [`recv`](Self::recv).
        pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.rx.poll_recv(cx)
        }

        /// Closes the channel: new sends fail (waiting ones too), messages already queued can
        /// still be received.
        pub fn close(&mut self) {
            self.rx.close()
        }
    };
}

impl<T> Receiver<T> {
    receiver_methods!();
}

impl<T> UnboundedReceiver<T> {
    receiver_methods!();
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        UnboundedSender {
            tx: self.tx.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender")
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender")
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Receiver").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedReceiver")
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full"),
            TrySendError::Closed(_) => f.write_str("channel closed"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Disconnected => f.write_str("channel disconnected"),
        }
    }
}

impl std::error::Error for TryRecvError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{block_on, poll_once, CountingWaker};
    use std::pin::pin;

    /// Messages from one sender arrive in order; `None` after the last sender is dropped.
    #[test]
    fn order_and_end_of_stream() {
        let (tx, mut rx) = channel(4);
        let tx2 = tx.clone();
        block_on(async {
            tx.send(1).await.unwrap();
            tx2.send(2).await.unwrap();
            tx.send(3).await.unwrap();
        });
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1));
        drop(tx2);
        // Senders gone, but queued messages still come out before `None`.
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(block_on(rx.recv()), Some(3));
        assert_eq!(block_on(rx.recv()), None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    /// A full channel makes `send` wait; taking a message wakes the oldest waiting sender, and
    /// messages keep the order in which senders got their slot.
    #[test]
    fn capacity_blocks_and_frees_in_fifo_order() {
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut s1 = pin!(tx.send(1));
        let mut s2 = pin!(tx.send(2));
        assert!(poll_once(s1.as_mut(), &w1.waker()).is_pending());
        assert!(poll_once(s2.as_mut(), &w2.waker()).is_pending());
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!((w1.count(), w2.count()), (1, 0));
        // s2 cannot take the slot handed to s1, and neither can try_send.
        assert!(poll_once(s2.as_mut(), &w2.waker()).is_pending());
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        assert!(matches!(
            poll_once(s1.as_mut(), &w1.waker()),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(w2.count(), 1);
        assert!(matches!(
            poll_once(s2.as_mut(), &w2.waker()),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(tx.capacity(), 1);
    }

    /// A send future dropped after it was handed a slot gives the slot to the next sender.
    #[test]
    fn dropped_send_gives_its_slot_on() {
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut s1 = Box::pin(tx.send(1));
        let mut s2 = pin!(tx.send(2));
        assert!(poll_once(s1.as_mut(), &w1.waker()).is_pending());
        assert!(poll_once(s2.as_mut(), &w2.waker()).is_pending());
        assert_eq!(rx.try_recv(), Ok(0)); // slot handed to s1
        drop(s1); // cancelled: the message 1 is never sent, the slot moves on
        assert_eq!(w2.count(), 1);
        assert!(matches!(
            poll_once(s2.as_mut(), &w2.waker()),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    /// Closing the receiver fails waiting and later sends but keeps queued messages receivable.
    #[test]
    fn close_fails_senders_keeps_queue() {
        let (tx, mut rx) = channel(1);
        tx.try_send(1).unwrap();
        let w = CountingWaker::new();
        let mut waiting = pin!(tx.send(2));
        assert!(poll_once(waiting.as_mut(), &w.waker()).is_pending());
        rx.close();
        assert_eq!(w.count(), 1);
        assert!(matches!(
            poll_once(waiting.as_mut(), &w.waker()),
            Poll::Ready(Err(SendError(2)))
        ));
        assert!(tx.is_closed());
        assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), None);
    }

    /// The receiver waiting on an empty channel is woken by a send and by the last sender's drop.
    #[test]
    fn receiver_wakes_on_send_and_on_last_drop() {
        let (tx, mut rx) = unbounded_channel();
        let w = CountingWaker::new();
        let waker = w.waker();
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_recv(&mut cx).is_pending());
        tx.send(7).unwrap();
        assert_eq!(w.count(), 1);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(7)));
        let tx2 = tx.clone();
        assert!(rx.poll_recv(&mut cx).is_pending());
        drop(tx);
        assert_eq!(w.count(), 1); // one sender is left: no wake
        drop(tx2);
        assert_eq!(w.count(), 2);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    }

    /// Dropping the receiver drops queued messages and fails unbounded sends.
    #[test]
    fn dropped_receiver() {
        let token = std::sync::Arc::new(());
        let (tx, rx) = unbounded_channel();
        tx.send(token.clone()).unwrap();
        drop(rx);
        assert_eq!(std::sync::Arc::strong_count(&token), 1);
        assert!(tx.is_closed());
        assert!(tx.send(token.clone()).is_err());
    }

    /// Four producer threads, a bounded channel of 2: every message arrives exactly once and each
    /// producer's messages arrive in its order.
    #[test]
    fn many_producers_across_threads() {
        let (tx, mut rx) = channel::<(usize, usize)>(2);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        block_on(tx.send((p, i))).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0usize; 4];
        let mut total = 0;
        while let Some((p, i)) = block_on(rx.recv()) {
            assert_eq!(i, next[p], "producer {p} out of order");
            next[p] += 1;
            total += 1;
        }
        for t in producers {
            t.join().unwrap();
        }
        assert_eq!(total, 1000);
    }
}

//! loom models of the lock-free `sync::oneshot` channel: every interleaving of the sender and the
//! receiver (and their drops) is explored, checking the cell-access rules in `sync/oneshot.rs` and
//! that no wake-up is lost (loom's `block_on` reports a deadlock if the waiting side is never woken).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p spindle --release --test loom_oneshot`
//! (add `--target-dir target/loom` to keep the normal build cache).

#![cfg(loom)]

mod loom_util;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use loom_util::block_on;
use spindle::sync::oneshot;

/// A waker that only counts; used to poll once with a *different* waker than `block_on`'s.
struct Count(
    /// Wake-ups so far.
    AtomicUsize,
);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts drops, to check a value is dropped exactly once whoever ends up owning it.
struct DropCounter(
    /// Incremented on drop.
    std::sync::Arc<AtomicUsize>,
);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A send on another thread reaches a receiver blocked in `.await` (no lost wake-up, value intact).
#[test]
fn send_wakes_receiver() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u32>();
        let t = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(block_on(rx), Ok(7));
        t.join().unwrap();
    });
}

/// Dropping the sender on another thread wakes the receiver with an error.
#[test]
fn sender_drop_wakes_receiver() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel::<u32>();
        let t = thread::spawn(move || drop(tx));
        assert!(block_on(rx).is_err());
        t.join().unwrap();
    });
}

/// A receiver that re-registers with a new waker while the sender sends concurrently is still
/// woken (the waker-replacement path of rule 2).
#[test]
fn waker_replacement_races_send() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel::<u32>();
        let t = thread::spawn(move || tx.send(1).unwrap());
        let first = Waker::from(std::sync::Arc::new(Count(AtomicUsize::new(0))));
        match Pin::new(&mut rx).poll(&mut Context::from_waker(&first)) {
            Poll::Ready(v) => assert_eq!(v, Ok(1)),
            // Poll again under block_on's waker: this replaces the registered waker.
            Poll::Pending => assert_eq!(block_on(rx), Ok(1)),
        }
        t.join().unwrap();
    });
}

/// Send racing the receiver's drop: the send either succeeds or hands the value back, and the
/// value is dropped exactly once either way.
#[test]
fn send_races_receiver_drop() {
    loom::model(|| {
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel::<DropCounter>();
        let value = DropCounter(drops.clone());
        let t = thread::spawn(move || drop(rx));
        match tx.send(value) {
            Ok(()) => {}
            Err(back) => drop(back),
        }
        t.join().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// `Sender::closed` is woken when the receiver is dropped on another thread.
#[test]
fn receiver_drop_wakes_closed() {
    loom::model(|| {
        let (mut tx, rx) = oneshot::channel::<u32>();
        let t = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.is_closed());
        t.join().unwrap();
    });
}

/// `Receiver::close` racing a send: a value that got in is received, otherwise the send fails;
/// never both, never neither.
#[test]
fn close_races_send() {
    loom::model(|| {
        let (tx, mut rx) = oneshot::channel::<u32>();
        let t = thread::spawn(move || tx.send(3).is_ok());
        rx.close();
        let sent = t.join().unwrap();
        let received = rx.try_recv().ok();
        assert_eq!(sent, received == Some(3));
    });
}

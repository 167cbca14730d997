//! loom models of `io::duplex`: the wake-up handshake between a writer waiting for room and a
//! reader waiting for bytes (or for end of stream) is explored in every interleaving; a lost
//! wake-up shows as a loom deadlock (both threads parked).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p spindle --release --test loom_duplex`
//! (add `--target-dir target/loom` to keep the normal build cache).

#![cfg(loom)]

use std::future::Future;
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;
use spindle::io::{duplex, AsyncReadExt, AsyncWriteExt};

/// Wakes a parked loom thread.
struct Unpark(
    /// The loom thread blocked in `block_on`.
    thread::Thread,
);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` on this loom thread, parking between polls (a never-woken future deadlocks the
/// model, which loom reports).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

/// Two bytes through a one-byte pipe: the writer must wait for room and the reader for bytes,
/// each woken by the other.
#[test]
fn back_pressure_both_ways() {
    loom::model(|| {
        let (mut a, mut b) = duplex(1);
        let writer = thread::spawn(move || block_on(async move { a.write_all(b"xy").await }));
        let mut buf = [0u8; 2];
        block_on(b.read_exact(&mut buf)).unwrap();
        assert_eq!(&buf, b"xy");
        writer.join().unwrap().unwrap();
    });
}

/// Dropping one end on another thread wakes a reader waiting on the other with end of stream.
#[test]
fn drop_wakes_reader() {
    loom::model(|| {
        let (a, mut b) = duplex(4);
        let dropper = thread::spawn(move || drop(a));
        let mut buf = [0u8; 1];
        assert_eq!(block_on(b.read(&mut buf)).unwrap(), 0);
        dropper.join().unwrap();
    });
}

//! loom models of `io::duplex`: the wake-up handshake between a writer waiting for room and a
//! reader waiting for bytes (or for end of stream) is explored in every interleaving; a lost
//! wake-up shows as a loom deadlock (both threads parked).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p spindle --release --test loom_duplex`
//! (add `--target-dir target/loom` to keep the normal build cache).

#![cfg(loom)]

mod loom_util;

use loom::thread;
use loom_util::block_on;
use spindle::io::{duplex, AsyncReadExt, AsyncWriteExt};

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

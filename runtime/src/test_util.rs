//! Test-only helpers for driving futures by hand, with no runtime: a thread-parking `block_on`,
//! a single `poll_once`, and a waker that counts its wake-ups.
//!
//! The primitives in `sync` and `future` only ever see `std::task::Waker`s, so these are enough to
//! test them exactly, one poll at a time. Used by the unit tests of `sync` and `future`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

/// Wakes a parked thread.
struct ThreadWaker(
    /// The thread blocked in `block_on`.
    Thread,
);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on this thread, parking between polls.
/// Panics after 5 s without progress, so a lost wake-up fails the test instead of hanging it.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        let before = std::time::Instant::now();
        thread::park_timeout(Duration::from_secs(5));
        assert!(
            before.elapsed() < Duration::from_secs(5),
            "block_on: no wake-up within 5 s (lost wake-up?)"
        );
    }
}

/// Polls `fut` once with `waker`.
pub(crate) fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(waker))
}

/// A waker that counts how often it was woken.
#[derive(Debug, Clone, Default)]
pub(crate) struct CountingWaker(
    /// Shared with every waker made by [`CountingWaker::waker`].
    Arc<Counter>,
);

/// The shared counter behind [`CountingWaker`].
#[derive(Debug, Default)]
pub(crate) struct Counter(
    /// Wake-ups so far.
    AtomicUsize,
);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    /// A fresh counter at zero.
    pub(crate) fn new() -> Self {
        Self::default()
    }
    /// A waker that increments this counter.
    pub(crate) fn waker(&self) -> Waker {
        Waker::from(self.0.clone())
    }
    /// Wake-ups so far.
    pub(crate) fn count(&self) -> usize {
        self.0 .0.load(Ordering::SeqCst)
    }
}

//! A fixed-size batch of wakers, so primitives can wake tasks *after* releasing their lock
//! without allocating.
//!
//! Used by [`Semaphore`](super::Semaphore) and [`Notify`](super::Notify): they collect up to
//! [`WakeBatch::CAPACITY`] wakers while holding their state lock, drop the lock, wake the batch, and
//! re-lock if more waiters remain. Waking outside the lock keeps the critical section short and
//! means a waker that happens to touch the same primitive cannot deadlock on it.

use std::task::Waker;

/// Up to [`Self::CAPACITY`] wakers, woken together by [`WakeBatch::wake_all`].
#[derive(Debug, Default)]
pub(crate) struct WakeBatch {
    /// The collected wakers. INVARIANT: `wakers[..len]` are `Some`, the rest `None`.
    wakers: [Option<Waker>; WakeBatch::CAPACITY],
    /// How many slots of `wakers` are filled.
    len: usize,
}

impl WakeBatch {
    /// How many wakers fit before the owner must drop its lock and flush.
    pub(crate) const CAPACITY: usize = 16;

    /// An empty batch.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Whether another waker fits.
    pub(crate) fn has_room(&self) -> bool {
        self.len < Self::CAPACITY
    }

    /// Adds `waker`. The caller checked [`has_room`](Self::has_room) first.
    pub(crate) fn push(&mut self, waker: Waker) {
        debug_assert!(self.has_room());
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes every collected waker (call this with no lock held).
    pub(crate) fn wake_all(self) {
        for waker in self.wakers.into_iter().take(self.len).flatten() {
            waker.wake();
        }
    }
}

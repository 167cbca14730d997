//! [`Notify`]: wake one task or all waiting tasks, with no data attached — the async version of a
//! condition variable, plus a stored permit so a `notify_one` that comes *before* the wait is not lost.
//!
//! State behind one `crate::loom::Mutex`:
//!
//! ```text
//!   permit: false       waiters (FIFO):  [ t2 ] -> [ t5 ]      generation: 3
//! ```
//!
//! - `notify_one`: if anyone waits, unlink the oldest waiter and mark it notified; otherwise set
//!   `permit` (at most one is stored), which the next `notified().await` consumes at once.
//! - `notify_waiters`: unlink and mark *every* current waiter, store no permit, and bump
//!   `generation`. A [`Notified`] future records the generation when it is *created*, so one created
//!   before the call but not yet polled also completes. That makes this pattern race-free:
//!   create `notified()`, check your condition, then await.
//!
//! Cancellation (INVARIANT): a `notify_one` wake-up is never lost. A [`Notified`] dropped after being
//! chosen by `notify_one` but before it saw the notification passes it on, as if `notify_one` had
//! been called again.
//!
//! Talks to: [`WaitList`] and [`WakeBatch`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::wait_list::WaitList;
use super::wake_batch::WakeBatch;
use crate::loom::Mutex;

/// Notifies one or all waiting tasks.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Notify;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let notify = Arc::new(Notify::new());
/// let n2 = notify.clone();
/// let waiter = spindle::spawn(async move {
///     n2.notified().await;
///     "woken"
/// });
/// notify.notify_one(); // even if the waiter has not started yet, the permit is kept for it
/// assert_eq!(waiter.await.unwrap(), "woken");
/// # });
/// ```
pub struct Notify {
    /// The permit, the line of waiters and the generation, changed together under one lock.
    state: Mutex<State>,
}

/// The lock-protected part of a [`Notify`].
#[derive(Debug)]
struct State {
    /// A stored `notify_one` that nobody has consumed yet. INVARIANT: `permit` implies no waiters.
    permit: bool,
    /// Tasks waiting in `notified().await`, oldest first.
    waiters: WaitList<Waiter>,
    /// How many times `notify_waiters` was called; a [`Notified`] created at generation `g`
    /// completes once it sees a larger one.
    generation: u64,
}

/// What the notifier records about one waiting [`Notified`].
#[derive(Debug)]
struct Waiter {
    /// Woken on notification.
    waker: Option<Waker>,
    /// Set (together with unlinking) when this waiter is notified.
    notified: Option<Kind>,
}

/// Which call notified a waiter; only `One` must be passed on when the waiter is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `notify_one` picked this waiter.
    One,
    /// `notify_waiters` woke everyone.
    All,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Notify {
        Notify {
            state: Mutex::new(State {
                permit: false,
                waiters: WaitList::new(),
                generation: 0,
            }),
        }
    }

    /// Wakes the oldest waiting task, or, if none waits, stores a permit for the next one.
    /// Several calls with nobody waiting still store just one permit.
    pub fn notify_one(&self) {
        let mut state = self.state.lock();
        if let Some(waker) = Self::notify_one_locked(&mut state) {
            drop(state);
            waker.wake();
        }
    }

    /// `notify_one` with the lock held; returns the waker to wake once the lock is released.
    fn notify_one_locked(state: &mut State) -> Option<Waker> {
        match state.waiters.pop_front() {
            Some(key) => {
                let waiter = state.waiters.get_mut(key);
                waiter.notified = Some(Kind::One);
                waiter.waker.take()
            }
            None => {
                state.permit = true;
                None
            }
        }
    }

    /// Wakes every task currently waiting (and every [`Notified`] created before this call).
    /// Stores no permit: a task that starts waiting afterwards waits for the next notification.
    ///
    /// ```
    /// use std::pin::pin;
    /// use std::task::{Context, Poll, Waker};
    /// use std::future::Future;
    /// use spindle::sync::Notify;
    ///
    /// let notify = Notify::new();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// let mut early = pin!(notify.notified()); // created before the broadcast
    /// notify.notify_waiters();
    /// let mut late = pin!(notify.notified()); // created after it
    /// assert_eq!(early.as_mut().poll(&mut cx), Poll::Ready(()));
    /// assert_eq!(late.as_mut().poll(&mut cx), Poll::Pending); // no permit was stored
    /// ```
    pub fn notify_waiters(&self) {
        let mut state = self.state.lock();
        state.generation += 1;
        loop {
            let mut batch = WakeBatch::new();
            while batch.has_room() {
                let Some(key) = state.waiters.pop_front() else {
                    break;
                };
                let waiter = state.waiters.get_mut(key);
                waiter.notified = Some(Kind::All);
                if let Some(waker) = waiter.waker.take() {
                    batch.push(waker);
                }
            }
            let more = !state.waiters.is_empty();
            drop(state);
            batch.wake_all();
            if !more {
                return;
            }
            state = self.state.lock();
        }
    }

    /// A future that completes at the next notification (or at once, consuming a stored permit).
    pub fn notified(&self) -> Notified<'_> {
        let generation = self.state.lock().generation;
        Notified {
            notify: self,
            generation,
            stage: Stage::Init,
        }
    }
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Notify")
            .field("permit", &state.permit)
            .field("generation", &state.generation)
            .finish()
    }
}

/// Where a [`Notified`] stands.
#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Not polled yet.
    Init,
    /// Waiting in line under this key (which it owns).
    Waiting(usize),
    /// Completed.
    Done,
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Notified<'a> {
    /// The notifier.
    notify: &'a Notify,
    /// `Notify`'s generation when this future was created (see the module docs).
    generation: u64,
    /// Progress of this wait.
    stage: Stage,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.notify.state.lock();
        match this.stage {
            Stage::Init => {
                if state.generation != this.generation || std::mem::take(&mut state.permit) {
                    this.stage = Stage::Done;
                    return Poll::Ready(());
                }
                let key = state.waiters.push_back(Waiter {
                    waker: Some(cx.waker().clone()),
                    notified: None,
                });
                this.stage = Stage::Waiting(key);
                Poll::Pending
            }
            Stage::Waiting(key) => {
                let waiter = state.waiters.get_mut(key);
                if waiter.notified.is_some() {
                    state.waiters.remove(key);
                    this.stage = Stage::Done;
                    return Poll::Ready(());
                }
                match &waiter.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => waiter.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Stage::Done => Poll::Ready(()),
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Stage::Waiting(key) = self.stage else {
            return;
        };
        let mut state = self.notify.state.lock();
        let waiter = state.waiters.remove(key);
        if waiter.notified == Some(Kind::One) {
            // Chosen by notify_one but cancelled before noticing: pass the notification on.
            if let Some(waker) = Notify::notify_one_locked(&mut state) {
                drop(state);
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{block_on, poll_once, CountingWaker};
    use std::pin::pin;

    /// `notify_one` with nobody waiting stores one permit (not two), consumed by the next wait.
    #[test]
    fn notify_one_stores_a_single_permit() {
        let n = Notify::new();
        n.notify_one();
        n.notify_one();
        block_on(n.notified()); // consumes the permit at once
        let w = CountingWaker::new();
        let mut second = pin!(n.notified());
        assert!(poll_once(second.as_mut(), &w.waker()).is_pending());
        n.notify_one();
        assert_eq!(w.count(), 1);
        assert!(poll_once(second.as_mut(), &w.waker()).is_ready());
    }

    /// `notify_one` wakes waiters one at a time, oldest first.
    #[test]
    fn notify_one_is_fifo() {
        let n = Notify::new();
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut a = pin!(n.notified());
        let mut b = pin!(n.notified());
        assert!(poll_once(a.as_mut(), &w1.waker()).is_pending());
        assert!(poll_once(b.as_mut(), &w2.waker()).is_pending());
        n.notify_one();
        assert_eq!((w1.count(), w2.count()), (1, 0));
        assert!(poll_once(b.as_mut(), &w2.waker()).is_pending());
        assert!(poll_once(a.as_mut(), &w1.waker()).is_ready());
    }

    /// `notify_waiters` wakes everyone waiting, and futures created before the call even if they
    /// were never polled, but stores no permit for later ones.
    #[test]
    fn notify_waiters_wakes_all_and_stores_nothing() {
        let n = Notify::new();
        let w = CountingWaker::new();
        let mut waiting: Vec<_> = (0..20).map(|_| Box::pin(n.notified())).collect();
        for f in &mut waiting {
            assert!(poll_once(f.as_mut(), &w.waker()).is_pending());
        }
        let mut created_not_polled = pin!(n.notified());
        n.notify_waiters();
        assert_eq!(w.count(), 20);
        for f in &mut waiting {
            assert!(poll_once(f.as_mut(), &w.waker()).is_ready());
        }
        assert!(poll_once(created_not_polled.as_mut(), &w.waker()).is_ready());
        let mut later = pin!(n.notified());
        assert!(poll_once(later.as_mut(), &w.waker()).is_pending());
    }

    /// A waiter chosen by `notify_one` and dropped before noticing passes the wake-up on.
    #[test]
    fn cancelled_waiter_passes_notification_on() {
        let n = Notify::new();
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut a = Box::pin(n.notified());
        let mut b = pin!(n.notified());
        assert!(poll_once(a.as_mut(), &w1.waker()).is_pending());
        assert!(poll_once(b.as_mut(), &w2.waker()).is_pending());
        n.notify_one();
        drop(a);
        assert_eq!(w2.count(), 1);
        assert!(poll_once(b.as_mut(), &w2.waker()).is_ready());
        // And with nobody left, a passed-on notification becomes the stored permit.
        let mut c = Box::pin(n.notified());
        assert!(poll_once(c.as_mut(), &w1.waker()).is_pending());
        n.notify_one();
        drop(c);
        block_on(n.notified());
    }

    /// A notification from another thread reaches a thread blocked in `notified().await`.
    #[test]
    fn wakes_across_threads() {
        let n = std::sync::Arc::new(Notify::new());
        let n2 = n.clone();
        let t = std::thread::spawn(move || block_on(n2.notified()));
        n.notify_one();
        t.join().unwrap();
    }
}

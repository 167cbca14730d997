//! An async counting semaphore with a FIFO line of waiters; the building block of
//! [`Mutex`](super::Mutex) (one permit) and bounded [`mpsc`](super::mpsc) (one permit per free slot).
//!
//! State, all behind one `crate::loom::Mutex`:
//!
//! ```text
//!   permits: 2          waiters (FIFO, a WaitList):  [ t7 ] -> [ t9 ] -> [ t3 ]
//!   closed:  false
//! ```
//!
//! INVARIANT (no barging): `permits > 0` implies the line is empty. A permit that comes back while
//! tasks wait is *handed* to the oldest waiter (it is unlinked and marked `granted`) instead of
//! being put on the counter, so a newcomer can never overtake a waiter. That is what makes the
//! semaphore, and everything built on it, FIFO fair.
//!
//! Cancellation: an [`Acquire`] future dropped while queued removes itself from the line; if it had
//! already been granted a permit that it never saw, it releases that permit, which hands it to the
//! next waiter. So dropping a future never loses a permit or a wake-up.
//!
//! Talks to: [`WaitList`] (the line), [`WakeBatch`] (waking outside the lock), and
//! `crate::coop` (an acquire spends one unit of the task's budget).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use super::wait_list::WaitList;
use super::wake_batch::WakeBatch;
use crate::loom::Mutex;

/// A counting semaphore: `acquire` waits until one of `n` permits is free.
///
/// Waiters are served first come, first served. Dropping a pending [`acquire`](Semaphore::acquire)
/// future is always safe: it leaves the line, and a permit it had been handed goes to the next one.
///
/// ```
/// use spindle::sync::Semaphore;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// // At most two "connections" at a time.
/// let sem = Semaphore::new(2);
/// let a = sem.acquire().await.unwrap();
/// let _b = sem.acquire().await.unwrap();
/// assert!(sem.try_acquire().is_err()); // both permits are out
/// drop(a);                             // a permit comes back...
/// assert!(sem.try_acquire().is_ok());  // ...and can be taken again
/// # });
/// ```
pub struct Semaphore {
    /// Permits, the line of waiters and the closed flag, changed together under one lock.
    state: Mutex<State>,
}

/// The lock-protected part of a [`Semaphore`].
#[derive(Debug)]
struct State {
    /// Free permits. INVARIANT: `permits > 0` implies `waiters.is_empty()` (no barging).
    permits: usize,
    /// Set by [`Semaphore::close`]; from then on every acquire that was not granted fails.
    closed: bool,
    /// Tasks waiting for a permit, oldest first.
    waiters: WaitList<Waiter>,
}

/// What the semaphore records about one queued acquire.
#[derive(Debug)]
struct Waiter {
    /// Woken when the waiter is granted a permit or the semaphore closes.
    waker: Option<Waker>,
    /// Set (together with unlinking the waiter) when a permit was handed to it.
    /// INVARIANT: a granted waiter owns exactly one permit until its future takes or releases it.
    granted: bool,
}

/// The error of [`Semaphore::acquire`]: the semaphore was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

/// The error of [`Semaphore::try_acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// No permit is free right now.
    NoPermits,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Mutex::new(State {
                permits,
                closed: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// How many permits are free right now (0 while anyone waits).
    pub fn available_permits(&self) -> usize {
        self.state.lock().permits
    }

    /// Waits for a permit; it returns to the semaphore when the [`SemaphorePermit`] is dropped.
    ///
    /// Fails only if the semaphore is (or becomes, while waiting) closed.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            semaphore: self,
            waiter: Acquirer::Idle,
        }
    }

    /// Like [`acquire`](Self::acquire), but the permit keeps the semaphore alive through an `Arc`,
    /// so it can be moved into a spawned task.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use spindle::sync::Semaphore;
    ///
    /// # let rt = spindle::Runtime::new().unwrap();
    /// # rt.block_on(async {
    /// let sem = Arc::new(Semaphore::new(1));
    /// let permit = sem.clone().acquire_owned().await.unwrap();
    /// let task = spindle::spawn(async move {
    ///     let _permit = permit; // held until this task finishes
    /// });
    /// task.await.unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        AcquireOwned {
            semaphore: Some(self),
            waiter: Acquirer::Idle,
        }
    }

    /// Takes a permit if one is free right now, without waiting.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take()?;
        Ok(SemaphorePermit { semaphore: self })
    }

    /// [`try_acquire`](Self::try_acquire) for an `Arc`-owned semaphore.
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take()?;
        Ok(OwnedSemaphorePermit {
            semaphore: Some(self),
        })
    }

    /// Adds `n` permits, handing them to waiters first (oldest first).
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    /// Closes the semaphore: every waiter and every later acquire fails with [`AcquireError`].
    /// Permits already held stay valid.
    pub fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        loop {
            // Pop waiters in batches; each sees `closed` (and not `granted`) when it runs.
            let mut batch = WakeBatch::new();
            while batch.has_room() {
                let Some(key) = state.waiters.pop_front() else {
                    break;
                };
                if let Some(waker) = state.waiters.get_mut(key).waker.take() {
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

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// The non-waiting acquire shared by the `try_` methods.
    fn try_take(&self) -> Result<(), TryAcquireError> {
        let mut state = self.state.lock();
        if state.closed {
            Err(TryAcquireError::Closed)
        } else if state.permits > 0 {
            // No barging is possible: `permits > 0` means nobody waits (the INVARIANT on `permits`).
            state.permits -= 1;
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Returns `n` permits: first to waiters in FIFO order, the rest to the counter.
    ///
    /// The numbered steps keep the no-barging invariant: permits reach the counter only once the
    /// line is empty.
    pub(crate) fn release(&self, n: usize) {
        let mut state = self.state.lock();
        state.permits = state
            .permits
            .checked_add(n)
            .expect("semaphore permit count overflowed usize");
        loop {
            // 1. Hand permits to the oldest waiters, at most one batch at a time.
            let mut batch = WakeBatch::new();
            while state.permits > 0 && batch.has_room() {
                let Some(key) = state.waiters.pop_front() else {
                    break;
                };
                state.permits -= 1;
                let waiter = state.waiters.get_mut(key);
                waiter.granted = true;
                if let Some(waker) = waiter.waker.take() {
                    batch.push(waker);
                }
            }
            // 2. Wake them with the lock released.
            let more = state.permits > 0 && !state.waiters.is_empty();
            drop(state);
            batch.wake_all();
            // 3. Permits left and waiters left: another round.
            if !more {
                return;
            }
            state = self.state.lock();
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("closed", &state.closed)
            .finish()
    }
}

/// Where one acquire stands; shared by [`Acquire`], [`AcquireOwned`] and the mutex's `Lock`.
#[derive(Debug)]
pub(crate) enum Acquirer {
    /// Not polled yet: not in line.
    Idle,
    /// In line (or granted and not yet noticed) under this [`WaitList`] key, which it owns.
    Queued(usize),
    /// Finished: it returned a permit or an error and owns no slot.
    Done,
}

impl Acquirer {
    /// One poll of an acquire on `sem`: `Ready(Ok(()))` means the caller now owns one permit.
    pub(crate) fn poll_acquire(
        &mut self,
        sem: &Semaphore,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        // A semaphore with free permits is always ready: spend budget so a loop over it yields.
        ready!(crate::coop::poll_proceed(cx));
        let mut state = sem.state.lock();
        match *self {
            Acquirer::Idle => {
                if state.closed {
                    *self = Acquirer::Done;
                    return Poll::Ready(Err(AcquireError(())));
                }
                if state.permits > 0 {
                    state.permits -= 1;
                    *self = Acquirer::Done;
                    return Poll::Ready(Ok(()));
                }
                let key = state.waiters.push_back(Waiter {
                    waker: Some(cx.waker().clone()),
                    granted: false,
                });
                *self = Acquirer::Queued(key);
                Poll::Pending
            }
            Acquirer::Queued(key) => {
                let closed = state.closed;
                let waiter = state.waiters.get_mut(key);
                if waiter.granted || closed {
                    // Granted wins over closed: a permit handed out before the close is valid.
                    let granted = state.waiters.remove(key).granted;
                    *self = Acquirer::Done;
                    return Poll::Ready(if granted {
                        Ok(())
                    } else {
                        Err(AcquireError(()))
                    });
                }
                // Still waiting: keep the newest waker (the task may have moved).
                match &waiter.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => waiter.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            Acquirer::Done => panic!("semaphore acquire future polled after completion"),
        }
    }

    /// Called when the future is dropped: leaves the line, and passes on a permit it was handed.
    pub(crate) fn cancel(&mut self, sem: &Semaphore) {
        let Acquirer::Queued(key) = *self else { return };
        *self = Acquirer::Done;
        let waiter = sem.state.lock().waiters.remove(key);
        if waiter.granted {
            // We were handed a permit but never saw it: give it on (to the next waiter, if any).
            sem.release(1);
        }
    }
}

/// The future of [`Semaphore::acquire`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    /// The semaphore being acquired.
    semaphore: &'a Semaphore,
    /// This acquire's place in line.
    waiter: Acquirer,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(this.waiter.poll_acquire(this.semaphore, cx))?;
        Poll::Ready(Ok(SemaphorePermit {
            semaphore: this.semaphore,
        }))
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.waiter.cancel(self.semaphore);
    }
}

/// The future of [`Semaphore::acquire_owned`].
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct AcquireOwned {
    /// The semaphore being acquired; moved into the permit when it is granted.
    /// INVARIANT: `Some` until the future returns `Ready`.
    semaphore: Option<Arc<Semaphore>>,
    /// This acquire's place in line.
    waiter: Acquirer,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let semaphore = this
            .semaphore
            .as_ref()
            .expect("AcquireOwned polled after completion");
        ready!(this.waiter.poll_acquire(semaphore, cx))?;
        Poll::Ready(Ok(OwnedSemaphorePermit {
            // The INVARIANT on `semaphore`: still `Some`, we just borrowed it above.
            semaphore: Some(this.semaphore.take().unwrap()),
        }))
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        if let Some(semaphore) = &self.semaphore {
            self.waiter.cancel(semaphore);
        }
    }
}

/// One permit of a [`Semaphore`], returned to it on drop.
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    /// Where the permit goes back to.
    semaphore: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good (the semaphore shrinks by one).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.release(1);
    }
}

/// One permit of an `Arc`-owned [`Semaphore`], returned to it on drop.
#[derive(Debug)]
#[must_use = "the permit is released as soon as it is dropped"]
pub struct OwnedSemaphorePermit {
    /// Where the permit goes back to (kept alive by this `Arc`).
    /// INVARIANT: `Some` until `forget` takes it, which is the only way to skip the release.
    semaphore: Option<Arc<Semaphore>>,
}

impl OwnedSemaphorePermit {
    /// Keeps the permit out of the semaphore for good (the semaphore shrinks by one).
    pub fn forget(mut self) {
        // Drop the Arc now; `Drop` then finds `None` and releases nothing.
        self.semaphore = None;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if let Some(semaphore) = self.semaphore.take() {
            semaphore.release(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{block_on, poll_once, CountingWaker};

    /// `try_acquire` takes permits until none are left, and a dropped permit returns.
    #[test]
    fn try_acquire_counts_permits() {
        let sem = Semaphore::new(2);
        let a = sem.try_acquire().unwrap();
        let b = sem.try_acquire().unwrap();
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        drop(a);
        assert_eq!(sem.available_permits(), 1);
        drop(b);
        assert_eq!(sem.available_permits(), 2);
        sem.close();
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    }

    /// Waiters are granted in the order they queued, and a newcomer does not overtake them.
    #[test]
    fn fifo_and_no_barging() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut a1 = Box::pin(sem.acquire());
        let mut a2 = Box::pin(sem.acquire());
        assert!(poll_once(a1.as_mut(), &w1.waker()).is_pending());
        assert!(poll_once(a2.as_mut(), &w2.waker()).is_pending());
        drop(held);
        // The permit went to a1 directly: the counter stays 0 and try_acquire cannot barge in.
        assert_eq!(w1.count(), 1);
        assert_eq!(w2.count(), 0);
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_err());
        let p1 = match poll_once(a1.as_mut(), &w1.waker()) {
            Poll::Ready(Ok(p)) => p,
            other => panic!("a1 should hold the permit, got {other:?}"),
        };
        assert!(poll_once(a2.as_mut(), &w2.waker()).is_pending());
        drop(p1);
        assert_eq!(w2.count(), 1);
        assert!(matches!(
            poll_once(a2.as_mut(), &w2.waker()),
            Poll::Ready(Ok(_))
        ));
    }

    /// Dropping a granted-but-unpolled acquire hands its permit to the next waiter; dropping a
    /// queued one just leaves the line. Either way the permit count is conserved.
    #[test]
    fn cancellation_conserves_permits() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let (w1, w2, w3) = (
            CountingWaker::new(),
            CountingWaker::new(),
            CountingWaker::new(),
        );
        let mut a1 = Box::pin(sem.acquire());
        let mut a2 = Box::pin(sem.acquire());
        let mut a3 = Box::pin(sem.acquire());
        assert!(poll_once(a1.as_mut(), &w1.waker()).is_pending());
        assert!(poll_once(a2.as_mut(), &w2.waker()).is_pending());
        assert!(poll_once(a3.as_mut(), &w3.waker()).is_pending());
        drop(a2); // queued, never granted: just leaves
        drop(held); // granted to a1
        assert_eq!(w1.count(), 1);
        drop(a1); // granted but never polled: passes the permit to a3
        assert_eq!(w3.count(), 1);
        let p3 = match poll_once(a3.as_mut(), &w3.waker()) {
            Poll::Ready(Ok(p)) => p,
            other => panic!("a3 should hold the permit, got {other:?}"),
        };
        drop(p3);
        drop(a3);
        assert_eq!(sem.available_permits(), 1);
    }

    /// `close` wakes every waiter with an error; permits already held are unaffected.
    #[test]
    fn close_fails_waiters() {
        let sem = Semaphore::new(1);
        let held = sem.try_acquire().unwrap();
        let waker = CountingWaker::new();
        let mut futs: Vec<_> = (0..40).map(|_| Box::pin(sem.acquire())).collect();
        for f in &mut futs {
            assert!(poll_once(f.as_mut(), &waker.waker()).is_pending());
        }
        sem.close();
        // 40 waiters need more than one WakeBatch: every one of them must still be woken.
        assert_eq!(waker.count(), 40);
        for f in &mut futs {
            assert!(matches!(
                poll_once(f.as_mut(), &waker.waker()),
                Poll::Ready(Err(_))
            ));
        }
        drop(held);
        assert!(block_on(sem.acquire()).is_err());
    }

    /// `add_permits` serves several waiters at once, more than one batch of them.
    #[test]
    fn add_permits_serves_many() {
        let sem = Semaphore::new(0);
        let waker = CountingWaker::new();
        let mut futs: Vec<_> = (0..40).map(|_| Box::pin(sem.acquire())).collect();
        for f in &mut futs {
            assert!(poll_once(f.as_mut(), &waker.waker()).is_pending());
        }
        sem.add_permits(35);
        assert_eq!(waker.count(), 35);
        assert_eq!(sem.available_permits(), 0);
        let mut permits = Vec::new();
        for f in &mut futs[..35] {
            match poll_once(f.as_mut(), &waker.waker()) {
                Poll::Ready(Ok(p)) => permits.push(p),
                other => panic!("expected a permit, got {other:?}"),
            }
        }
        drop(futs); // the last 5 leave the line
        drop(permits);
        assert_eq!(sem.available_permits(), 35);
    }

    /// An owned permit keeps its semaphore alive and `forget` shrinks the semaphore.
    #[test]
    fn owned_permits_and_forget() {
        let sem = Arc::new(Semaphore::new(2));
        let p = block_on(sem.clone().acquire_owned()).unwrap();
        let q = sem.clone().try_acquire_owned().unwrap();
        assert_eq!(sem.available_permits(), 0);
        drop(p);
        q.forget();
        assert_eq!(sem.available_permits(), 1);
        sem.try_acquire().unwrap().forget();
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(Arc::strong_count(&sem), 1);
    }
}

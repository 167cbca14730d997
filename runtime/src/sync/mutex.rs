//! An async mutex: a [`Semaphore`] with one permit guarding an `UnsafeCell<T>`.
//!
//! Why async: a `std::sync::Mutex` guard held across an `.await` blocks the whole worker thread
//! if another task on it wants the lock (and cannot be held across `.await` in a `Send` future at
//! all). This mutex's [`lock`](Mutex::lock) instead *suspends the task*, so the guard may be held
//! across awaits — which is exactly what the "cancel order" race needs (see `examples/cancel_order.rs`).
//!
//! Everything hard — the FIFO line, handing the lock directly to the next waiter, cancellation —
//! is the semaphore's; see `semaphore.rs`. What this file adds is the one rule that makes the
//! `unsafe` below sound:
//!
//! INVARIANT: a [`MutexGuard`] exists exactly while its holder owns the semaphore's single permit,
//! so at most one guard exists at a time, and only a guard (or `&mut Mutex`) touches the value.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::semaphore::{Acquirer, Semaphore};
use crate::loom::UnsafeCell;

/// An async, FIFO-fair mutual exclusion lock whose guard may be held across `.await`.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Mutex;
///
/// # let rt = spindle::Runtime::new().unwrap();
/// # rt.block_on(async {
/// let counter = Arc::new(Mutex::new(0));
/// let mut tasks = Vec::new();
/// for _ in 0..10 {
///     let counter = counter.clone();
///     tasks.push(spindle::spawn(async move {
///         let mut n = counter.lock().await;
///         spindle::task::yield_now().await; // holding the lock across an await is fine
///         *n += 1;
///     }));
/// }
/// for t in tasks {
///     t.await.unwrap();
/// }
/// assert_eq!(*counter.lock().await, 10);
/// # });
/// ```
pub struct Mutex<T> {
    /// One permit = the right to touch `value`. FIFO and cancellation-safe (see `semaphore.rs`).
    semaphore: Semaphore,
    /// The protected value. INVARIANT: accessed only through a [`MutexGuard`] or `&mut self`.
    value: UnsafeCell<T>,
}

// SAFETY: the mutex hands `&mut T` to one thread at a time (the INVARIANT above), so sharing a
// `Mutex<T>` between threads only ever *moves* access to `T` between them: `T: Send` suffices,
// exactly as for `std::sync::Mutex`.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: sending the mutex sends the `T` inside it.
unsafe impl<T: Send> Send for Mutex<T> {}

/// Exclusive access to a [`Mutex`]'s value; the lock is released (to the next waiter, if any)
/// when the guard is dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    /// The locked mutex. INVARIANT: this guard owns its semaphore's only permit.
    mutex: &'a Mutex<T>,
}

// SAFETY: `&MutexGuard` only gives out `&T`, so sharing a guard between threads shares `&T`:
// that needs `T: Sync` (the auto impl would only ask for `T: Send`, which is not enough).
unsafe impl<T: Sync> Sync for MutexGuard<'_, T> {}

/// The error of [`Mutex::try_lock`]: the lock is held (or other tasks are waiting for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(());

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mutex is locked")
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            semaphore: Semaphore::new(1),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock. Waiters get it in the order they first polled this future.
    ///
    /// Cancellation-safe: dropping the future gives up its place in line, and if the lock had
    /// already been handed to it, passes the lock on to the next waiter.
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            waiter: Acquirer::Idle,
        }
    }

    /// Takes the lock if it is free and nobody is waiting for it.
    ///
    /// ```
    /// use spindle::sync::Mutex;
    ///
    /// let m = Mutex::new(1);
    /// let mut guard = m.try_lock().unwrap();
    /// *guard += 1;
    /// assert!(m.try_lock().is_err()); // held
    /// drop(guard);
    /// assert_eq!(m.into_inner(), 2);
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.semaphore.try_acquire() {
            Ok(permit) => {
                // The guard now stands for the permit; it releases it in its own Drop.
                permit.forget();
                Ok(MutexGuard { mutex: self })
            }
            Err(_) => Err(TryLockError(())),
        }
    }

    /// The value, through `&mut self`: no lock is needed when nobody else can hold a reference.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves that no guard and no other reference to the mutex exists.
        self.value.with_mut(|p| unsafe { &mut *p })
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        let Mutex { semaphore, value } = self;
        drop(semaphore);
        // SAFETY: we own `value` (moved out of `self`), so nobody else can access it. We read the
        // `T` out and then forget the cell, so the `T` is not dropped a second time.
        // (The `crate::loom` cell offers no `into_inner`; this is what it would do.)
        let inner = value.with_mut(|p| unsafe { std::ptr::read(p) });
        std::mem::forget(value);
        inner
    }

    /// Called by a guard's Drop: hands the permit to the next waiter or back to the counter.
    fn unlock(&self) {
        self.semaphore.release(1);
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("value", &&*guard),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "futures do nothing unless polled"]
pub struct Lock<'a, T> {
    /// The mutex being locked.
    mutex: &'a Mutex<T>,
    /// This lock call's place in the semaphore's line.
    waiter: Acquirer,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.get_mut();
        let granted = ready!(this.waiter.poll_acquire(&this.mutex.semaphore, cx));
        // A mutex never closes its semaphore, so an acquire cannot fail.
        granted.expect("a mutex's semaphore is never closed");
        Poll::Ready(MutexGuard { mutex: this.mutex })
    }
}

impl<T> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        self.waiter.cancel(&self.mutex.semaphore);
    }
}

impl<T> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("waiter", &self.waiter)
            .finish()
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard owns the only permit (INVARIANT on `mutex`), so no `&mut T` exists
        // elsewhere; the returned borrow lives no longer than the guard.
        self.mutex.value.with(|p| unsafe { &*p })
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        self.mutex.value.with_mut(|p| unsafe { &mut *p })
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{block_on, poll_once, CountingWaker};
    use std::sync::Arc;

    /// `try_lock` fails while a guard lives, and `get_mut` / `into_inner` reach the value.
    #[test]
    fn try_lock_get_mut_into_inner() {
        let mut m = Mutex::new(vec![1]);
        {
            let mut g = m.try_lock().unwrap();
            g.push(2);
            assert!(m.try_lock().is_err());
        }
        m.get_mut().push(3);
        assert_eq!(*block_on(m.lock()), vec![1, 2, 3]);
        assert_eq!(m.into_inner(), vec![1, 2, 3]);
    }

    /// Waiters get the lock in the order they asked for it.
    #[test]
    fn fifo_fairness() {
        let m = Mutex::new(Vec::new());
        let held = m.try_lock().unwrap();
        let waker = CountingWaker::new();
        let mut locks: Vec<_> = (0..5).map(|_| Box::pin(m.lock())).collect();
        for l in &mut locks {
            assert!(poll_once(l.as_mut(), &waker.waker()).is_pending());
        }
        drop(held);
        // Poll them in reverse: only the oldest may win each round.
        for round in 0..5 {
            let mut winner = None;
            for (i, l) in locks.iter_mut().enumerate().rev() {
                if let Poll::Ready(mut g) = poll_once(l.as_mut(), &waker.waker()) {
                    assert!(winner.is_none(), "two guards at once");
                    g.push(i);
                    winner = Some(i);
                    drop(g);
                    break;
                }
            }
            assert_eq!(winner, Some(round));
            locks[round] = Box::pin(m.lock()); // a fresh, unpolled future stands in
        }
        assert_eq!(*m.try_lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    /// A pending lock future that was already handed the lock and is then dropped passes the lock
    /// on: the next waiter is woken and gets it.
    #[test]
    fn dropped_granted_lock_passes_it_on() {
        let m = Mutex::new(0);
        let held = m.try_lock().unwrap();
        let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
        let mut first = Box::pin(m.lock());
        let mut second = Box::pin(m.lock());
        assert!(poll_once(first.as_mut(), &w1.waker()).is_pending());
        assert!(poll_once(second.as_mut(), &w2.waker()).is_pending());
        drop(held); // handed to `first`, which is woken but not yet polled
        assert_eq!((w1.count(), w2.count()), (1, 0));
        drop(first); // cancelled: must not swallow the lock
        assert_eq!(w2.count(), 1);
        match poll_once(second.as_mut(), &w2.waker()) {
            Poll::Ready(mut g) => *g += 1,
            Poll::Pending => panic!("the lock was lost with the cancelled future"),
        }
        assert_eq!(*m.try_lock().unwrap(), 1);
    }

    /// Threads contending through `block_on` never see two guards at once and lose no update.
    #[test]
    fn threads_increment_through_the_lock() {
        let m = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        let mut g = block_on(m.lock());
                        let v = *g;
                        std::thread::yield_now();
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.try_lock().unwrap(), 2000);
    }
}

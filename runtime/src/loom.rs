//! The one place that decides where synchronization primitives come from.
//!
//! Every module that shares state between threads imports `Arc`, the atomics, `Mutex`, `Condvar`
//! and `UnsafeCell` from here instead of from `std` or `parking_lot`. A normal build gets the real
//! ones; a build with `RUSTFLAGS="--cfg loom"` gets loom's model-checked stand-ins, so the loom
//! models in `tests/loom_*.rs` explore every interleaving of the very code that ships.
//!
//! `UnsafeCell` is the loom-style one (`with` / `with_mut` closures) in both builds, so code written
//! against it checks its accesses under loom and compiles to a plain pointer access otherwise.

#![allow(dead_code, unused_imports)]

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::Arc;

    /// A mutex without poisoning (parking_lot), with the std-like `lock()` the models also have.
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
    /// A condition variable paired with [`Mutex`].
    pub(crate) type Condvar = parking_lot::Condvar;

    /// `UnsafeCell` with loom's closure API, so the same code runs under the model checker.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }
        /// Runs `f` with a shared raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        /// Runs `f` with a unique raw pointer to the contents.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Spins politely (a real spin-loop hint outside loom, a yield to the scheduler under loom).
    #[inline(always)]
    pub(crate) fn spin_loop() {
        std::hint::spin_loop()
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::Arc;

    /// loom's mutex, wrapped to have parking_lot's non-poisoning `lock()`.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner().unwrap()
        }
    }

    /// loom's condvar with parking_lot's `wait(&mut guard)` shape.
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            // loom's condvar consumes the guard; swap it through a temporary to keep parking_lot's shape.
            take_mut(guard, |g| self.0.wait(g).unwrap());
        }
        /// loom has no clock: a timed wait is modelled as an untimed one that never times out.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _until: std::time::Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult
        }
        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }
        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
    }

    /// The result of [`Condvar::wait_until`] under loom: never a time-out.
    pub(crate) struct WaitTimeoutResult;

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            false
        }
    }

    fn take_mut<T>(slot: &mut T, f: impl FnOnce(T) -> T) {
        // SAFETY: `slot` is read out and written back before anyone can observe it; `f` (a condvar
        // wait in a model) does not panic except by aborting the whole model run.
        unsafe {
            let old = std::ptr::read(slot);
            std::ptr::write(slot, f(old));
        }
    }

    /// Under loom a spin must yield, or the model would never schedule the thread we wait for.
    pub(crate) fn spin_loop() {
        loom::thread::yield_now()
    }
}

pub(crate) use imp::*;

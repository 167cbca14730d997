//! Which runtime is "current" on this thread.
//!
//! `spindle::spawn`, `time::sleep` and `TcpStream::connect` take no runtime argument, like their
//! asyncio counterparts: they find the runtime through a thread-local set by [`enter`]. Workers,
//! `block_on`, and blocking-pool threads enter their runtime's context for as long as they run.
//!
//! Invariant: the thread-local holds a clone of the [`Handle`]; a guard restores the previous value
//! on drop, so contexts nest (a runtime created inside another's `block_on` works).

use std::cell::RefCell;

use super::Handle;

thread_local! {
    /// The handle of the runtime this thread is currently running for, if any.
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Restores the previously current runtime when dropped. Returned by [`enter`].
#[derive(Debug)]
pub(crate) struct EnterGuard {
    /// What `CURRENT` held before `enter`.
    prev: Option<Handle>,
}

/// Makes `handle` the current runtime of this thread until the guard is dropped.
pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(handle));
    EnterGuard { prev }
}

/// Like [`enter`], but `None` once this thread's context has been destroyed: a runtime dropped
/// by another thread-local's destructor at thread exit, after `CURRENT`'s own destructor ran
/// (their order is not ours to choose). Shutdown then runs without a current runtime.
pub(crate) fn try_enter(handle: Handle) -> Option<EnterGuard> {
    CURRENT
        .try_with(|c| c.borrow_mut().replace(handle))
        .ok()
        .map(|prev| EnterGuard { prev })
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // `try_with`: during thread teardown the thread-local may already be gone; nothing to restore then.
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// A clone of the current runtime's handle, or `None` outside any runtime.
pub(crate) fn current_handle() -> Option<Handle> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Runs `f` with the current runtime's handle without cloning it; `None` outside any runtime.
pub(crate) fn with_current<R>(f: impl FnOnce(&Handle) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// The current handle, or a panic that says what went wrong (like tokio's message).
#[track_caller]
pub(crate) fn expect_current(what: &str) -> Handle {
    match current_handle() {
        Some(h) => h,
        None => panic!("{what} must be called from within a spindle runtime (inside block_on, a spawned task, or after Runtime::enter)"),
    }
}

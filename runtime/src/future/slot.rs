//! [`FutureSlot`]: a boxed, type-erased future whose heap allocation is reused by the next
//! future of the same size and alignment.
//!
//! Talks to nothing but `std::alloc` and `std::task`. Used by `spindle-http`'s connection loop:
//! each request's handler is a different future (a `Box<dyn Future>`), but consecutive requests
//! to the same route produce futures of the same type, so one allocation can serve them all
//! instead of a `malloc` and a `free` per request.
//!
//! How it works: the slot owns at most one allocation (pointer + [`Layout`]) and at most one
//! future living in it (a fat `dyn Future` pointer into that allocation). [`FutureSlot::set`]
//! drops the old future *in place* and, if the new future's `Layout` equals the allocation's,
//! writes the new one into the same memory; otherwise it frees and allocates.
//!
//! Invariants:
//! - INVARIANT: `live`, when `Some`, points at a valid, initialized future of the allocation's
//!   exact layout, stored at the start of `alloc`'s memory; it was never moved since it was
//!   written (so it is pinned: `poll` may hand out `Pin<&mut _>`), and it is dropped in place
//!   before the memory is reused or freed (the `Pin` drop guarantee).
//! - INVARIANT: `alloc`, when `Some`, was allocated by the global allocator with that layout
//!   (never for a zero-sized layout: zero-sized futures live at a dangling, aligned pointer).

use std::alloc::{self, Layout};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

/// The erased future type the slot holds.
type DynFuture<'a, T> = dyn Future<Output = T> + Send + 'a;

/// A reusable home for one boxed future at a time (see the module docs).
///
/// ```
/// use spindle::future::FutureSlot;
///
/// # spindle::Runtime::new().unwrap().block_on(async {
/// let mut slot = FutureSlot::new();
/// for i in 0..3u32 {
///     // The same future type every time: one allocation serves all three.
///     slot.set(async move { i * 10 });
///     assert_eq!(slot.wait().await, Some(i * 10));
/// }
/// assert!(slot.is_empty());
/// # });
/// ```
pub struct FutureSlot<'a, T> {
    /// The memory (and its layout) kept for reuse; `None` when nothing is allocated.
    alloc: Option<(NonNull<u8>, Layout)>,
    /// The future currently living in `alloc` (or at a dangling pointer, if zero-sized).
    live: Option<NonNull<DynFuture<'a, T>>>,
    /// The slot owns futures of this type (for variance and auto traits' sake).
    _owns: PhantomData<Pin<Box<DynFuture<'a, T>>>>,
}

// SAFETY: the slot owns its future exclusively (as a `Box<dyn Future + Send>` would) and the
// raw allocation is plain memory, so sending the slot to another thread is as safe as sending
// that box.
unsafe impl<T> Send for FutureSlot<'_, T> {}

// SAFETY: no method takes `&self` and touches the future (polling needs `&mut self`), so a
// shared reference gives no access to the (possibly `!Sync`) future.
unsafe impl<T> Sync for FutureSlot<'_, T> {}

impl<T> Unpin for FutureSlot<'_, T> {}

impl<'a, T> FutureSlot<'a, T> {
    /// An empty slot: no future, no allocation.
    pub const fn new() -> Self {
        FutureSlot {
            alloc: None,
            live: None,
            _owns: PhantomData,
        }
    }

    /// True when no future lives in the slot (it may still keep an allocation for reuse).
    pub fn is_empty(&self) -> bool {
        self.live.is_none()
    }

    /// Bytes of the allocation the slot keeps (0 if none), whether or not a future lives in
    /// it: lets an owner decide whether holding on to it while idle is worth the memory.
    ///
    /// ```
    /// use spindle::future::FutureSlot;
    /// let mut slot: FutureSlot<'static, u64> = FutureSlot::new();
    /// assert_eq!(slot.capacity(), 0);
    /// let big = [0u8; 64];
    /// slot.set(async move { big.len() as u64 });
    /// assert!(slot.capacity() >= 64);
    /// slot.clear();
    /// assert!(slot.capacity() >= 64, "clear keeps the allocation");
    /// slot.release();
    /// assert_eq!(slot.capacity(), 0);
    /// ```
    pub fn capacity(&self) -> usize {
        self.alloc.map_or(0, |(_, layout)| layout.size())
    }

    /// Puts `future` in the slot, dropping the one there (if any). Reuses the allocation when
    /// `F` has the same size and alignment as what it was made for.
    pub fn set<F: Future<Output = T> + Send + 'a>(&mut self, future: F) {
        self.clear();
        let layout = Layout::new::<F>();
        let memory = if layout.size() == 0 {
            // Zero-sized: nothing to allocate; any aligned, non-null pointer will do.
            self.release();
            NonNull::<F>::dangling().cast::<u8>()
        } else {
            match self.alloc {
                Some((memory, kept)) if kept == layout => memory,
                _ => {
                    self.release();
                    // SAFETY: `layout` has a non-zero size (checked above).
                    let raw = unsafe { alloc::alloc(layout) };
                    let Some(memory) = NonNull::new(raw) else {
                        alloc::handle_alloc_error(layout);
                    };
                    self.alloc = Some((memory, layout));
                    memory
                }
            }
        };
        let typed = memory.cast::<F>();
        // SAFETY: `typed` is valid for writes of one `F` and aligned for it: it is either a
        // fresh or kept allocation of exactly `Layout::new::<F>()` that no live future occupies
        // (`clear` dropped the old one), or a dangling aligned pointer for a zero-sized `F`.
        unsafe { ptr::write(typed.as_ptr(), future) };
        // The unsizing cast attaches `F`'s vtable; from here on the future is never moved.
        let erased: NonNull<DynFuture<'a, T>> = typed;
        self.live = Some(erased);
    }

    /// Drops the future in the slot (if any), keeping the allocation for the next [`set`].
    ///
    /// [`set`]: FutureSlot::set
    pub fn clear(&mut self) {
        if let Some(live) = self.live.take() {
            // SAFETY: `live` points at an initialized future that nothing else references
            // (module INVARIANT); it was taken out of `self.live` first, so even if its
            // destructor panics it is never dropped or polled again.
            unsafe { ptr::drop_in_place(live.as_ptr()) };
        }
    }

    /// Drops the future and frees the allocation: the slot then holds no memory at all.
    pub fn release(&mut self) {
        self.clear();
        if let Some((memory, layout)) = self.alloc.take() {
            // SAFETY: `memory` was allocated by the global allocator with `layout` (module
            // INVARIANT), and no future lives in it any more (`clear` above).
            unsafe { alloc::dealloc(memory.as_ptr(), layout) };
        }
    }

    /// Polls the future in the slot. `Ready(None)` if the slot is empty. The future is *not*
    /// dropped when it completes: call [`clear`](FutureSlot::clear) (or `set` the next one).
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.live {
            None => Poll::Ready(None),
            // SAFETY: the future is initialized and never moves while it lives in the slot
            // (module INVARIANT), so pinning it is sound; `&mut self` makes the access unique.
            Some(live) => unsafe { Pin::new_unchecked(&mut *live.as_ptr()) }
                .poll(cx)
                .map(Some),
        }
    }

    /// Waits for the future in the slot and drops it once it is done (keeping the allocation).
    /// `None` if the slot was empty.
    pub async fn wait(&mut self) -> Option<T> {
        let output = std::future::poll_fn(|cx| self.poll(cx)).await;
        self.clear();
        output
    }
}

impl<T> Default for FutureSlot<'_, T> {
    fn default() -> Self {
        FutureSlot::new()
    }
}

impl<T> Drop for FutureSlot<'_, T> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<T> fmt::Debug for FutureSlot<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureSlot")
            .field("live", &self.live.is_some())
            .field("allocated", &self.alloc.map(|(_, layout)| layout.size()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::CountingWaker;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its drops, so tests can see each future dropped exactly once.
    struct Dropper(Arc<AtomicUsize>, [u8; 24]);

    impl Future for Dropper {
        type Output = u8;
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u8> {
            Poll::Ready(self.1[0])
        }
    }

    impl Drop for Dropper {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_now<T>(slot: &mut FutureSlot<'_, T>) -> Poll<Option<T>> {
        let waker = CountingWaker::new().waker();
        slot.poll(&mut Context::from_waker(&waker))
    }

    /// The same layout reuses the allocation; every future is dropped exactly once (on `set`,
    /// `clear`, `release` and the slot's own drop); a different layout gets a new allocation.
    #[test]
    fn reuses_memory_and_drops_each_future_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut slot = FutureSlot::new();
        slot.set(Dropper(drops.clone(), [1; 24]));
        let first = slot.alloc.map(|(p, _)| p);
        assert_eq!(poll_now(&mut slot), Poll::Ready(Some(1)));
        slot.set(Dropper(drops.clone(), [2; 24]));
        assert_eq!(drops.load(Ordering::SeqCst), 1, "set drops the old future");
        assert_eq!(
            slot.alloc.map(|(p, _)| p),
            first,
            "same layout, same memory"
        );
        assert_eq!(poll_now(&mut slot), Poll::Ready(Some(2)));
        slot.clear();
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(slot.is_empty());
        assert_eq!(poll_now(&mut slot), Poll::Ready(None));
        // A bigger future needs new memory.
        slot.set(async { [7u8; 100][3] });
        let kept = slot.alloc.map(|(_, layout)| layout);
        assert!(kept.is_some_and(|layout| layout != Layout::new::<Dropper>()));
        assert_eq!(poll_now(&mut slot), Poll::Ready(Some(7)));
        slot.set(Dropper(drops.clone(), [3; 24]));
        drop(slot);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "the slot's drop drops its future"
        );
    }

    /// A future with no state at all.
    struct Zst;

    impl Future for Zst {
        type Output = u8;
        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u8> {
            Poll::Ready(5)
        }
    }

    /// Zero-sized futures need no allocation; moving between sizes frees and allocates;
    /// `release` leaves no memory behind.
    #[test]
    fn zero_sized_futures_allocate_nothing() {
        let mut slot = FutureSlot::new();
        slot.set(Zst);
        assert!(slot.alloc.is_none());
        assert_eq!(poll_now(&mut slot), Poll::Ready(Some(5)));
        slot.set(async { 6 });
        assert!(
            slot.alloc.is_some(),
            "an async block has state, so it needs memory"
        );
        assert_eq!(poll_now(&mut slot), Poll::Ready(Some(6)));
        slot.set(Zst);
        assert!(
            slot.alloc.is_none(),
            "a zero-sized future frees the kept memory"
        );
        slot.set(async { 7 });
        slot.release();
        assert!(slot.alloc.is_none() && slot.is_empty());
    }

    /// A pending future stays put between polls (it is pinned) and completes when woken.
    #[test]
    fn pending_future_is_polled_in_place() {
        let (tx, rx) = crate::sync::oneshot::channel::<u32>();
        let mut slot = FutureSlot::new();
        slot.set(async move { rx.await.unwrap_or(0) + 1 });
        assert_eq!(poll_now(&mut slot), Poll::Pending);
        tx.send(41).unwrap();
        assert_eq!(poll_now(&mut slot), Poll::Ready(Some(42)));
    }
}

//! The live counters behind [`HttpMetrics`](super::HttpMetrics): one [`Shard`] per thread that
//! serves requests, so that counting a request writes only lines its own thread owns.
//!
//! How a thread finds its shard: every thread that counts something claims a small *thread
//! index* on first use (a thread-local, returned to a free list when the thread exits, so a
//! test suite that starts thousands of threads reuses a few dozen indices). A recorder keeps
//! one shard per index (made with the recorder; the request counters of a shard are made in
//! pages of routes, at a page's first count). Threads beyond [`EXCLUSIVE_SHARDS`] at once share
//! one last shard, counted with atomic read-modify-writes instead.
//!
//! Invariants:
//! - INVARIANT (single writer): a shard made for an exclusive index is written only by the
//!   thread holding that index. An index changes hands only through the free list's mutex, so
//!   the next holder sees every store of the previous one. Its counters are bumped with a
//!   Relaxed load and a Relaxed store, not a read-modify-write (nobody else can store in
//!   between); a reader on another thread sees some recent value of each.
//! - INVARIANT (own lines): each shard is aligned to 128 bytes, so two threads never write the
//!   same cache line.
//! - A snapshot adds the shards up while they keep counting: each number is recent, but the
//!   snapshot is not one instant's consistent cut (see `HttpSnapshot`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Shards per recorder: a power of two, so that a thread index masked by `SHARDS - 1` needs no
/// bounds check.
pub(crate) const SHARDS: usize = 64;
/// Threads that get a shard of their own (the rest share the last one).
pub(crate) const EXCLUSIVE_SHARDS: usize = SHARDS - 1;

/// Routes per lazily allocated page of request counters.
pub(crate) const ROUTES_PER_PAGE: usize = 8;
/// Pages per shard.
pub(crate) const PAGES: usize = 32;
/// Routes with counters of their own: later ones are counted as the last of these.
pub(crate) const MAX_ROUTES: usize = ROUTES_PER_PAGE * PAGES;
/// A request's series (route, method, status class) is `route << ROUTE_SHIFT | method *
/// CLASSES + class`: each route has 64 slots, of which `METHODS * CLASSES` are used.
pub(crate) const ROUTE_SHIFT: u32 = 6;
/// Counter slots per page.
const PAGE_SLOTS: usize = ROUTES_PER_PAGE << ROUTE_SHIFT;
/// Method labels (see `super::METHODS`).
pub(crate) const METHODS: usize = 10;
/// Status classes (see `super::STATUS_CLASSES`).
pub(crate) const CLASSES: usize = 6;
/// Rejection statuses (see `super::REJECTION_STATUSES`), plus one for any other status.
pub(crate) const REJECTIONS: usize = 8;
/// Duration buckets (see `super::DURATION_SCALE`).
pub(crate) const BUCKETS: usize = spindle::metrics::Histogram::BUCKETS;

/// A counter in a shard; `exclusive` says whether the caller's shard has a single writer.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`: a plain load and store in an exclusive shard, `fetch_add` in the shared one.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64, exclusive: bool) {
        if exclusive {
            // Relaxed load and store: the shard's thread is the only writer (module
            // INVARIANT); readers pair with nothing, they only want a recent value.
            let v = self.0.load(Ordering::Relaxed);
            self.0.store(v.wrapping_add(n), Ordering::Relaxed);
        } else {
            // Relaxed: a count, nothing is published through it.
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// The current value (any thread).
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Request counters of `ROUTES_PER_PAGE` routes, by method and status class (indexed by the
/// low bits of the series).
#[derive(Debug)]
pub(crate) struct Page([Counter; PAGE_SLOTS]);

const _: () = assert!(METHODS * CLASSES <= 1 << ROUTE_SHIFT);

/// One thread's counters (or the shared overflow shard's).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Shard {
    /// True when one thread at a time writes here (an exclusive index); false for the shared
    /// overflow shard.
    pub(crate) exclusive: bool,
    /// Requests whose handler had to wait (see `super`'s docs on in flight).
    pub(crate) waiting: Counter,
    /// Of those, the ones finished; `waiting` minus `waited` is in flight.
    pub(crate) waited: Counter,
    /// Connections whose task started.
    pub(crate) conns_opened: Counter,
    /// Connections whose task ended.
    pub(crate) conns_closed: Counter,
    /// Requests refused by the connection before any handler, by status.
    pub(crate) rejected: [Counter; REJECTIONS],
    /// Timed requests per duration bucket.
    pub(crate) duration: [Counter; BUCKETS],
    /// Sum of the timed requests' durations, in nanoseconds.
    pub(crate) duration_sum_ns: Counter,
    /// Finished requests by route, method and status class; a page is made at its first count.
    pub(crate) pages: [OnceLock<Box<Page>>; PAGES],
}

impl Shard {
    /// An empty shard.
    pub(crate) fn new(exclusive: bool) -> Shard {
        Shard {
            exclusive,
            waiting: Counter::default(),
            waited: Counter::default(),
            conns_opened: Counter::default(),
            conns_closed: Counter::default(),
            rejected: Default::default(),
            duration: Default::default(),
            duration_sum_ns: Counter::default(),
            pages: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Adds one to `counter` (a field of this shard).
    #[inline(always)]
    pub(crate) fn inc(&self, counter: &Counter) {
        counter.add(1, self.exclusive);
    }

    /// The counter of finished requests of `series` (see [`ROUTE_SHIFT`]; the route is below
    /// [`MAX_ROUTES`]).
    #[inline]
    pub(crate) fn request_counter(&self, series: usize) -> &Counter {
        let page = self.pages[(series / PAGE_SLOTS) % PAGES]
            .get_or_init(|| Box::new(Page(std::array::from_fn(|_| Counter::default()))));
        &page.0[series % PAGE_SLOTS]
    }

    /// The finished-request count for `route`, `method` and `class`, without making a page.
    pub(crate) fn requests(&self, route: usize, method: usize, class: usize) -> u64 {
        let series = (route << ROUTE_SHIFT) + method * CLASSES + class;
        match self.pages.get(series / PAGE_SLOTS).and_then(|p| p.get()) {
            Some(page) => page.0[series % PAGE_SLOTS].get(),
            None => 0,
        }
    }

    /// Whether this shard has counted anything for routes `[first, first + ROUTES_PER_PAGE)`.
    pub(crate) fn has_page(&self, page: usize) -> bool {
        self.pages.get(page).is_some_and(|p| p.get().is_some())
    }
}

/// The index of the shared overflow shard (the last).
pub(crate) const SHARED: usize = SHARDS - 1;

/// Indices handed back by threads that ended.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The next index never handed out.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A thread's claim on a shard index; gives it back when the thread exits.
struct ThreadIndex(usize);

impl ThreadIndex {
    /// A free index, or [`SHARED`] when all exclusive ones are taken.
    fn claim() -> ThreadIndex {
        let mut free = FREE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = free.pop() {
            return ThreadIndex(i);
        }
        // Under the lock, so indices are handed out in order and never past SHARED.
        let i = NEXT.load(Ordering::Relaxed);
        if i < EXCLUSIVE_SHARDS {
            NEXT.store(i + 1, Ordering::Relaxed);
            ThreadIndex(i)
        } else {
            ThreadIndex(SHARED)
        }
    }
}

impl Drop for ThreadIndex {
    fn drop(&mut self) {
        // Forget the cached index first: a count made later in this thread's exit (another
        // thread-local's destructor) must not write a shard the next holder writes.
        let _ = FAST.try_with(|f| f.set(0));
        if self.0 != SHARED {
            FREE.lock().unwrap_or_else(|p| p.into_inner()).push(self.0);
        }
    }
}

thread_local! {
    /// This thread's shard index plus one, 0 until claimed (or once given back): the copy read
    /// on every count. It has no destructor, so reading it is a plain thread-local load.
    static FAST: Cell<usize> = const { Cell::new(0) };
    /// This thread's claim, which gives the index back when the thread exits.
    static CLAIM: ThreadIndex = ThreadIndex::claim();
}

/// This thread's shard index ([`SHARED`] while the thread is exiting, or when too many
/// threads count at once).
#[inline(always)]
pub(crate) fn thread_index() -> usize {
    match FAST.with(Cell::get) {
        0 => claim_index(),
        i => (i - 1) % SHARDS, // always below SHARDS: the modulo only spares a bounds check
    }
}

/// The first count on this thread: claim an index and cache it in `FAST`.
#[cold]
#[inline(never)]
fn claim_index() -> usize {
    match CLAIM.try_with(|c| c.0) {
        Ok(SHARED) | Err(_) => SHARED,
        Ok(i) => {
            FAST.with(|f| f.set(i + 1));
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Indices of threads that ended are reused, so threads come and go without running out.
    #[test]
    fn thread_indices_are_recycled() {
        for _ in 0..3 * EXCLUSIVE_SHARDS {
            let i = std::thread::spawn(thread_index).join().unwrap();
            assert!(i <= SHARED);
        }
        // After many short-lived threads, a new one still gets an exclusive index unless
        // EXCLUSIVE_SHARDS threads are alive at once (test threads run in parallel: allow it).
        let i = std::thread::spawn(thread_index).join().unwrap();
        assert!(i < SHARED || NEXT.load(Ordering::Relaxed) == EXCLUSIVE_SHARDS);
    }
}

//! The one heap allocation behind every task, and the type-erased functions that drive it.
//!
//! A spawned future `F` with scheduler `S` lives in a `Cell<F, S>`: a [`Header`] (state word and
//! vtable), the scheduler handle, the future-or-output `Stage`, and the join waker slot. Everything
//! outside this file sees only a [`RawTask`], a pointer to the header; the [`Vtable`] built for
//! each `(F, S)` pair recovers the concrete types. This is the same shape as async-task and tokio:
//! one allocation per task, no `Box<dyn Future>` inside an `Arc`.
//!
//! ```text
//!  RawTask ──► ┌──────────── Cell<F, S> (repr C) ────────────┐
//!              │ Header { state, vtable, id, meta, slot }     │ ◄── wakers point here too
//!              │ scheduler: S  (a runtime Handle)             │
//!              │ stage: Running(F) | Finished(Result) | Consumed
//!              │ join_waker: Option<Waker>                    │
//!              └──────────────────────────────────────────────┘
//! ```
//!
//! The `Waker`s of a task live here too (at the end of the file): a waker is one more counted
//! reference to the header, with a second, static vtable whose functions call into the first.
//!
//! Talks to: `state` (every access is licensed by a transition there), `join` (the `JoinHandle`
//! calls `try_read_output` / `drop_join_handle`), and the scheduler through the `Schedule` trait.

use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::id::{self, Id};
use super::state::{State, TransitionToIdle, TransitionToNotified, TransitionToRunning};
use super::{JoinError, Meta, Notified, Schedule, Task};
use crate::loom::{AtomicU64, Ordering, UnsafeCell};

/// The type-independent front of every task allocation.
#[repr(C)]
pub(crate) struct Header {
    /// Flags and reference count; every access to the rest of the cell is licensed by it.
    pub(crate) state: State,
    /// Functions that know the concrete `F` and `S` of this cell.
    pub(crate) vtable: &'static Vtable,
    /// The task's process-wide id. INVARIANT: fixed at allocation; any holder of a reference
    /// may read it from any thread.
    pub(crate) id: Id,
    /// Where `spawn` was called (`#[track_caller]`) and the name given with
    /// `task::Builder::name`, if any, for long-poll reports and traces. INVARIANT: fixed at
    /// allocation, like `id`; dropped with the cell.
    pub(crate) meta: Meta,
    /// Two things in one word, to keep the header (which every spawn writes and every poll
    /// reads) at five words: the task's key in its owned-list shard (`owned.rs`) in the low
    /// [`KEY_BITS`] bits, and the timing stamp of its current queue entry in the high
    /// [`STAMP_BITS`]. See [`Slot`].
    /// INVARIANT: the key is written once, by `OwnedTasks::bind`, before the task is first
    /// scheduled ([`NO_KEY`] until then, and for ever for a task that is never bound); every
    /// later store keeps it. The stamp is written only by the party that owns the task's queue
    /// entry, before it pushes the entry (the push publishes it), and reset by the worker that
    /// pops it. So the word has one writer at a time and Relaxed suffices throughout.
    pub(crate) slot: AtomicU64,
}

/// Functions specialised for one `(F, S)` pair. Each takes a pointer to the header of a live task.
pub(crate) struct Vtable {
    /// Runs one poll; consumes the caller's queue-entry reference.
    pub(crate) poll: unsafe fn(NonNull<Header>),
    /// Submits the task to its scheduler; the caller passes in one reference for the queue entry.
    pub(crate) schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation (reference count reached zero).
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// For the `JoinHandle`: if complete, moves the output into `*dst` (a `Poll<Result<T, JoinError>>`);
    /// otherwise registers the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// For the `JoinHandle` drop: gives up interest, drops an unclaimed output, releases its reference.
    pub(crate) drop_join_handle: unsafe fn(NonNull<Header>),
    /// Cancels the task now if nobody is running it; consumes the caller's reference.
    pub(crate) shutdown: unsafe fn(NonNull<Header>),
}

/// What the cell holds besides the header.
enum Stage<F: Future> {
    /// Not finished: the future itself.
    Running(F),
    /// Finished: the output, or why there is none.
    Finished(Result<F::Output, JoinError>),
    /// The output was taken (or dropped); nothing left.
    Consumed,
}

/// The whole allocation. `repr(C)` keeps `header` at offset 0 so `NonNull<Header>` and
/// `NonNull<Cell<F, S>>` are the same address.
#[repr(C)]
struct Cell<F: Future, S> {
    /// Must be first: see the struct docs.
    header: Header,
    /// Where to push the task when it is woken, and where to report completion.
    scheduler: S,
    /// INVARIANT: touched only by the thread holding `RUNNING`, or by the `JoinHandle` once `COMPLETE`.
    stage: UnsafeCell<Stage<F>>,
    /// INVARIANT: written only by the `JoinHandle` while `JOIN_WAKER` is clear; read by the
    /// runtime only after it saw `JOIN_WAKER` set when completing.
    join_waker: UnsafeCell<Option<Waker>>,
}

/// A pointer to a task's header. Copyable and counts no reference by itself: the wrappers
/// (`Task`, `Notified`, `JoinHandle`, wakers) each own one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask {
    /// INVARIANT: points at the header of a live `Cell` while any reference is outstanding.
    ptr: NonNull<Header>,
}

// SAFETY: a RawTask is only a pointer; the cell it points to is shared across threads only under
// the state-word protocol, and its `F`/`S`/output are required to be `Send` (`S: Sync`) at `new`.
unsafe impl Send for RawTask {}
// SAFETY: as above; all shared access goes through atomics or is licensed by a state transition.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates the cell for `future`, in the initial state (queued, three references), with a
    /// fresh id and the name and spawn site in `meta`.
    pub(crate) fn new<F, S>(future: F, scheduler: S, meta: Meta) -> RawTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        let id = id::next();
        // Allocate, then write the cell straight into the allocation (`Box::new` would
        // assemble it on the stack and copy it over: a spawn is hot).
        let cell = Box::<Cell<F, S>>::new_uninit();
        let cell = Box::write(
            cell,
            Cell::<F, S> {
                header: Header {
                    state: State::new(),
                    vtable: vtable::<F, S>(),
                    id,
                    meta,
                    slot: AtomicU64::new(NO_KEY),
                },
                scheduler,
                stage: UnsafeCell::new(Stage::Running(future)),
                join_waker: UnsafeCell::new(None),
            },
        );
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        RawTask { ptr }
    }

    pub(crate) fn from_ptr(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(crate) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: INVARIANT of `ptr`: the caller holds a reference, so the cell is alive.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn state(&self) -> &State {
        &self.header().state
    }

    /// Where the cell keeps its scheduler, if the cell's scheduler type is `S`. `Cell` is
    /// `repr(C)` with `scheduler` right after `header`, so the offset depends on `S` alone,
    /// not on the future's type (`scheduler_offset_ignores_the_future` checks it).
    pub(crate) fn scheduler_ptr<S>(self) -> *const S {
        let offset = std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<S>());
        self.ptr
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(offset)
            .cast::<S>()
    }

    /// Polls once. Consumes one reference (the queue entry's).
    pub(crate) fn poll(self) {
        // SAFETY: the caller hands over a live reference; the vtable matches the cell's types.
        unsafe { (self.header().vtable.poll)(self.ptr) }
    }

    /// Pushes onto the scheduler; the caller has accounted one reference for the entry.
    pub(crate) fn schedule(self) {
        // SAFETY: as for `poll`.
        unsafe { (self.header().vtable.schedule)(self.ptr) }
    }

    /// Frees the cell. Only the holder of the last reference may call this.
    pub(crate) fn dealloc(self) {
        // SAFETY: as for `poll`; the reference count is zero so nobody else can touch the cell.
        unsafe { (self.header().vtable.dealloc)(self.ptr) }
    }

    /// Cancels the task now if it is idle or queued. Consumes one reference.
    pub(crate) fn shutdown(self) {
        // SAFETY: as for `poll`.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    /// See [`Vtable::try_read_output`].
    ///
    /// # Safety
    /// `dst` must point to a `Poll<Result<T, JoinError>>` where `T` is the task's output type,
    /// and the caller must be the task's `JoinHandle`.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded to the caller's contract.
        unsafe { (self.header().vtable.try_read_output)(self.ptr, dst, waker) }
    }

    /// See [`Vtable::drop_join_handle`]. Consumes the handle's reference.
    pub(crate) fn drop_join_handle(self) {
        // SAFETY: the caller is the JoinHandle and gives up its reference.
        unsafe { (self.header().vtable.drop_join_handle)(self.ptr) }
    }
}

/// One static vtable per `(F, S)`.
fn vtable<F, S>() -> &'static Vtable
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    // A generic `static` is not allowed in Rust; a `const` item inside a generic function is
    // promoted to a `'static` per instantiation, which is exactly what we want.
    trait HasVtable {
        const VTABLE: Vtable;
    }
    impl<F, S> HasVtable for (F, S)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: Schedule,
    {
        const VTABLE: Vtable = Vtable {
            poll: poll::<F, S>,
            schedule: schedule::<F, S>,
            dealloc: dealloc::<F, S>,
            try_read_output: try_read_output::<F, S>,
            drop_join_handle: drop_join_handle::<F, S>,
            shutdown: shutdown::<F, S>,
        };
    }
    &<(F, S) as HasVtable>::VTABLE
}

/// # Safety
/// `ptr` points at the header of a live `Cell<F, S>`.
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: `Cell` is repr(C) with the header first, so the addresses coincide; the caller
    // guarantees the cell is alive and of these types.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

/// # Safety
/// `ptr` is a live `Cell<F, S>`; the caller owns one reference, which this consumes.
unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.transition_to_running() {
        TransitionToRunning::Success => {}
        TransitionToRunning::Cancelled => {
            cancel_future(cell, None);
            complete::<F, S>(ptr);
            return;
        }
        TransitionToRunning::Failed => return,
        TransitionToRunning::Dealloc => {
            // SAFETY: the count reached zero: ours was the last reference.
            unsafe { dealloc::<F, S>(ptr) };
            return;
        }
    }

    // 1. Poll the future with a waker that borrows our reference (no count change), inside a
    //    fresh cooperative budget, catching a panic so the worker survives it. `task::id()`
    //    answers with our id meanwhile.
    let waker = ManuallyDrop::new(waker_ref(ptr));
    let mut cx = Context::from_waker(&waker);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        cell.stage.with_mut(|stage| {
            // SAFETY: we hold RUNNING, so we have exclusive access to the stage (cell INVARIANT).
            let stage = unsafe { &mut *stage };
            let Stage::Running(future) = stage else {
                unreachable!("RUNNING is only granted while the future is present")
            };
            // SAFETY: the future lives inside the heap cell and is never moved until it is dropped in place.
            let future = unsafe { Pin::new_unchecked(future) };
            crate::coop::budget(Some(cell.header.id), || future.poll(&mut cx))
        })
    }));

    // 2. Act on the outcome.
    match result {
        Ok(Poll::Pending) => match cell.header.state.transition_to_idle() {
            TransitionToIdle::Ok => {}
            TransitionToIdle::OkNotified => {
                // Woken while running: queue the task again, with the reference the transition
                // made for the entry. It goes to the back of the queue (a yield), not the LIFO
                // slot, so a self-waking task cannot monopolise the worker. Our running
                // reference keeps the cell, and the scheduler in it, alive until `yield_now`
                // returns: once the entry is queued another worker may complete the task.
                cell.scheduler
                    .yield_now(Notified(Task::from_raw(RawTask::from_ptr(ptr))));
                if cell.header.state.ref_dec() {
                    // SAFETY: that was the last reference.
                    unsafe { dealloc::<F, S>(ptr) }
                }
            }
            TransitionToIdle::OkDealloc => {
                // SAFETY: last reference.
                unsafe { dealloc::<F, S>(ptr) }
            }
            TransitionToIdle::Cancelled => {
                cancel_future(cell, None);
                complete::<F, S>(ptr);
            }
        },
        Ok(Poll::Ready(output)) => {
            set_stage(cell, Stage::Finished(Ok(output)));
            complete::<F, S>(ptr);
        }
        Err(panic) => {
            cancel_future(cell, Some(panic));
            complete::<F, S>(ptr);
        }
    }
}

/// Replaces the stage, catching a panic from dropping the old one (a future's destructor may panic).
/// Returns that panic, if any. Caller holds RUNNING (or is the JoinHandle after COMPLETE).
#[inline]
fn set_stage<F: Future, S>(cell: &Cell<F, S>, new: Stage<F>) -> Option<Box<dyn Any + Send>> {
    let mut new = Some(new);
    panic::catch_unwind(AssertUnwindSafe(|| {
        cell.stage.with_mut(|stage| {
            // SAFETY: exclusive access per the cell INVARIANT (caller holds RUNNING or is the
            // JoinHandle after COMPLETE).
            unsafe { *stage = new.take().expect("taken once") };
        })
    }))
    .err()
}

/// Drops the future in place and stores why the task has no output: the poll's panic, a panic
/// from the future's destructor, or cancellation.
fn cancel_future<F: Future, S>(cell: &Cell<F, S>, poll_panic: Option<Box<dyn Any + Send>>) {
    let drop_panic = set_stage(cell, Stage::Consumed);
    let err = match poll_panic.or(drop_panic) {
        Some(panic) => JoinError::panic(panic),
        None => JoinError::cancelled(),
    };
    set_stage(cell, Stage::Finished(Err(err)));
}

/// The output is stored and we hold RUNNING plus one reference: publish, notify, release.
///
/// Takes the pointer, not a `&Cell`: a reference *argument* must stay valid for the whole
/// call (Miri's Stacked Borrows protects it), and this function may free the cell at its end.
fn complete<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller holds RUNNING and one reference, so the cell is alive until the
    // `ref_dec_n` below; `cell` is not used after it.
    let cell = unsafe { cell::<F, S>(ptr) };
    // 1. RUNNING -> COMPLETE. From here on the output belongs to the JoinHandle.
    let prev = cell.header.state.transition_to_complete();

    // 2. Nobody wants the output: drop it now. Otherwise wake whoever awaits it.
    if !prev.is_join_interested() {
        // The JoinHandle is gone and cannot come back, so we still own the stage.
        set_stage(cell, Stage::Consumed);
    } else if prev.is_join_waker_set() {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            cell.join_waker.with(|slot| {
                // SAFETY: JOIN_WAKER was set when we completed, so the JoinHandle will never
                // write the slot again (its CAS requires !COMPLETE); reading it is race-free.
                let slot = unsafe { &*slot };
                if let Some(waker) = slot {
                    waker.wake_by_ref();
                }
            })
        }));
    }

    // 3. Leave the owned-task list, then drop the running reference and the list's reference.
    let me = ManuallyDrop::new(Task::<S>::from_raw(RawTask::from_ptr(ptr)));
    let released = cell.scheduler.release(&me);
    let refs = 1 + usize::from(released.is_some());
    std::mem::forget(released);
    if cell.header.state.ref_dec_n(refs) {
        // SAFETY: those were the last references.
        unsafe { dealloc::<F, S>(ptr) }
    }
}

/// # Safety
/// `ptr` is a live `Cell<F, S>`; the caller transfers one reference to the queue entry.
unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    cell.scheduler
        .schedule(Notified(Task::from_raw(RawTask::from_ptr(ptr))));
}

/// # Safety
/// `ptr` is a `Cell<F, S>` whose reference count just reached zero.
unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the cell was created by `Box::leak` in `RawTask::new` with exactly this type, and
    // no reference remains, so nobody can observe it being freed.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

/// # Safety
/// `ptr` is a live `Cell<F, S>`; `dst` points to a `Poll<Result<F::Output, JoinError>>`; the caller
/// is the task's `JoinHandle`.
unsafe fn try_read_output<F: Future, S>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
    // SAFETY: caller contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    if !can_read_output(cell, waker) {
        return;
    }
    let stage = cell.stage.with_mut(|stage| {
        // SAFETY: COMPLETE is set and we are the JoinHandle, so the stage is ours (cell INVARIANT).
        std::mem::replace(unsafe { &mut *stage }, Stage::Consumed)
    });
    let Stage::Finished(output) = stage else {
        panic!("JoinHandle polled after it returned its output")
    };
    // SAFETY: caller contract on `dst`'s type.
    unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
}

/// The JoinHandle side of the join-waker protocol (see `state.rs`). True once the task is complete.
fn can_read_output<F: Future, S>(cell: &Cell<F, S>, waker: &Waker) -> bool {
    let state = &cell.header.state;
    let snapshot = state.load();
    if snapshot.is_complete() {
        return true;
    }
    if snapshot.is_join_waker_set() {
        // The runtime may be reading the slot concurrently; a shared read is fine.
        let same = cell.join_waker.with(|slot| {
            // SAFETY: while JOIN_WAKER is set the slot is only read, by either side.
            let slot = unsafe { &*slot };
            slot.as_ref().is_some_and(|w| w.will_wake(waker))
        });
        if same {
            return false;
        }
        // Take the slot back before writing it.
        if state.unset_join_waker().is_err() {
            return true;
        }
    }
    cell.join_waker.with_mut(|slot| {
        // SAFETY: JOIN_WAKER is clear, so only the JoinHandle (us) touches the slot.
        unsafe { *slot = Some(waker.clone()) };
    });
    state.set_join_waker().is_err()
}

/// # Safety
/// `ptr` is a live `Cell<F, S>`; the caller is the JoinHandle giving up its reference.
unsafe fn drop_join_handle<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: caller contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    if !cell.header.state.unset_join_interest() {
        // Already complete: the output is ours to drop (a panic in its destructor is swallowed,
        // as the handle's owner did not ask for the output).
        set_stage(cell, Stage::Consumed);
    }
    if cell.header.state.ref_dec() {
        // SAFETY: last reference.
        unsafe { dealloc::<F, S>(ptr) }
    }
}

/// # Safety
/// `ptr` is a live `Cell<F, S>`; the caller gives up one reference.
unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: caller contract.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        // We now hold RUNNING; our reference plays the running reference in `complete`.
        cancel_future(cell, None);
        complete::<F, S>(ptr);
    } else if cell.header.state.ref_dec() {
        // SAFETY: last reference.
        unsafe { dealloc::<F, S>(ptr) }
    }
}

/// Bits of [`Header::slot`] that hold the task's key in its owned-list shard: 16.7 million live
/// tasks per shard, 268 million in all (`OwnedTasks::bind` refuses more).
pub(crate) const KEY_BITS: u32 = 24;
/// Bits of [`Header::slot`] that hold the timing stamp.
const STAMP_BITS: u32 = 64 - KEY_BITS;
/// The key of a task that is not in the owned list (all key bits set).
pub(crate) const NO_KEY: u64 = (1 << KEY_BITS) - 1;

/// Reading and writing [`Header::slot`]: the owned-list key and the timing stamp.
///
/// The stamp is a `metrics::now_ns` reading cut to its low [`STAMP_BITS`] bits (0 meaning "not
/// timed"). The worker that pops the entry reads the clock and gets the full time back by
/// subtracting the cut difference: exact whenever the entry waited less than 2^40 ns (18
/// minutes), which the trace relies on to match a wake with its poll. An entry that waited
/// longer is timed as if it had waited that much less.
pub(crate) struct Slot<'a>(&'a AtomicU64);

impl<'a> Slot<'a> {
    /// The slot word of `task`.
    pub(crate) fn of(task: &'a RawTask) -> Slot<'a> {
        Slot(&task.header().slot)
    }

    /// Records the task's key in its owned-list shard (`key < NO_KEY`).
    pub(crate) fn set_key(&self, key: u64) {
        debug_assert!(key < NO_KEY);
        // Relaxed: published by the queue push that follows (see the field's INVARIANT).
        self.0.store(key, Ordering::Relaxed);
    }

    /// The task's key in its owned-list shard, or [`NO_KEY`].
    pub(crate) fn key(&self) -> u64 {
        // Relaxed: the key was written before the task was published to any other thread.
        self.0.load(Ordering::Relaxed) & NO_KEY
    }

    /// Stamps the current queue entry with the time `now` (`metrics::now_ns`).
    pub(crate) fn stamp(&self, now: u64) {
        let cut = (now << KEY_BITS).max(1 << KEY_BITS);
        // Relaxed load and store: the entry's owner is the word's only writer now (INVARIANT).
        let key = self.0.load(Ordering::Relaxed) & NO_KEY;
        self.0.store(cut | key, Ordering::Relaxed);
    }

    /// Whether the current queue entry is stamped.
    #[inline]
    pub(crate) fn is_stamped(&self) -> bool {
        // Relaxed: the pop that gave us the entry synchronized with its push.
        self.0.load(Ordering::Relaxed) > NO_KEY
    }

    /// When the current queue entry was stamped, given the time `now` (read after the pop),
    /// or 0 if it was not; clears the stamp.
    pub(crate) fn take_stamp(&self, now: u64) -> u64 {
        // Relaxed: as for `is_stamped`; the popping worker owns the entry now.
        let word = self.0.load(Ordering::Relaxed);
        let cut = word >> KEY_BITS;
        if cut == 0 {
            return 0;
        }
        self.0.store(word & NO_KEY, Ordering::Relaxed);
        let waited = now.wrapping_sub(cut) & ((1 << STAMP_BITS) - 1);
        now.saturating_sub(waited).max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// Wakers that point straight at a task's header.
//
// A `Waker` is a data pointer plus a `RawWakerVTable`. Ours uses the task header as the data
// pointer and one static vtable for every task: cloning adds a reference, dropping removes one,
// and waking runs the `NOTIFIED` transition in `state.rs`, which decides whether a new run-queue
// entry must be pushed (idle task), or nothing (running, already queued, or complete tasks).
// ---------------------------------------------------------------------------------------------

/// The vtable shared by every task waker.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_by_val, wake_by_ref, drop_waker);

/// A waker that borrows the caller's reference: it must not outlive that reference and must
/// not be dropped (wrap it in `ManuallyDrop`). Used for the `Context` of a poll.
fn waker_ref(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable's functions uphold the RawWaker contract for header pointers; the caller
    // keeps a reference alive for as long as this waker (or any clone, which counts its own) is used.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE)) }
}

fn raw(data: *const ()) -> RawTask {
    // SAFETY of the caller: `data` came from `waker_ref` / `clone_waker`, so it is a non-null header pointer.
    RawTask::from_ptr(NonNull::new(data as *mut Header).expect("waker data is a task header"))
}

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    raw(data).state().ref_inc();
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn wake_by_val(data: *const ()) {
    let task = raw(data);
    match task.state().transition_to_notified_by_val() {
        TransitionToNotified::Submit => {
            // The entry got a reference of its own; ours keeps the task (and the scheduler
            // inside it) alive until `schedule` returns, then goes.
            task.schedule();
            if task.state().ref_dec() {
                task.dealloc();
            }
        }
        TransitionToNotified::Dealloc => task.dealloc(),
        TransitionToNotified::DoNothing => {}
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let task = raw(data);
    if task.state().transition_to_notified_by_ref() == TransitionToNotified::Submit {
        task.schedule();
    }
}

unsafe fn drop_waker(data: *const ()) {
    let task = raw(data);
    if task.state().ref_dec() {
        task.dealloc();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::task::raw::*;

    /// A future with a large alignment, so that padding follows the scheduler.
    #[repr(align(64))]
    struct Aligned;

    impl Future for Aligned {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }

    /// `RawTask::scheduler_ptr` finds the scheduler at the offset the compiler gave it, for
    /// futures of any size and alignment and schedulers of different alignments.
    #[test]
    fn scheduler_offset_ignores_the_future() {
        fn check<F: Future, S>() {
            let header_ptr = NonNull::<Header>::dangling();
            let want = std::mem::offset_of!(Cell<F, S>, scheduler);
            let got = RawTask::from_ptr(header_ptr).scheduler_ptr::<S>() as usize
                - header_ptr.as_ptr() as usize;
            assert_eq!(got, want, "{}", std::any::type_name::<(F, S)>());
        }
        check::<std::future::Ready<u8>, crate::runtime::Handle>();
        check::<Aligned, crate::runtime::Handle>();
        check::<Aligned, u8>();
        check::<std::future::Pending<()>, u128>();
        check::<std::future::Ready<[u64; 9]>, ()>();
    }

    /// The slot word keeps the key through stamps, and gives back the stamp's full time.
    #[test]
    fn slot_keeps_the_key_and_restores_the_stamp() {
        let word = AtomicU64::new(NO_KEY);
        let slot = Slot(&word);
        assert_eq!(slot.key(), NO_KEY);
        assert!(!slot.is_stamped());
        slot.set_key(12_345);
        assert_eq!(slot.key(), 12_345);
        // A time whose low 40 bits are about to wrap, popped 5 µs later (after the wrap).
        let stamped_at = (7 << 40) + (1 << 40) - 2_000;
        slot.stamp(stamped_at);
        assert!(slot.is_stamped());
        assert_eq!(slot.key(), 12_345);
        assert_eq!(slot.take_stamp(stamped_at + 5_000), stamped_at);
        assert!(!slot.is_stamped());
        assert_eq!(slot.key(), 12_345);
        assert_eq!(
            slot.take_stamp(stamped_at + 6_000),
            0,
            "the stamp is taken once"
        );
        // A time whose low 40 bits are all zero still counts as stamped (1 ns later).
        slot.stamp(3 << 40);
        assert_eq!(slot.take_stamp((3 << 40) + 10), (3 << 40) + 1);
        assert_eq!(slot.key(), 12_345);
    }
}

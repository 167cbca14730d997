//! `Waker`s that point straight at a task's header.
//!
//! A `Waker` is a data pointer plus a `RawWakerVTable`. Ours uses the task header as the data
//! pointer and one static vtable for every task: cloning adds a reference, dropping removes one,
//! and waking runs the `NOTIFIED` transition in `state.rs`, which decides whether a new run-queue
//! entry must be pushed (idle task), or nothing (running, already queued, or complete tasks).
//!
//! Talks to: `state` (the transitions), `raw` (schedule / dealloc through the task's vtable).

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{Header, RawTask};
use super::state::TransitionToNotified;

/// The vtable shared by every task waker.
static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_by_val, wake_by_ref, drop_waker);

/// A waker that borrows the caller's reference: it must not outlive that reference and must
/// not be dropped (wrap it in `ManuallyDrop`). Used for the `Context` of a poll.
pub(crate) fn waker_ref(ptr: NonNull<Header>) -> Waker {
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

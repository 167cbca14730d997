//! STUB (interface only): timers. The helper that owns `time/` replaces this.

use std::time::Instant;

/// The timer driver: all pending timers of one runtime. Lives in `runtime::Shared`.
#[derive(Debug)]
pub(crate) struct TimeDriver {}

impl TimeDriver {
    pub(crate) fn new() -> Self {
        TimeDriver {}
    }
    /// Fires (wakes) every timer whose deadline is at or before `now`; returns how many fired.
    pub(crate) fn process_at(&self, _now: Instant) -> usize {
        0
    }
    /// The earliest pending deadline, if any timer is pending.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// Fires every pending timer (runtime shutdown), so no task waits on a timer that will never run.
    pub(crate) fn shutdown(&self) {}
}

/// STUB: waits until `duration` has passed (the real `Sleep` future replaces this).
pub async fn sleep(duration: std::time::Duration) {
    let _ = duration;
}

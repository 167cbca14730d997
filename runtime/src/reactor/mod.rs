//! STUB (interface only): the reactor turns OS readiness from `mio::Poll` into task wake-ups.
//! The helper that owns `reactor/` replaces this file, keeping these crate-internal signatures.

use std::io;
use std::time::Duration;

/// Shared half of the reactor: registering sources and waking the poller. Lives in `runtime::Shared`.
#[derive(Debug)]
pub(crate) struct Reactor {}

/// The half that blocks in `epoll_wait`; owned by whichever parked worker holds the driver lock.
#[derive(Debug)]
pub(crate) struct ReactorCore {}

impl Reactor {
    /// Creates the poller, its `mio::Waker`, and the registration slab.
    pub(crate) fn new() -> io::Result<(Reactor, ReactorCore)> {
        Ok((Reactor {}, ReactorCore {}))
    }

    /// Interrupts a `turn` that is blocked in epoll (called from any thread).
    pub(crate) fn unpark(&self) {}

    /// Marks the reactor shut down and wakes every registered task so it sees an error.
    pub(crate) fn shutdown(&self) {}
}

impl ReactorCore {
    /// Waits for events for at most `timeout` (`None`: until woken) and wakes the ready tasks.
    pub(crate) fn turn(&mut self, _reactor: &Reactor, timeout: Option<Duration>) -> io::Result<()> {
        if let Some(t) = timeout {
            std::thread::sleep(t.min(Duration::from_millis(1)));
        }
        Ok(())
    }
}

//! A socket registered with the current runtime's reactor: the one type `net` builds on.
//!
//! Talks to: [`super::Reactor`] (register on creation, deregister on drop), its
//! [`ScheduledIo`] (poll and clear readiness), `crate::coop` (spends budget per operation), and
//! `crate::runtime::context` (finds the current runtime).
//!
//! The pattern every socket operation follows, written once here in [`Registration::poll_io`]:
//!
//! 1. wait until the reactor says the socket is ready in the needed direction;
//! 2. try the non-blocking syscall;
//! 3. if it says `WouldBlock`, the readiness was stale: clear it (only if no newer event came) and go
//!    back to 1, which now parks the task until the next edge; otherwise return the result.
//!
//! Invariant: the socket is registered with the reactor for exactly as long as this value exists;
//! `Drop` deregisters it before the socket itself is closed.

use std::future::poll_fn;
use std::io;
use std::task::{ready, Context, Poll};

use mio::event::Source;
use mio::{Interest, Token};

use crate::coop;
use crate::loom::Arc;
use crate::runtime::{context, Handle};

use super::scheduled_io::{Direction, ReadyEvent, ScheduledIo};

/// A mio socket plus its slot in the reactor of the runtime that was current when it was created.
#[derive(Debug)]
pub(crate) struct Registration<S: Source> {
    /// The runtime whose reactor holds our slot. Kept (a reference count on the runtime's shared
    /// state) so that `Drop` can deregister, and so the reactor outlives every registration.
    handle: Handle,
    /// The token naming our slot (key and generation, see `reactor::token`).
    token: Token,
    /// Our readiness cell; the reactor's slab holds the other reference.
    shared: Arc<ScheduledIo>,
    /// The non-blocking socket itself. Operations borrow it through [`Registration::poll_io`] so
    /// that a `WouldBlock` always clears readiness.
    io: S,
}

impl<S: Source> Registration<S> {
    /// Registers `io` for `interest` with the current runtime's reactor.
    ///
    /// # Panics
    /// Outside a spindle runtime (no reactor to register with).
    #[track_caller]
    pub(crate) fn new(mut io: S, interest: Interest) -> io::Result<Registration<S>> {
        let handle = context::expect_current("creating a spindle::net socket");
        let (token, shared) = handle.inner.reactor.register(&mut io, interest)?;
        Ok(Registration {
            handle,
            token,
            shared,
            io,
        })
    }

    /// The socket, for operations that never block (addresses, options, shutdown).
    pub(crate) fn io(&self) -> &S {
        &self.io
    }

    /// Ready with a readiness snapshot once the socket is ready for `dir`; otherwise parks the task.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.shared.poll_ready(cx, dir)
    }

    /// Waits until the socket is ready for `dir` (it may still turn out to be stale: see `poll_io`).
    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        poll_fn(|cx| self.poll_ready(cx, dir).map_ok(|_| ())).await
    }

    /// Forgets `event`'s readiness, because an operation hit `WouldBlock` (unless a newer event came).
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        self.shared.clear_readiness(event)
    }

    /// Runs the non-blocking `op` until it does not return `WouldBlock`, parking the task between
    /// tries (the plan is in the module docs). Spends one unit of coop budget per call.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        // A socket that is always ready must not keep its task on the CPU forever.
        ready!(coop::poll_proceed(cx));
        loop {
            // 1. Wait for readiness in `dir`.
            let event = ready!(self.poll_ready(cx, dir))?;
            // 2. Try the syscall.
            match op(&self.io) {
                // 3. Stale readiness: clear it and loop, which parks the task until the next edge.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                result => return Poll::Ready(result),
            }
        }
    }

    /// The readiness for `dir` right now, without parking the task: `None` if the reactor has
    /// not reported it (for the `try_*` operations, which then answer `WouldBlock`).
    pub(crate) fn ready_now(&self, dir: Direction) -> io::Result<Option<ReadyEvent>> {
        self.shared.ready_now(dir)
    }
}

impl<S: Source> Drop for Registration<S> {
    fn drop(&mut self) {
        self.handle
            .inner
            .reactor
            .deregister(&mut self.io, self.token);
    }
}

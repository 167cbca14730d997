//! STUB during bring-up: `Runtime`, `Builder`, `Handle`. The core owner replaces the bodies.

pub(crate) mod context;

use std::future::Future;
use std::io;
use std::sync::Arc;

use crate::blocking::BlockingPool;
use crate::reactor::{Reactor, ReactorCore};
use crate::time::TimeDriver;

/// A spindle runtime: worker threads, a reactor, timers and a blocking pool.
#[derive(Debug)]
pub struct Runtime {
    handle: Handle,
}

/// A cheap, clonable reference to a runtime, usable from any thread to spawn onto it.
#[derive(Debug, Clone)]
pub struct Handle {
    pub(crate) inner: Arc<Shared>,
}

/// Everything one runtime shares between its threads.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Registrations and the poller's waker (any thread).
    pub(crate) reactor: Reactor,
    /// The epoll half; held by at most one parked worker at a time (`try_lock`).
    pub(crate) reactor_core: parking_lot::Mutex<ReactorCore>,
    /// Every pending timer.
    pub(crate) time: TimeDriver,
    /// Threads for `spawn_blocking`.
    pub(crate) blocking: BlockingPool,
}

/// Configures a [`Runtime`].
#[derive(Debug)]
pub struct Builder {}

impl Runtime {
    /// A multi-thread runtime with one worker per core.
    pub fn new() -> io::Result<Runtime> {
        let (reactor, core) = Reactor::new()?;
        let shared = Shared {
            reactor,
            reactor_core: parking_lot::Mutex::new(core),
            time: TimeDriver::new(),
            blocking: BlockingPool::new(
                512,
                std::time::Duration::from_secs(10),
                Arc::new(|| "spindle-blocking".into()),
            ),
        };
        Ok(Runtime {
            handle: Handle {
                inner: Arc::new(shared),
            },
        })
    }

    /// Runs `fut` to completion on this thread.
    pub fn block_on<F: Future>(&self, _fut: F) -> F::Output {
        todo!()
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Handle {
    /// The handle of the runtime this thread is in. Panics outside a runtime.
    #[track_caller]
    pub fn current() -> Handle {
        context::expect_current("Handle::current")
    }

    /// Wakes the thread parked in the reactor so it recomputes its timeout (a timer moved earlier).
    pub(crate) fn unpark_driver(&self) {
        self.inner.reactor.unpark();
    }
}

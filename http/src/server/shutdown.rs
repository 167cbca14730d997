//! The graceful-shutdown signal, in the three phases of a drain.
//!
//! `RunningServer::shutdown` (`server/mod.rs`) moves a server through them in order:
//! 1. **Draining** ([`Shutdown::begin_drain`]): from now on every response says
//!    `connection: close` (`conn.rs` checks [`Watch::is_triggered`] before writing one) and
//!    `GET /healthz` answers 503 (the flag is shared with the app, `app/health.rs`). Listeners stay
//!    open for the configured drain delay, so a balancer with active health checks sees the
//!    503 and stops routing before connects start to fail.
//! 2. **Accepting stopped** ([`Shutdown::stop_accepting`]): the accept tasks stop the kernel
//!    queueing connections, take the ones already queued, then close their listeners
//!    (`listen.rs`), so new connects are refused and a load balancer moves on.
//! 3. **Idle connections close** ([`Shutdown::close_idle`]): after a grace in which connections
//!    already accepted may still deliver a request (answered, with `connection: close`), each
//!    connection waiting *between* requests closes. A request already arriving is never cut.
//!
//! Waiters register their waker *before* checking a phase's flag, so a phase change can never
//! slip between the check and the wait. Phases only move forward.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// A server's drain state, shared by its accept tasks and connections.
#[derive(Debug, Default)]
pub(crate) struct Shutdown {
    /// Phase 1: set once a drain has begun, never cleared. Shared with the app's `/healthz`
    /// route (`App::healthz`), which answers 503 from then on.
    draining: Arc<AtomicBool>,
    /// Phase 2: the accept tasks wait on it.
    accepting_stopped: Arc<Signal>,
    /// Phase 3: idle connections wait on it.
    idle_closing: Arc<Signal>,
}

impl Shutdown {
    /// A signal whose phase 1 sets `draining` (the app's health flag).
    pub(crate) fn new(draining: Arc<AtomicBool>) -> Shutdown {
        Shutdown {
            draining,
            ..Shutdown::default()
        }
    }

    /// Phase 1: the drain begins.
    pub(crate) fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Phase 2: the accept tasks stop (and close their listeners).
    pub(crate) fn stop_accepting(&self) {
        self.begin_drain();
        self.accepting_stopped.set();
    }

    /// A future that completes at phase 2, for the accept tasks.
    pub(crate) fn accepting_stopped(&self) -> Wait {
        self.accepting_stopped.wait()
    }

    /// Phase 3: connections waiting between requests close.
    pub(crate) fn close_idle(&self) {
        self.stop_accepting();
        self.idle_closing.set();
    }

    /// A future that completes at phase 3: an idle connection waits on it, together with its
    /// socket and its keep-alive timer, and closes when it completes.
    pub(crate) fn wait(&self) -> Wait {
        self.idle_closing.wait()
    }

    /// One connection's view of the drain, kept for its whole life.
    pub(crate) fn watch(&self) -> Watch {
        Watch {
            draining: self.draining.clone(),
            idle_closing: self.wait(),
        }
    }
}

/// What a connection needs to know of the drain: whether it has begun (then every response
/// closes its connection), and a future for phase 3 (then an idle connection closes).
#[derive(Debug)]
pub(crate) struct Watch {
    /// The server's phase-1 flag, set by [`Shutdown::begin_drain`].
    draining: Arc<AtomicBool>,
    /// This connection's registration for phase 3 ([`Shutdown::wait`]).
    idle_closing: Wait,
}

impl Watch {
    /// Whether a drain has begun (phase 1): responses from now on close their connection.
    pub(crate) fn is_triggered(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// The future that completes at phase 3.
    pub(crate) fn idle_closing(&mut self) -> &mut Wait {
        &mut self.idle_closing
    }
}

/// A one-shot, many-waiter flag: set once, never cleared; setting it wakes every waiter.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    /// Set once, never cleared. SeqCst: pairs with the waiters' register-then-check.
    set: AtomicBool,
    /// Registered waiters by id.
    waiters: Mutex<HashMap<u64, Waker>>,
    /// Source of waiter ids.
    next_id: AtomicU64,
}

impl Signal {
    /// Whether the flag is set.
    fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Sets the flag and wakes every waiter.
    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        let waiters: Vec<Waker> = self.lock().drain().map(|(_, w)| w).collect();
        for w in waiters {
            w.wake();
        }
    }

    /// A future that completes once the flag is set.
    fn wait(self: &Arc<Self>) -> Wait {
        Wait {
            signal: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            registered: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waker>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Completes when its [`Signal`] is set. Dropping it unregisters.
#[derive(Debug)]
pub(crate) struct Wait {
    /// The signal.
    signal: Arc<Signal>,
    /// This waiter's key in `waiters`.
    id: u64,
    /// The waker last stored in `waiters`: a later poll with the same task's waker skips the
    /// lock, so a connection that waits many times re-registers only when its waker changes.
    registered: Option<Waker>,
}

impl Future for Wait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.signal.is_set() {
            return Poll::Ready(());
        }
        if matches!(&self.registered, Some(w) if w.will_wake(cx.waker())) {
            // Still registered with this task's waker (setting the flag drains the map, but it
            // also sets the flag checked above).
            return Poll::Pending;
        }
        self.signal.lock().insert(self.id, cx.waker().clone());
        self.registered = Some(cx.waker().clone());
        // Check again after registering: a `set` in between has drained an older list.
        if self.signal.is_set() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        self.signal.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    /// Counts wake-ups.
    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The phases are separate: beginning a drain wakes no idle connection, stopping the
    /// accept tasks wakes only them, and closing idle connections wakes those.
    #[test]
    fn phases_wake_only_their_waiters() {
        let health = Arc::new(AtomicBool::new(false));
        let s = Shutdown::new(health.clone());
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut accept = s.accepting_stopped();
        let mut idle = s.wait();
        assert!(Pin::new(&mut accept).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut idle).poll(&mut cx).is_pending());

        s.begin_drain();
        assert!(s.watch().is_triggered() && health.load(Ordering::SeqCst));
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        assert!(Pin::new(&mut idle).poll(&mut cx).is_pending());

        s.stop_accepting();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(Pin::new(&mut accept).poll(&mut cx).is_ready());
        assert!(Pin::new(&mut idle).poll(&mut cx).is_pending());

        s.close_idle();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        assert!(Pin::new(&mut idle).poll(&mut cx).is_ready());
    }
}

//! A one-shot, many-waiter "the server is shutting down" signal.
//!
//! Connections wait on it while idle between requests (so that shutdown closes idle
//! connections at once) and check it before writing a response (so in-flight requests are
//! answered with `connection: close`). Waiters register their waker *before* checking the
//! flag, so a trigger can never slip between the check and the wait.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The shared signal. Clone the `Arc` to hand it out.
#[derive(Debug, Default)]
pub(crate) struct Shutdown {
    /// Set once, never cleared. SeqCst: pairs with the waiters' register-then-check.
    triggered: AtomicBool,
    /// Registered waiters by id.
    waiters: Mutex<HashMap<u64, Waker>>,
    /// Source of waiter ids.
    next_id: AtomicU64,
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub(crate) fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }

    /// Begins shutdown and wakes every waiter.
    pub(crate) fn trigger(&self) {
        self.triggered.store(true, Ordering::SeqCst);
        let waiters: Vec<Waker> = self.lock().drain().map(|(_, w)| w).collect();
        for w in waiters {
            w.wake();
        }
    }

    /// A future that completes once shutdown has begun.
    pub(crate) fn wait(self: &Arc<Self>) -> Wait {
        Wait {
            shutdown: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            registered: None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waker>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Completes when the server shuts down. Dropping it unregisters.
#[derive(Debug)]
pub(crate) struct Wait {
    /// The signal.
    shutdown: Arc<Shutdown>,
    /// This waiter's key in `waiters`.
    id: u64,
    /// The waker last stored in `waiters`: a later poll with the same task's waker skips the
    /// lock, so a connection that waits many times re-registers only when its waker changes.
    registered: Option<Waker>,
}

impl Future for Wait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        if matches!(&self.registered, Some(w) if w.will_wake(cx.waker())) {
            // Still registered with this task's waker (a trigger drains the map, but it also
            // sets the flag checked above).
            return Poll::Pending;
        }
        self.shutdown.lock().insert(self.id, cx.waker().clone());
        self.registered = Some(cx.waker().clone());
        // Check again after registering: a trigger in between has drained an older list.
        if self.shutdown.is_triggered() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        self.shutdown.lock().remove(&self.id);
    }
}

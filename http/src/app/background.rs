//! [`BackgroundTasks`]: work that runs after the response has been written (FastAPI's
//! `BackgroundTasks`): sending an e-mail, writing an audit log, warming a cache.
//!
//! A handler adds futures (or blocking closures) through `req.background()`; the connection
//! spawns them as tasks right after the response bytes were handed to the socket, so the client
//! does not wait for them. They are not run if the response could not be written.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A boxed background job.
type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The background jobs of one request. Cloning shares the same list.
///
/// ```
/// use spindle_http::BackgroundTasks;
/// let tasks = BackgroundTasks::default();
/// tasks.add(async { println!("after the response") });
/// tasks.add_blocking(|| println!("on the blocking pool, after the response"));
/// assert_eq!(tasks.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct BackgroundTasks {
    /// Shared by the clones.
    inner: Arc<Inner>,
}

/// The list behind a [`BackgroundTasks`].
#[derive(Default)]
struct Inner {
    /// Jobs in the order they were added.
    jobs: Mutex<Vec<Job>>,
    /// Whether `jobs` may be non-empty: lets the connection skip the lock after every request
    /// that added nothing. Set (Release) after a push, cleared (Acquire) before a take.
    any: AtomicBool,
}

impl BackgroundTasks {
    /// Adds a future to run as a task after the response is written.
    pub fn add(&self, job: impl Future<Output = ()> + Send + 'static) {
        self.lock().push(Box::pin(job));
        // Release: pairs with the Acquire swap in `take`, so the job is visible there.
        self.inner.any.store(true, Ordering::Release);
    }

    /// Adds a blocking closure to run on the blocking pool after the response is written.
    pub fn add_blocking(&self, job: impl FnOnce() + Send + 'static) {
        self.add(async move {
            let _ = spindle::task::spawn_blocking(job).await;
        });
    }

    /// Number of jobs waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no job is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves every job to the end of `out` (the connection spawns them once the response is
    /// written). Nothing at all happens in the common case of a request that added no job.
    #[inline]
    pub(crate) fn take_into(&self, out: &mut Vec<Job>) {
        // A plain load first: the common case (nothing added) then costs no read-modify-write.
        // Acquire (both): pairs with the Release store in `add`.
        if !self.inner.any.load(Ordering::Acquire) || !self.inner.any.swap(false, Ordering::Acquire)
        {
            return;
        }
        out.append(&mut self.lock());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        // A poisoned list only means a handler panicked while adding; the list itself is fine.
        self.inner.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for BackgroundTasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundTasks")
            .field("jobs", &self.len())
            .finish()
    }
}

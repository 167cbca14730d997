//! STUB (interface only): the blocking thread pool. The helper that owns `blocking/` replaces this.

use std::sync::Arc;
use std::time::Duration;

/// A job for the pool: a boxed closure. Dropping it unrun must be harmless (it cancels its task).
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

/// Threads that run blocking closures; grows on demand up to a cap, retires idle threads.
pub(crate) struct BlockingPool {}

impl std::fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingPool").finish_non_exhaustive()
    }
}

impl BlockingPool {
    pub(crate) fn new(
        _max_threads: usize,
        _keep_alive: Duration,
        _thread_name: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> Self {
        BlockingPool {}
    }
    /// Queues `job`; starts a thread if none is idle and the cap allows. After shutdown the job is dropped.
    pub(crate) fn spawn(&self, job: Job) {
        std::thread::spawn(job);
    }
    /// Stops accepting jobs, drops queued ones, and waits up to `timeout` for running ones to finish.
    /// Returns true if every thread exited in time.
    pub(crate) fn shutdown(&self, _timeout: Option<Duration>) -> bool {
        true
    }
}

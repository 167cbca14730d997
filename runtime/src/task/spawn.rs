//! The two functions users call to start a task on the current runtime: [`spawn`] and
//! [`spawn_blocking`].
//!
//! They sit in a file of their own because they are the one part of `task` that looks up: they
//! find the runtime through `runtime::context` and hand the work to its [`Handle`](crate::Handle),
//! which builds the task from the pieces below (`raw`, `state`, `join`). The rest of `task` knows
//! nothing about runtimes beyond the `Schedule` trait, so the runtime and the executor import it,
//! and it imports neither.

use std::future::Future;
use std::panic::Location;

use super::{JoinHandle, Meta};
use crate::runtime::context;

/// Spawns a future onto the current runtime and returns a handle to its output.
///
/// The task starts running at once on some worker (it does not wait for the handle to be
/// awaited), like `asyncio.create_task`. Panics if called outside a runtime.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// let sum = rt.block_on(async {
///     let handles: Vec<_> = (1..=10).map(|i| spindle::spawn(async move { i * i })).collect();
///     let mut sum = 0;
///     for h in handles {
///         sum += h.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 385);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let meta = Meta::at(Location::caller());
    // One clone of the current handle, which the task keeps as its scheduler; the future is
    // not moved through a closure (spawn is hot: `docs/benchmarks.md`).
    match context::current_handle() {
        Some(handle) => handle.spawn_owned(future, meta),
        None => panic!("spindle::spawn must be called from within a spindle runtime"),
    }
}

/// Runs a blocking closure on the runtime's blocking thread pool and returns a handle to its result.
///
/// This is asyncio's `run_in_executor` and FastAPI's plain `def` route: work that would block a
/// worker thread (file I/O, CPU-heavy code, a synchronous library) goes to a separate pool that
/// grows on demand up to `Builder::max_blocking_threads` (default 512) threads. A panic in the
/// closure becomes a [`JoinError`](super::JoinError) with `is_panic()`. Once started, the closure cannot be aborted.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// let n = rt.block_on(async {
///     spindle::task::spawn_blocking(|| {
///         std::thread::sleep(std::time::Duration::from_millis(5)); // blocking is fine here
///         40 + 2
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(n, 42);
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    context::expect_current("spindle::task::spawn_blocking")
        .spawn_blocking_with(f, Meta::at(Location::caller()))
}

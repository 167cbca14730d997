//! STUB during bring-up: tasks, `spawn`, `JoinHandle`, `JoinError`.

use std::future::Future;
use std::marker::PhantomData;

/// An owned permission to await a spawned task's output.
#[derive(Debug)]
pub struct JoinHandle<T> {
    _p: PhantomData<T>,
}

/// Why a task did not produce its output.
#[derive(Debug)]
pub struct JoinError {}

/// Spawns `fut` onto the current runtime.
pub fn spawn<F>(_fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    todo!()
}

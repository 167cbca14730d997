//! [`JoinHandle`]: awaiting a spawned task's output, aborting it, or detaching it; and [`JoinError`].
//!
//! The handle owns one reference to the task. Awaiting it runs the join-waker protocol of
//! `state.rs` (store a waker, or take the output if the task is complete). `abort()` asks for
//! cancellation; dropping the handle detaches the task, which keeps running to completion.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::raw::RawTask;

/// An owned permission to await a spawned task's output (`Result<T, JoinError>`).
///
/// Dropping a `JoinHandle` detaches the task: it keeps running, and its output is dropped.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let handle = spindle::spawn(async { "done" });
///     assert_eq!(handle.await.unwrap(), "done");
///
///     let never = spindle::spawn(std::future::pending::<()>());
///     never.abort();
///     assert!(never.await.unwrap_err().is_cancelled());
/// });
/// ```
pub struct JoinHandle<T> {
    /// The task; this handle owns one of its references.
    raw: RawTask,
    /// The handle yields a `T`; it does not own one (the cell does).
    _output: PhantomData<fn() -> T>,
}

// SAFETY: the handle only moves the task's output (a `T: Send`) to the awaiting thread.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `abort`/`is_finished`, which touch atomics only.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety contract (internal)
    /// `raw` is a task whose output type is `T`; the caller transfers one reference.
    pub(crate) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Asks the task to stop. If it is not running it is dropped at once (on its worker);
    /// if it is being polled right now, it is dropped when that poll returns. Awaiting the
    /// handle then gives a [`JoinError`] with `is_cancelled()`, unless the task finished first.
    pub fn abort(&self) {
        if self.raw.state().transition_to_notified_and_cancel() {
            self.raw.schedule();
        }
    }

    /// The task's id (the same that [`task::id()`](super::id()) returns inside it).
    pub fn id(&self) -> super::Id {
        self.raw.header().id
    }

    /// The name the task was given (tests of `task::Builder`).
    #[cfg(test)]
    pub(crate) fn name(&self) -> Option<&str> {
        self.raw.header().meta.name()
    }

    /// Where the task was spawned (tests of `#[track_caller]`).
    #[cfg(test)]
    pub(crate) fn spawned_at(&self) -> &'static std::panic::Location<'static> {
        self.raw.header().meta.spawned_at()
    }

    /// True once the task has finished (with an output, a panic, or by cancellation).
    pub fn is_finished(&self) -> bool {
        self.raw.state().load().is_complete()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the task's output type (fixed when the handle was made), and we are
        // the task's JoinHandle.
        unsafe {
            self.raw.try_read_output(
                &mut out as *mut Poll<Result<T, JoinError>> as *mut (),
                cx.waker(),
            )
        };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.raw.drop_join_handle();
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("state", self.raw.state())
            .finish()
    }
}

/// Why a task produced no output: it panicked, or it was cancelled (`abort()` or runtime shutdown).
pub struct JoinError {
    /// Which of the two.
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// The panic payload.
    Panic(Payload),
}

/// A panic payload, kept so that it costs the common path nothing: boxed, so that a `JoinError`
/// is one word and a task's cell (which holds the future or its output) does not grow for the
/// rare panic case, and freed out of line, so that dropping a task's output stays small enough
/// to inline (`docs/benchmarks.md`). A `Mutex` makes `JoinError: Sync` although the payload is
/// only `Send`. INVARIANT: `Some` until `drop` or `into_inner`.
struct Payload(Option<Box<crate::loom::Mutex<Box<dyn Any + Send + 'static>>>>);

impl Payload {
    fn new(payload: Box<dyn Any + Send + 'static>) -> Payload {
        Payload(Some(Box::new(crate::loom::Mutex::new(payload))))
    }

    fn into_inner(mut self) -> Box<dyn Any + Send + 'static> {
        self.0
            .take()
            .expect("a payload is present until taken")
            .into_inner()
    }

    fn lock(&self) -> impl std::ops::Deref<Target = Box<dyn Any + Send + 'static>> + '_ {
        self.0
            .as_ref()
            .expect("a payload is present until taken")
            .lock()
    }
}

impl Drop for Payload {
    #[cold]
    #[inline(never)]
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            repr: Repr::Panic(Payload::new(payload)),
        }
    }

    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic payload, to re-raise with `std::panic::resume_unwind`. Panics if the task was cancelled.
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a cancelled task")
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.into_inner()),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic message, when the payload was a string (as `panic!("...")` makes it).
    fn panic_message(&self) -> Option<String> {
        match &self.repr {
            Repr::Panic(p) => {
                let p = p.lock();
                p.downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
            }
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("task was cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "task panicked: {msg}"),
            (Repr::Panic(_), None) => f.write_str("task panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("JoinError::Cancelled"),
            (Repr::Panic(_), Some(msg)) => write!(f, "JoinError::Panic({msg:?})"),
            (Repr::Panic(_), None) => f.write_str("JoinError::Panic(..)"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(e: JoinError) -> std::io::Error {
        std::io::Error::other(e.to_string())
    }
}

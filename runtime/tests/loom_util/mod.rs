//! What the loom integration tests share: `block_on` for one loom thread.

use std::future::Future;
use std::task::{Context, Poll, Wake, Waker};

use loom::thread;

/// Wakes a parked loom thread.
struct Unpark(
    /// The loom thread blocked in `block_on`.
    thread::Thread,
);

impl Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` on this loom thread, parking between polls. If the future is never woken, every
/// thread ends up parked and loom fails the model with a deadlock: that is how a lost wake-up
/// shows. (`loom::future::block_on` would do the same but needs loom's `futures` feature.)
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(std::sync::Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}

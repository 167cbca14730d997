//! Helpers shared by spindle-http's integration tests.

#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Runs `f` on its own thread and fails the test if it takes longer than 60 s, so a hang is a
/// clear failure instead of a stuck suite. A panic in `f` is re-raised here. The bound catches
/// hangs, not slowness: it is far above what any test takes on a loaded machine.
pub fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().expect_err("sender dropped without panic"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test exceeded its 60 s deadline"),
    }
}

/// Polls `fut` once with a waker that does nothing: `Some` if it was already complete.
pub fn poll_once<F: Future>(fut: F) -> Option<F::Output> {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

//! Helpers shared by spindle-http's integration tests.

#![allow(dead_code)]

use std::future::Future;
use std::io::Read;
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

/// A 2-worker runtime serving an app on a free loopback port; the server is shut down when the
/// harness is dropped, at the end of the test.
pub struct Harness {
    /// The runtime the server runs on.
    pub rt: spindle::Runtime,
    /// The server (taken on drop, to shut it down).
    pub server: Option<spindle_http::RunningServer>,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl Harness {
    /// Serves `app` with `config`.
    pub fn new(app: spindle_http::App, config: spindle_http::ServerConfig) -> Harness {
        Harness::with(app, |s| s.config(config))
    }

    /// Serves `app` on a server that `f` configures.
    pub fn with(
        app: spindle_http::App,
        f: impl FnOnce(spindle_http::Server) -> spindle_http::Server,
    ) -> Harness {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let server = rt
            .block_on(f(spindle_http::Server::bind("127.0.0.1:0")).start(app))
            .unwrap();
        let addr = server.local_addr();
        Harness {
            rt,
            server: Some(server),
            addr,
        }
    }

    /// A client socket whose reads give up after 10 s (a stuck read fails the test).
    pub fn connect(&self) -> std::net::TcpStream {
        let s = std::net::TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.rt.block_on(server.shutdown());
        }
    }
}

/// Reads one response with a `content-length` body: (head, body).
pub fn read_response(s: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut b).expect("read a response head");
        assert_eq!(
            n,
            1,
            "the connection closed before a whole response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    s.read_exact(&mut body).expect("read the response body");
    (head, body)
}

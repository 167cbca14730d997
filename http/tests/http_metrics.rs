//! The HTTP metrics (`spindle_http::metrics`) behind a real server on 127.0.0.1, spoken to in
//! raw bytes: a known workload gives known counts by route, method and status class; the
//! connection's rejections are counted by status; a panicking handler is a 5xx of its route; a middleware's
//! own answer is `<unmatched>`; durations are timed for every request at period 1; and the
//! gauges (in flight, open connections) come back to zero.

mod common;

use common::within;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use spindle_http::metrics::{HttpMetrics, HttpSnapshot, UNMATCHED};
use spindle_http::{from_fn, App, Next, Request, Response, RunningServer, Server};

/// Starts `app` on a 2-worker runtime, runs `client` against its address, then shuts down.
fn with_server<T>(app: App, client: impl FnOnce(SocketAddr) -> T) -> T {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let server: RunningServer = rt
        .block_on(Server::bind("127.0.0.1:0").start(app))
        .expect("bind 127.0.0.1:0");
    let out = client(server.local_addr());
    rt.block_on(server.shutdown());
    out
}

/// Sends `raw` on a new connection and reads until the server closes it.
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read the responses");
    String::from_utf8_lossy(&out).into_owned()
}

/// `n` pipelined `GET target` requests (keep-alive).
fn gets(target: &str, n: usize) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").repeat(n)
}

/// Waits (at most 10 s) until no connection is open: a connection's task ends just after the
/// client has seen it close, so the gauge may lag the client by a moment.
fn settled(metrics: &HttpMetrics) -> HttpSnapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = metrics.snapshot();
        if s.open_connections == 0 || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The message of the handler that panics on purpose.
const PANIC_MESSAGE: &str = "a handler that fails";

/// Keeps the panic hook quiet for the handler that panics on purpose: printing a backtrace
/// (with `RUST_BACKTRACE` set) can take seconds on a loaded machine, and the connection answers
/// 500 only once the hook returns. Other panics still go to the previous hook.
fn quiet_handler_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&PANIC_MESSAGE) {
            previous(info);
        }
    }));
}

/// The count for one (route, method, class) series, 0 if absent.
fn series(s: &HttpSnapshot, route: &str, method: &str, class: &str) -> u64 {
    s.routes
        .iter()
        .filter(|r| &*r.route == route && r.method == method && r.status_class == class)
        .map(|r| r.count)
        .sum()
}

/// 7 `GET /`, 3 `GET /users/1`, 2 `GET /nope`, a `POST /` (405), a `HEAD /users/2`, a panic,
/// and two malformed requests: each lands in its series; rejections are not requests.
#[test]
fn known_workload_gives_known_counts() {
    quiet_handler_panics();
    let app = App::new()
        .duration_sample_period(1)
        .get("/", |_req: Request| async { "Hello" })
        .get("/users/{id}", |req: Request| async move {
            format!("user {}", req.param("id").unwrap_or("?"))
        })
        .get("/panic", |_req: Request| async {
            if true {
                panic!("a handler that fails"); // PANIC_MESSAGE
            }
            "never"
        });
    let metrics = app.metrics();
    let s = within(move || {
        with_server(app, |addr| {
            let mut raw = gets("/", 7) + &gets("/users/1", 3) + &gets("/nope", 2);
            raw += "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
            raw += "HEAD /users/2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
            let out = exchange(addr, raw.as_bytes());
            assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 11, "{out}");
            assert_eq!(out.matches("HTTP/1.1 404").count(), 2);
            assert_eq!(out.matches("HTTP/1.1 405").count(), 1);
            let out = exchange(
                addr,
                b"GET /panic HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            );
            assert!(out.starts_with("HTTP/1.1 500"), "{out}");
            // A field without a colon (400), then a version the server does not speak (505).
            let out = exchange(addr, b"GET / HTTP/1.1\r\nHost a\r\n\r\n");
            assert!(out.starts_with("HTTP/1.1 400"), "{out}");
            let out = exchange(addr, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n");
            assert!(out.starts_with("HTTP/1.1 505"), "{out}");
            settled(&metrics)
        })
    });
    assert_eq!(series(&s, "/", "GET", "2xx"), 7);
    assert_eq!(series(&s, "/users/{id}", "GET", "2xx"), 3);
    assert_eq!(series(&s, "/users/{id}", "HEAD", "2xx"), 1);
    assert_eq!(series(&s, UNMATCHED, "GET", "4xx"), 2);
    assert_eq!(series(&s, UNMATCHED, "POST", "4xx"), 1);
    assert_eq!(
        series(&s, "/panic", "GET", "5xx"),
        1,
        "the panic: {:?}",
        s.routes
    );
    assert_eq!(s.requests, 15);
    assert_eq!(s.status_class(2), 11);
    assert_eq!(s.status_class(4), 3);
    assert_eq!(s.status_class(5), 1);
    assert_eq!(s.rejected(400), 1);
    assert_eq!(s.rejected(505), 1);
    assert_eq!(s.rejections.iter().sum::<u64>(), 2);
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.connections, 4);
    assert_eq!(s.open_connections, 0);
    // Period 1 times every request, the panic too: the connection keeps its request's tally.
    assert_eq!(s.duration.count(), s.requests);
    assert!(s.duration_quantile(0.99).is_some());
}

/// Behind a middleware: the route is still the handler's, and an answer the middleware gives
/// by itself (401 before routing) is `<unmatched>`.
#[test]
fn middleware_answers_and_routes_are_labelled() {
    let app = App::new()
        .middleware(from_fn(|req: Request, next: Next| async move {
            if req.path() == "/secret" {
                return Response::text("no\n").with_status(401);
            }
            next.run(req).await
        }))
        .get("/items/{id}", |_req: Request| async { "item" })
        .get("/secret", |_req: Request| async { "hidden" });
    let metrics = app.metrics();
    let s = within(move || {
        with_server(app, |addr| {
            let raw = gets("/items/9", 4) + &gets("/secret", 1) + &gets("/x", 1);
            let raw = raw + "GET /items/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
            let out = exchange(addr, raw.as_bytes());
            assert_eq!(out.matches("HTTP/1.1 200").count(), 5, "{out}");
            settled(&metrics)
        })
    });
    assert_eq!(series(&s, "/items/{id}", "GET", "2xx"), 5);
    assert_eq!(series(&s, UNMATCHED, "GET", "4xx"), 2);
    assert_eq!(s.requests_for("/secret"), 0);
    assert_eq!(s.requests, 7);
    assert_eq!(s.in_flight, 0);
}

/// A request whose handler is still running counts as in flight, and not yet as a request.
#[test]
fn a_running_handler_is_in_flight() {
    let gate = std::sync::Arc::new(spindle::sync::Notify::new());
    let release = gate.clone();
    let app = App::new().get("/wait", move |_req: Request| {
        let gate = gate.clone();
        async move {
            gate.notified().await;
            "done"
        }
    });
    let metrics = app.metrics();
    within(move || {
        with_server(app, |addr| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"GET /wait HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap();
            // Wait (bounded) until the server has the request.
            let deadline = Instant::now() + Duration::from_secs(10);
            while metrics.snapshot().in_flight == 0 {
                assert!(Instant::now() < deadline, "the request never arrived");
                std::thread::sleep(Duration::from_millis(2));
            }
            let during = metrics.snapshot();
            assert_eq!((during.in_flight, during.requests), (1, 0));
            assert_eq!(during.open_connections, 1);
            release.notify_one();
            let mut out = Vec::new();
            s.read_to_end(&mut out).unwrap();
            assert!(out.starts_with(b"HTTP/1.1 200"));
            let after = metrics.snapshot();
            assert_eq!((after.in_flight, after.requests), (0, 1));
        })
    });
}

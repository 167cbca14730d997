//! `spindle_http::client` end to end, over real loopback sockets: against a real spindle-http
//! server (App + Server::start on 127.0.0.1:0), and against raw-bytes servers (std threads) that
//! send malformed responses, count connections, close idle connections, or never answer.
//!
//! Every test runs under a watchdog, so a hang fails the test by name.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use spindle_http::client::{Client, Error, ParseError, Phase};
use spindle_http::{App, Request, Response, Server};

/// Runs `body` on a fresh runtime; fails the test if it takes more than 30 s.
fn run<F: std::future::Future<Output = ()> + Send + 'static>(
    body: impl FnOnce() -> F + Send + 'static,
) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        spindle::Runtime::new().unwrap().block_on(body());
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after 30 s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("test body panicked"),
    }
}

/// What a raw server saw.
#[derive(Default)]
struct Seen {
    /// Connections accepted.
    connections: AtomicUsize,
    /// Request heads read.
    requests: AtomicUsize,
}

/// A raw server: each accepted connection runs `handler(connection index, stream, seen)` on its
/// own thread. Returns the address and the counters.
fn raw_server(
    handler: impl Fn(usize, TcpStream, &Seen) + Send + Sync + 'static,
) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let handler = Arc::new(handler);
    let counters = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let index = counters.connections.fetch_add(1, Ordering::SeqCst);
            let (handler, seen) = (handler.clone(), counters.clone());
            std::thread::spawn(move || handler(index, stream, &seen));
        }
    });
    (addr, seen)
}

/// Reads one request head (and a `content-length` body) from `s`; `false` at end of stream.
fn read_request(s: &mut TcpStream, seen: &Seen) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
    let mut body = vec![0u8; length];
    if s.read_exact(&mut body).is_err() {
        return false;
    }
    seen.requests.fetch_add(1, Ordering::SeqCst);
    true
}

/// A keep-alive server answering every request on a connection with `hello`.
fn keep_alive_server() -> (SocketAddr, Arc<Seen>) {
    raw_server(|_, mut s, seen| {
        while read_request(&mut s, seen) {
            if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                .is_err()
            {
                return;
            }
        }
    })
}

/// The client against the real server: text, JSON, POST echo, HEAD, 404, a streamed (chunked)
/// body read chunk by chunk, and keep-alive reuse of one connection throughout.
#[test]
fn against_spindle_http_server() {
    run(|| async {
        let app = App::new()
            .get("/", |_req: Request| async { "Hello, World!" })
            .get("/json", |_req: Request| async {
                Response::json(&serde_json::json!({"id": 7, "name": "ada"}))
            })
            .post("/echo", |mut req: Request| async move {
                let body = req.body_mut().bytes().await.unwrap_or_default();
                Response::text(String::from_utf8_lossy(&body).into_owned())
            })
            .get("/stream", |_req: Request| async {
                Response::stream("text/plain", |tx| async move {
                    for i in 0..5 {
                        if tx.send(format!("part {i};")).await.is_err() {
                            return;
                        }
                    }
                })
            });
        let server = Server::bind("127.0.0.1:0").start(app).await.unwrap();
        let base = format!("http://{}", server.local_addr());
        let client = Client::new();

        let r = client.get(&format!("{base}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r
            .headers()
            .get("content-type")
            .unwrap()
            .starts_with("text/plain"));
        assert_eq!(r.text().await.unwrap(), "Hello, World!");

        let v: serde_json::Value = client
            .get(&format!("{base}/json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["name"], "ada");

        let r = client
            .post(&format!("{base}/echo"))
            .body("echo me")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "echo me");

        let r = client.head(&format!("{base}/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("content-length").is_some());
        assert!(r.bytes().await.unwrap().is_empty());

        let r = client.get(&format!("{base}/missing")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        drop(r.bytes().await.unwrap());

        let mut r = client.get(&format!("{base}/stream")).send().await.unwrap();
        assert_eq!(r.headers().get("transfer-encoding"), Some("chunked"));
        let mut all = String::new();
        while let Some(chunk) = r.chunk().await.unwrap() {
            all.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert_eq!(all, "part 0;part 1;part 2;part 3;part 4;");

        // Every response above was read to its end, so one connection carried them all.
        let addr = server.local_addr();
        assert_eq!(
            client.idle_connections(&addr.ip().to_string(), addr.port()),
            1
        );
        server.shutdown().await;
    });
}

/// N sequential requests travel over one pooled connection: the server accepts once.
#[test]
fn pool_reuses_one_connection() {
    run(|| async {
        let (addr, seen) = keep_alive_server();
        let client = Client::new();
        for _ in 0..20 {
            let body = client
                .get(&format!("http://{addr}/"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(body, b"hello");
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
        assert_eq!(seen.requests.load(Ordering::SeqCst), 20);
    });
}

/// With idle reuse turned off (idle timeout zero, or no idle slots) each request opens its own
/// connection.
#[test]
fn idle_timeout_and_idle_limit_close_connections() {
    run(|| async {
        for client in [
            Client::builder().pool_idle_timeout(Duration::ZERO).build(),
            Client::builder().pool_max_idle_per_host(0).build(),
        ] {
            let (addr, seen) = keep_alive_server();
            for _ in 0..3 {
                let r = client.get(&format!("http://{addr}/")).send().await.unwrap();
                assert_eq!(r.bytes().await.unwrap(), b"hello");
            }
            assert_eq!(seen.connections.load(Ordering::SeqCst), 3);
        }
    });
}

/// At most `max_connections_per_host` connections carry requests at once, however many tasks
/// send concurrently; all requests still succeed.
#[test]
fn per_host_connection_limit() {
    run(|| async {
        let (addr, seen) = raw_server(|_, mut s, seen| {
            while read_request(&mut s, seen) {
                // Slow answers let concurrent requests pile up against the limit.
                std::thread::sleep(Duration::from_millis(20));
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
        });
        let client = Client::builder().max_connections_per_host(2).build();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let client = client.clone();
                spindle::spawn(async move {
                    let r = client.get(&format!("http://{addr}/")).send().await?;
                    r.bytes().await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), b"ok");
        }
        let connections = seen.connections.load(Ordering::SeqCst);
        assert!((1..=2).contains(&connections), "{connections} connections");
    });
}

/// A server that closes every connection after one response (without saying `close`): each
/// next request notices (the pooled connection is stale, or the reused one closes unanswered)
/// and goes out on a fresh connection; all succeed.
#[test]
fn server_closing_idle_connections() {
    run(|| async {
        let (addr, seen) = raw_server(|_, mut s, seen| {
            if read_request(&mut s, seen) {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            }
            // Dropping `s` closes the connection.
        });
        let client = Client::new();
        for _ in 0..5 {
            let r = client.get(&format!("http://{addr}/")).send().await.unwrap();
            assert_eq!(r.bytes().await.unwrap(), b"ok");
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 5);
        assert_eq!(seen.requests.load(Ordering::SeqCst), 5);
    });
}

/// A server that answers the first request on a connection, then reads the second and closes
/// without answering. The second GET is retried on a fresh connection (idempotent, no response
/// byte seen); the second POST is not (it may have been processed): it fails with `Closed` and
/// the server never sees it twice.
#[test]
fn retry_only_when_safe() {
    fn server() -> (SocketAddr, Arc<Seen>) {
        raw_server(|index, mut s, seen| {
            if !read_request(&mut s, seen) {
                return;
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst");
            if index == 0 && read_request(&mut s, seen) {
                return; // read the second request, then close unanswered
            }
            while read_request(&mut s, seen) {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nlater");
            }
        })
    }
    run(|| async {
        let (addr, seen) = server();
        let client = Client::new();
        let url = format!("http://{addr}/");
        assert_eq!(
            client
                .get(&url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            b"first"
        );
        let retried = client.get(&url).send().await.unwrap();
        assert_eq!(retried.bytes().await.unwrap(), b"first");
        assert_eq!(seen.connections.load(Ordering::SeqCst), 2);
        assert_eq!(seen.requests.load(Ordering::SeqCst), 3);

        let (addr, seen) = server();
        let url = format!("http://{addr}/");
        let first = client.post(&url).body("a").send().await.unwrap();
        assert_eq!(first.bytes().await.unwrap(), b"first");
        let err = client.post(&url).body("b").send().await.unwrap_err();
        assert!(matches!(err, Error::Closed), "{err:?}");
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
        assert_eq!(seen.requests.load(Ordering::SeqCst), 2);
    });
}

/// Each malformed shape a server can send becomes its precise error (at `send` for head and
/// framing faults, at `bytes` for body faults), never a panic or a hang.
#[test]
fn malformed_responses_from_a_raw_server() {
    let huge_head = {
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..5000 {
            h.extend_from_slice(format!("x-filler-{i}: {}\r\n", "y".repeat(20)).as_bytes());
        }
        h
    };
    let cases: Vec<(Vec<u8>, ParseError, bool)> = vec![
        (
            b"HTTP/1.1 2OO OK\r\n\r\n".to_vec(),
            ParseError::BadStatusCode,
            true,
        ),
        (
            b"ICY 200 OK\r\n\r\n".to_vec(),
            ParseError::BadStatusLine,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd".to_vec(),
            ParseError::DuplicateContentLength,
            true,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            ParseError::BadChunkSize,
            false,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this".to_vec(),
            ParseError::Truncated,
            false,
        ),
        (huge_head, ParseError::HeadTooLarge, true),
    ];
    run(move || async move {
        let client = Client::new();
        for (bytes, want, at_send) in cases {
            let bytes = Arc::new(bytes);
            let (addr, _) = raw_server(move |_, mut s, seen| {
                if read_request(&mut s, seen) {
                    let _ = s.write_all(&bytes);
                }
            });
            let result = match client.get(&format!("http://{addr}/")).send().await {
                Ok(r) => {
                    assert!(!at_send, "{want:?} should fail at send");
                    r.bytes().await.map(|_| ())
                }
                Err(e) => Err(e),
            };
            match result {
                Err(Error::Parse(got)) => assert_eq!(got, want),
                other => panic!("expected {want:?}, got {other:?}"),
            }
        }
        // A server that closes a fresh connection without a byte: `Closed`, no retry.
        let (addr, seen) = raw_server(|_, mut s, seen| {
            read_request(&mut s, seen);
        });
        let err = client
            .get(&format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Closed), "{err:?}");
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    });
}

/// A server that never answers meets the request timeout; one that stops mid-body meets the
/// body timeout. (The server holds the socket open until the test ends, so only the deadline
/// can end the wait.)
#[test]
fn request_and_body_timeouts() {
    run(|| async {
        let (hold_tx, hold_rx) = mpsc::channel::<()>();
        let hold = Arc::new(std::sync::Mutex::new(hold_rx));
        let (addr, _) = raw_server(move |index, mut s, seen| {
            if read_request(&mut s, seen) && index == 1 {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nab");
            }
            let _ = hold.lock().unwrap().recv(); // keeps `s` open until the sender is dropped
        });
        let client = Client::builder()
            .timeout(Duration::from_millis(200))
            .build();
        let err = client
            .get(&format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout(Phase::Request)), "{err:?}");
        let r = client.get(&format!("http://{addr}/")).send().await.unwrap();
        let err = r.bytes().await.unwrap_err();
        assert!(matches!(err, Error::Timeout(Phase::Body)), "{err:?}");
        drop(hold_tx);
    });
}

/// Bad URLs, `https://`, a refused connection and bad header values are errors before or at
/// connect, with the right variant.
#[test]
fn request_errors() {
    run(|| async {
        let client = Client::new();
        let e = client.get("https://example.com/").send().await.unwrap_err();
        assert!(matches!(e, Error::UnsupportedScheme(_)), "{e:?}");
        let e = client.get("http://exa mple/").send().await.unwrap_err();
        assert!(matches!(e, Error::InvalidUrl(_)), "{e:?}");
        let e = client
            .get("http://127.0.0.1:1/")
            .header("x", "a\r\nb")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidHeader(_)), "{e:?}");
        let e = client
            .post("http://127.0.0.1:1/")
            .header("content-length", "5")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidHeader(_)), "{e:?}");
        // Port of a listener that was closed: nothing listens there now.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = client
            .get(&format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(e.is_connect(), "{e:?}");
    });
}

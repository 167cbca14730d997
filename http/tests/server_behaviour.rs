//! The server over real sockets, with apps built for each case: handler panics, unread and
//! partly read bodies, `Expect: 100-continue` without reading, HTTP/1.0 streaming, body-read
//! and idle timeouts, the connection limit, and background tasks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{read_response, Harness};
use spindle_http::{App, Request, Response, ServerConfig};

fn status(head: &str) -> u16 {
    head[9..12].parse().unwrap()
}

/// Reads until the server closes; a read timeout fails the test.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("the server closes the connection");
    out
}

/// A panicking handler becomes a 500; the same connection and the server keep working.
#[test]
fn handler_panic_is_a_500_and_the_server_keeps_serving() {
    let app = App::new()
        .get("/panic", |_req: Request| async {
            if true {
                panic!("handler bug");
            }
            "unreachable"
        })
        .get("/ok", |_req: Request| async { "ok" });
    let h = Harness::new(app, ServerConfig::default());
    let mut s = h.connect();
    for _ in 0..3 {
        s.write_all(b"GET /panic HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let (head, _) = read_response(&mut s);
        assert_eq!(status(&head), 500);
        let (head, body) = read_response(&mut s);
        assert_eq!(status(&head), 200);
        assert_eq!(body, b"ok");
    }
}

/// A body the handler never read is drained, and the next request on the connection works.
#[test]
fn unread_body_is_drained_and_keep_alive_continues() {
    let app = App::new().post("/ignore", |_req: Request| async { "ignored" });
    let h = Harness::new(app, ServerConfig::default());
    let mut s = h.connect();
    let body = vec![b'z'; 100_000];
    let mut req = format!(
        "POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req.extend_from_slice(b"POST /ignore HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    s.write_all(&req).unwrap();
    for _ in 0..2 {
        let (head, body) = read_response(&mut s);
        assert_eq!(status(&head), 200);
        assert!(!head.contains("connection: close"), "{head}");
        assert_eq!(body, b"ignored");
    }
}

/// A body larger than the drain allowance is not read: the response says close and the
/// server closes, so framing is never in doubt.
#[test]
fn huge_unread_body_closes_the_connection() {
    let app = App::new().post("/ignore", |_req: Request| async { "ignored" });
    let config = ServerConfig {
        max_drain_bytes: 1024,
        ..ServerConfig::default()
    };
    let h = Harness::new(app, config);
    let mut s = h.connect();
    s.write_all(b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
        .unwrap();
    s.write_all(&vec![b'q'; 64 * 1024]).unwrap();
    let out = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
}

/// `Expect: 100-continue` with a handler that never reads: no `100 Continue` is sent, the
/// final response closes the connection (the client may never send the body).
#[test]
fn expect_continue_without_reading_closes() {
    let app = App::new().post("/ignore", |_req: Request| async { (403, "no") });
    let h = Harness::new(app, ServerConfig::default());
    let mut s = h.connect();
    s.write_all(
        b"POST /ignore HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let out = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 403"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
}

/// A handler reading the body gets `100 Continue` sent first, then the body.
#[test]
fn expect_continue_when_reading() {
    let app = App::new().post("/len", |mut req: Request| async move {
        let body = req.bytes().await.unwrap();
        body.len().to_string()
    });
    let h = Harness::new(app, ServerConfig::default());
    let mut s = h.connect();
    s.write_all(
        b"POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"hello").unwrap();
    let (head, body) = read_response(&mut s);
    assert_eq!(status(&head), 200);
    assert_eq!(body, b"5");
}

/// A client that stops sending its body gets 408 from the body-read timeout.
#[test]
fn stalled_body_gets_408() {
    let app = App::new().post("/read", |mut req: Request| async move {
        req.bytes().await.map(|b| b.len().to_string())
    });
    let config = ServerConfig {
        body_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let h = Harness::new(app, config);
    let mut s = h.connect();
    s.write_all(b"POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        .unwrap();
    let out = read_to_close(&mut s);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

/// An idle keep-alive connection is closed after the idle timeout, without a response.
#[test]
fn idle_keep_alive_connection_is_closed() {
    let app = App::new().get("/", |_req: Request| async { "hi" });
    let config = ServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let h = Harness::new(app, config);
    let mut s = h.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let _ = read_response(&mut s);
    assert!(read_to_close(&mut s).is_empty());
}

/// A streamed response to an HTTP/1.0 client is delimited by closing the connection.
#[test]
fn http10_stream_is_close_delimited() {
    let app = App::new().get("/s", |_req: Request| async {
        Response::stream("text/plain", |tx| async move {
            for i in 0..3 {
                let _ = tx.send(format!("{i};")).await;
            }
        })
    });
    let h = Harness::new(app, ServerConfig::default());
    let mut s = h.connect();
    s.write_all(b"GET /s HTTP/1.0\r\n\r\n").unwrap();
    let text = String::from_utf8(read_to_close(&mut s)).unwrap();
    assert!(!text.contains("transfer-encoding"), "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(text.ends_with("\r\n\r\n0;1;2;"), "{text}");
}

/// Background tasks run after the response was written (FastAPI's BackgroundTasks).
#[test]
fn background_tasks_run_after_the_response() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let app = App::new().get("/bg", move |req: Request| {
        let r = r.clone();
        async move {
            req.background().add(async move {
                r.fetch_add(1, Ordering::SeqCst);
            });
            "queued"
        }
    });
    let h = Harness::new(app, ServerConfig::default());
    let mut s = h.connect();
    s.write_all(b"GET /bg HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let (_, body) = read_response(&mut s);
    assert_eq!(body, b"queued");
    for _ in 0..500 {
        if ran.load(Ordering::SeqCst) == 1 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the background task did not run");
}

/// Waits (bounded) until `counter` reaches `n`; false if it never does.
fn reaches(counter: &AtomicUsize, n: usize) -> bool {
    for _ in 0..500 {
        if counter.load(Ordering::SeqCst) == n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Background jobs are not lost on the less common paths: a blocking handler (the request is
/// dropped on the blocking pool), a handler that drops its request and then waits, a
/// handler that keeps its request to the end, and pipelined requests answered in one write.
#[test]
fn background_tasks_run_from_every_kind_of_handler() {
    let ran = Arc::new(AtomicUsize::new(0));
    let (r1, r2, r3) = (ran.clone(), ran.clone(), ran.clone());
    let app = App::new()
        .get_blocking("/blocking", move |req: Request| {
            let r = r1.clone();
            req.background().add(async move {
                r.fetch_add(1, Ordering::SeqCst);
            });
            "blocking"
        })
        .get("/early", move |req: Request| {
            let r = r2.clone();
            async move {
                req.background().add(async move {
                    r.fetch_add(1, Ordering::SeqCst);
                });
                drop(req);
                spindle::time::sleep(Duration::from_millis(20)).await;
                "early"
            }
        })
        .get("/kept", move |req: Request| {
            let r = r3.clone();
            async move {
                req.background().add_blocking(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                });
                spindle::time::sleep(Duration::from_millis(5)).await;
                format!("kept {}", req.path())
            }
        });
    let h = Harness::new(app, ServerConfig::default());
    let mut s = h.connect();
    s.write_all(
        b"GET /blocking HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /early HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /kept HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    let bodies: Vec<Vec<u8>> = (0..3).map(|_| read_response(&mut s).1).collect();
    assert_eq!(bodies, [&b"blocking"[..], b"early", b"kept /kept"]);
    assert!(
        reaches(&ran, 3),
        "ran {} of 3 jobs",
        ran.load(Ordering::SeqCst)
    );
}

/// With `max_connections(1)`, a second client is not served until the first one leaves.
#[test]
fn connection_limit_holds_extra_clients_in_the_backlog() {
    let app = App::new().get("/", |_req: Request| async { "hi" });
    let h = Harness::with(app, |s| s.max_connections(1));
    let mut first = h.connect();
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let _ = read_response(&mut first);
    let mut second = h.connect();
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 1];
    assert!(
        second.read(&mut b).is_err(),
        "the second client must wait while the first holds the only slot"
    );
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (head, _) = read_response(&mut second);
    assert_eq!(status(&head), 200);
}

/// A client that stops reading is dropped after the write timeout: the server does not keep
/// a connection (and its buffers) forever for a peer that never drains its socket.
#[test]
fn write_timeout_drops_a_client_that_never_reads() {
    let app = App::new().get("/big", |_req: Request| async {
        Response::bytes(vec![b'b'; 32 << 20])
    });
    let config = ServerConfig {
        write_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let h = Harness::new(app, config);
    let mut s = h.connect();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let server = h.server.as_ref().unwrap();
    // The connection is open while the server tries to write 32 MiB nobody reads ...
    let mut seen_open = false;
    for _ in 0..1000 {
        match server.connections() {
            1 => seen_open = true,
            0 if seen_open => return, // ... and is dropped once the write timeout passes.
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the stalled connection was not dropped (seen open: {seen_open})");
}

/// `reuse_port(2)`: two listeners on one port, both serving.
#[test]
fn reuse_port_listeners_serve() {
    let app = App::new().get("/", |_req: Request| async { "hi" });
    let h = Harness::with(app, |s| s.reuse_port(2));
    for _ in 0..20 {
        let mut s = h.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let out = read_to_close(&mut s);
        assert!(out.starts_with(b"HTTP/1.1 200"));
    }
}

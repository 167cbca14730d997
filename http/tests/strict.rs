//! The stricter rules of issue 9 and the fixes for what a hostile user found, each spoken as
//! raw bytes over a real socket to a server on `127.0.0.1:0`: chunk extensions by their
//! grammar, chunk sizes over 64 bits, over-long methods, `CONNECT`, unmet expectations; a
//! `100 Continue` that keeps its place in a pipeline; a trickled body timed out by its overall
//! deadline and by the minimum data rate; bodiless error answers to `HEAD`; and a bounded send
//! buffer for clients that never read. Every socket read has a timeout and every test is
//! bounded (a 60 s deadline, or a wait counted in steps), so a hang is a failure, not a stuck
//! suite.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{within, Harness};
use spindle_http::{App, Request, Response, ServerConfig};

/// Sends `request` on a new connection and reads until the server closes (a read timeout fails
/// the test).
fn exchange(h: &Harness, request: &[u8]) -> String {
    let mut s = h.connect();
    s.write_all(request).unwrap();
    read_to_close(&mut s)
}

/// Everything the server sends until it closes the connection.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("the server closes the connection");
    String::from_utf8_lossy(&out).into_owned()
}

/// The status of the first response in `text`.
fn status(text: &str) -> u16 {
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

/// Asserts `text` is one response with `want` status and `connection: close`.
fn assert_rejected(text: &str, want: u16) {
    assert_eq!(status(text), want, "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
}

/// An app with `POST /echo` (reads the whole body back), `GET /` and `GET /stream`.
fn app() -> App {
    App::new()
        .get("/", |_req: Request| async { "root" })
        .post("/echo", |mut req: Request| async move {
            req.bytes().await.map(Response::bytes)
        })
        .get("/stream", |_req: Request| async {
            Response::stream("text/plain", |tx| async move {
                for i in 0..3 {
                    if tx.send(format!("s{i}")).await.is_err() {
                        return;
                    }
                }
            })
        })
}

/// A chunked `POST /echo` whose first chunk-size line is `size_line`.
fn chunked_post(size_line: &str) -> Vec<u8> {
    format!(
        "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{size_line}\r\nhello\r\n0\r\n\r\n"
    )
    .into_bytes()
}

/// RFC 9112 §7.1.1: chunk extensions are parsed by their grammar. A bare `;` or a non-token
/// byte is 400 and the connection closes; well-formed extensions (token and quoted values,
/// whitespace around `;` and `=`) are accepted and ignored.
#[test]
fn chunk_extensions_follow_their_grammar() {
    within(|| {
        let h = Harness::new(app(), ServerConfig::default());
        for bad in ["5;", "5; ", "5;a b", "5;a@b", "5;a=", "5;a=\"x", "5;;a"] {
            let text = exchange(&h, &chunked_post(bad));
            assert_rejected(&text, 400);
            assert!(text.contains("invalid chunk extension"), "{bad:?}: {text}");
        }
        let good = chunked_post("5 ; name = \"quoted; value\" ;flag;t=tok");
        let mut s = h.connect();
        s.write_all(&good).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let text = read_to_close(&mut s);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\r\n\r\nhello"), "{text}");
        assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    });
}

/// RFC 9112 §7.1: a chunk size that does not fit in 64 bits is a malformed message: 400 and
/// close, not the 413 of a size that fits but passes the body limit.
#[test]
fn chunk_size_over_64_bits_is_400() {
    within(|| {
        let h = Harness::new(app(), ServerConfig::default());
        let text = exchange(&h, &chunked_post("10000000000000000"));
        assert_rejected(&text, 400);
        assert!(text.contains("chunk size overflows"), "{text}");
        // Leading zeros do not overflow; a size over the 2 MiB limit is still 413.
        let text = exchange(&h, &chunked_post("ffffffffffffffff"));
        assert_rejected(&text, 413);
        let mut fine = chunked_post("00000000000000000005");
        fine.extend_from_slice(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let text = exchange(&h, &fine);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\r\n\r\nhello"), "{text}");
    });
}

/// RFC 9112 §3: a method longer than any the server implements is 501 (not 431), even while
/// the method is still arriving; an over-long target stays 414 and over-long fields 431.
#[test]
fn long_method_is_501_target_414_fields_431() {
    within(|| {
        let h = Harness::new(app(), ServerConfig::default());
        // A method flood with no SP in sight: answered as soon as it passes 32 bytes.
        let mut s = h.connect();
        s.write_all(&[b'M'; 200]).unwrap();
        assert_rejected(&read_to_close(&mut s), 501);
        let long_method = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "X".repeat(33));
        assert_rejected(&exchange(&h, long_method.as_bytes()), 501);
        // 32 bytes is still a method: a route-less one, so 404.
        let ok_method = format!(
            "{} / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            "X".repeat(32)
        );
        assert_eq!(status(&exchange(&h, ok_method.as_bytes())), 405);
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "t".repeat(9000));
        assert_rejected(&exchange(&h, long_target.as_bytes()), 414);
        let long_field = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "f".repeat(17000)
        );
        assert_rejected(&exchange(&h, long_field.as_bytes()), 431);
    });
}

/// RFC 9110 §9.3.6: `CONNECT` (authority-form) to an origin server that does not tunnel is
/// 501; an app that registers `CONNECT *` gets the request.
#[test]
fn connect_is_501_unless_routed() {
    within(|| {
        let request = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n";
        let h = Harness::new(app(), ServerConfig::default());
        let text = exchange(&h, request);
        assert_eq!(status(&text), 501, "{text}");
        let tunnel = app().route("CONNECT", "*", |req: Request| async move {
            format!("would tunnel to {}", req.target())
        });
        let h = Harness::new(tunnel, ServerConfig::default());
        let text = exchange(&h, request);
        assert_eq!(status(&text), 200, "{text}");
        assert!(text.ends_with("would tunnel to example.com:443"), "{text}");
    });
}

/// RFC 9110 §10.1.1: an `Expect` other than `100-continue` is 417 (and the connection, whose
/// body was never asked for, closes); `100-continue` itself still works.
#[test]
fn other_expectations_are_417() {
    within(|| {
        let h = Harness::new(app(), ServerConfig::default());
        for expect in ["200-ok", "100-continue, x", "100-continue;a=b"] {
            let request = format!(
                "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: {expect}\r\nContent-Length: 5\r\n\r\nhello"
            );
            let text = exchange(&h, request.as_bytes());
            assert_rejected(&text, 417);
            assert!(!text.contains("100 Continue"), "{text}");
        }
        let text = exchange(
            &h,
            b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
        assert!(
            text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK"),
            "{text}"
        );
    });
}

/// Finding A (RFC 9112 §9.3.2): on a pipelined connection the interim `100 Continue` leaves
/// after the responses to the requests before it, never inside or ahead of them: after a
/// plain response, and after a streamed (chunked) one.
#[test]
fn continue_keeps_its_place_in_a_pipeline() {
    within(|| {
        let h = Harness::new(app(), ServerConfig::default());
        let post = "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
        for first in [
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let text = exchange(&h, format!("{first}{post}").as_bytes());
            let first_end = if first.contains("/stream") {
                text.find("s2\r\n0\r\n\r\n")
                    .map(|i| i + "s2\r\n0\r\n\r\n".len())
            } else {
                text.find("\r\n\r\nroot").map(|i| i + "\r\n\r\nroot".len())
            };
            let first_end =
                first_end.unwrap_or_else(|| panic!("first response incomplete: {text}"));
            let interim = text
                .find("HTTP/1.1 100 Continue\r\n\r\n")
                .unwrap_or_else(|| panic!("no 100 Continue: {text}"));
            assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
            assert_eq!(interim, first_end, "100 Continue out of order: {text:?}");
            assert!(text[interim..].contains("HTTP/1.1 200 OK"), "{text}");
            assert!(text.ends_with("hello"), "{text}");
        }
    });
}

/// Finding C: a body trickled slower than the minimum rate is answered 408 and closed once
/// the grace period has passed, although every single read is well within `body_timeout`.
#[test]
fn trickled_body_is_408_by_the_minimum_rate() {
    within(|| {
        let config = ServerConfig {
            min_body_bytes_per_second: 100,
            min_body_rate_grace: Duration::from_millis(300),
            body_deadline: None,
            ..ServerConfig::default()
        };
        let h = Harness::new(app(), config);
        let mut s = h.connect();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n")
            .unwrap();
        // One byte every 100 ms (10 B/s), until the server answers (at most 8 s of this).
        let answer = trickle(&mut s, Duration::from_millis(100), 80);
        assert_rejected(&answer, 408);
        assert!(answer.contains("arrived too slowly"), "{answer}");
    });
}

/// Finding C: a body that keeps up any rate still has to be complete within `body_deadline`
/// of the handler's first read: 408 and close.
#[test]
fn slow_body_is_408_at_its_deadline() {
    within(|| {
        let config = ServerConfig {
            min_body_bytes_per_second: 0,
            body_deadline: Some(Duration::from_millis(500)),
            ..ServerConfig::default()
        };
        let h = Harness::new(app(), config);
        let mut s = h.connect();
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
            .unwrap();
        let answer = trickle(&mut s, Duration::from_millis(50), 160);
        assert_rejected(&answer, 408);
        assert!(answer.contains("did not arrive in time"), "{answer}");
    });
}

/// Sends one byte every `every`, at most `count` times, until the server answers; returns the
/// answer read to the close (empty if it never came).
fn trickle(s: &mut TcpStream, every: Duration, count: usize) -> String {
    s.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    for _ in 0..count {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(n) if n > 0 => {
                got.extend_from_slice(&buf[..n]);
                break;
            }
            _ => {}
        }
        if s.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(every);
    }
    s.set_nonblocking(false).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    got.extend_from_slice(&rest);
    String::from_utf8_lossy(&got).into_owned()
}

/// Finding E (RFC 9110 §9.3.2): the error answer to a `HEAD` request the parser rejected (a
/// second `Host`, a `Content-Length` over the limit, an unmet expectation) has the head a
/// `GET` would get, `content-length` included, and no body.
#[test]
fn rejected_head_requests_get_no_body() {
    within(|| {
        let h = Harness::new(app(), ServerConfig::default());
        for (request, want) in [
            ("HEAD / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (
                "HEAD / HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n",
                413,
            ),
            ("\r\nHEAD / HTTP/1.1\r\nHost: a\r\nExpect: x\r\n\r\n", 417),
            ("HEAD / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ] {
            let text = exchange(&h, request.as_bytes());
            assert_rejected(&text, want);
            assert!(text.contains("\r\ncontent-length: "), "{request:?}: {text}");
            assert!(
                text.ends_with("\r\n\r\n"),
                "{request:?}: a body came: {text:?}"
            );
        }
        // The same rejection of a GET does carry its explanation.
        let text = exchange(&h, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
        assert!(text.ends_with("more than one Host field\n"), "{text}");
    });
}

/// Finding E: with a bounded send buffer, a client that asks for a 4 MiB response and never
/// reads meets the write timeout and is dropped, instead of the kernel absorbing the whole
/// response (with autotuning a socket may buffer up to `tcp_wmem`'s 4 MiB maximum) and the
/// connection sitting idle on it.
#[test]
fn bounded_send_buffer_drops_a_client_that_never_reads() {
    // Bounded without `within`: the wait below is at most 20 s (generous, for a loaded
    // machine), and the harness's shutdown on failure at most its 10 s shutdown timeout.
    let app = App::new().get("/big", |_req: Request| async {
        Response::bytes(vec![b'b'; 3 << 20])
    });
    let config = ServerConfig {
        send_buffer_bytes: Some(64 * 1024),
        write_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let h = Harness::new(app, config);
    let mut s = h.connect();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let server = h.server.as_ref().unwrap();
    let mut seen_open = false;
    for _ in 0..2000 {
        match server.connections() {
            1 => seen_open = true,
            0 if seen_open => return,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the connection was not dropped (seen open: {seen_open})");
}

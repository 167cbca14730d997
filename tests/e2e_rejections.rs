//! End-to-end: every request the parser must reject, sent as raw bytes to the running demo.
//! Each must get its precise status and the connection must be closed by the server (the
//! read returns end-of-stream; a read timeout would fail the test).

mod common;

use common::{exchange_until_close, status_of, Demo};

/// (name, request bytes, expected status)
fn cases() -> Vec<(&'static str, Vec<u8>, u16)> {
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9 * 1024));
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(17 * 1024)
    );
    let mut many_fields = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..101 {
        many_fields.push_str(&format!("X-F{i}: v\r\n"));
    }
    many_fields.push_str("\r\n");
    let big_body = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n".to_vec();
    vec![
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n".to_vec(), 400),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n".to_vec(), 400),
        ("bare CR in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n".to_vec(), 400),
        ("bare LF line ending", b"GET / HTTP/1.1\nHost: a\n\n".to_vec(), 400),
        ("invalid name char", b"GET / HTTP/1.1\r\nHost: a\r\nX(A): b\r\n\r\n".to_vec(), 400),
        ("NUL in a value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n".to_vec(), 400),
        ("1.1 without Host", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n".to_vec(), 400),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), 400),
        ("invalid Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n".to_vec(), 400),
        ("malformed Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n".to_vec(), 400),
        ("negative Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n".to_vec(), 400),
        ("conflicting Content-Length", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(), 400),
        ("Content-Length list", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd".to_vec(), 400),
        ("CL and TE together", b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400),
        ("TE not ending in chunked", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n".to_vec(), 400),
        ("chunked twice", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n".to_vec(), 400),
        ("unknown coding", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec(), 501),
        ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(), 505),
        ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n".to_vec(), 505),
        ("garbage version", b"GET / HTTX/1.1\r\nHost: a\r\n\r\n".to_vec(), 400),
        ("target over 8 KiB", long_target.into_bytes(), 414),
        ("head over 16 KiB", big_head.into_bytes(), 431),
        ("over 100 fields", many_fields.into_bytes(), 431),
        ("body over 2 MiB", big_body, 413),
        ("bad chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        // A size past the body limit is refused as soon as its digits end.
        ("huge chunk size", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n".to_vec(), 413),
        // RFC 9112 §7.1: a size that does not fit in 64 bits is malformed, not merely large.
        ("chunk size over 64 bits", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n".to_vec(), 400),
        // RFC 9112 §7.1.1: chunk extensions by their grammar.
        ("bare ; chunk extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        ("non-token chunk extension", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a(b)\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        // RFC 9112 §3: a method longer than any implemented.
        ("method over 32 bytes", format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(40)).into_bytes(), 501),
        // RFC 9110 §10.1.1: an expectation other than 100-continue.
        ("Expect other than 100-continue", b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 3\r\n\r\nabc".to_vec(), 417),
        ("chunk size with 0x", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n".to_vec(), 400),
        ("chunked body over 2 MiB", {
            let mut r = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for _ in 0..3 {
                r.extend_from_slice(b"100000\r\n");
                r.extend_from_slice(&vec![b'x'; 0x100000]);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        }, 413),
        ("missing CRLF after chunk", b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX0\r\n\r\n".to_vec(), 400),
    ]
}

/// Every rejection: precise status, `connection: close`, and the server closes the socket.
#[test]
fn every_rejection_gets_its_status_and_a_closed_connection() {
    let demo = Demo::start(&[]);
    let mut failures = Vec::new();
    for (name, request, want) in cases() {
        let text = exchange_until_close(demo.addr, &request);
        let got = status_of(&text);
        let head = text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if got != want || !head.contains("connection: close") {
            failures.push(format!(
                "{name}: want {want} + close, got {:?}",
                text.lines().next()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// After every kind of bad request, the server still answers well-formed ones.
#[test]
fn server_keeps_serving_after_bad_input() {
    let demo = Demo::start(&[]);
    for (_, request, _) in cases() {
        let _ = exchange_until_close(demo.addr, &request);
    }
    let text = exchange_until_close(
        demo.addr,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&text), 200);
    assert!(text.ends_with("Hello, World!"));
}

/// Unknown paths get 404; a known path with the wrong method gets 405 with `Allow`.
#[test]
fn not_found_and_method_not_allowed() {
    let demo = Demo::start(&[]);
    let text = exchange_until_close(
        demo.addr,
        b"GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&text), 404);
    let text = exchange_until_close(
        demo.addr,
        b"DELETE /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&text), 405);
    let allow = text
        .lines()
        .find_map(|l| l.strip_prefix("allow: "))
        .unwrap_or_else(|| panic!("no allow header: {text}"));
    assert!(allow.split(", ").any(|m| m == "POST"), "{allow}");
    assert!(!allow.split(", ").any(|m| m == "DELETE"), "{allow}");
}

/// A 1 MB header flood is cut off with 431 once the head limit is passed, without the server
/// reading (or buffering) the whole megabyte.
#[test]
fn header_flood_is_cut_off() {
    use std::io::{Read, Write};
    let demo = Demo::start(&[]);
    let mut s = demo.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let line = format!("X-Flood: {}\r\n", "f".repeat(1000));
    let mut sent = 0;
    // Keep sending until the server stops reading (write error) or 1 MB went out.
    while sent < 1_000_000 {
        if s.write_all(line.as_bytes()).is_err() {
            break;
        }
        sent += line.len();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status_of(&text), 431, "{text}");
}

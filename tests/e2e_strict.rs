//! End-to-end, against the demo binary: the stricter rules and the fixes of issue 9 as real
//! clients meet them. python3's `http.client` tunnelling through the demo gets 501 for its
//! `CONNECT`, and 417 for an unknown expectation; a rejected `HEAD` gets a head and no body;
//! curl reads a 20,000-chunk stream intact (the chunks now share writes); `--max-connections`
//! caps the connections served at once. Every read has a timeout.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{curl, exchange_until_close, python, read_response, status_of, Demo};

/// RFC 9110 §9.3.6: python's `http.client`, told to tunnel through the demo as a proxy,
/// sends `CONNECT example.com:443` and is refused with 501 (the demo registers no CONNECT
/// route); RFC 9110 §10.1.1: its POST with `Expect: x-unknown` gets 417.
#[test]
fn python_client_meets_501_for_connect_and_417_for_expect() {
    let demo = Demo::start(&[]);
    let script = r#"
import http.client, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.set_tunnel("example.com", 443)
try:
    c.request("GET", "/")
    print("tunnel opened")
except OSError as e:
    print("tunnel refused:", e)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("POST", "/echo", body=b"abc", headers={"Expect": "x-unknown"})
r = c.getresponse()
print(r.status, r.getheader("connection"), r.read())
"#;
    let out = python(script, demo.addr);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("tunnel refused:") && lines[0].contains("501"),
        "{out}"
    );
    assert_eq!(
        lines[1], "417 close b'expectation other than 100-continue\\n'",
        "{out}"
    );
}

/// RFC 9110 §9.3.2: the demo's error answer to a rejected `HEAD` (a second `Host`, a body
/// over 2 MiB) has no body; the same rejection of a `GET` explains itself in its body.
#[test]
fn rejected_head_gets_no_body_from_the_demo() {
    let demo = Demo::start(&[]);
    for (request, status) in [
        (&b"HEAD / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"[..], 400),
        (
            b"HEAD /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n",
            413,
        ),
    ] {
        let text = exchange_until_close(demo.addr, request);
        assert_eq!(status_of(&text), status, "{text}");
        assert!(text.ends_with("\r\n\r\n"), "a body came: {text:?}");
    }
    let text = exchange_until_close(demo.addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n");
    assert!(text.ends_with("more than one Host field\n"), "{text}");
}

/// curl reads `GET /stream?n=20000` whole and in order: coalescing chunks into shared
/// writes changes how many `write` calls the server makes, not the bytes.
#[test]
fn curl_reads_a_long_stream_intact() {
    let demo = Demo::start(&["--no-access-log"]);
    let (body, _) = curl(&[&demo.url("/stream?n=20000")]);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 20_000);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("chunk {i}"));
    }
}

/// `--max-connections 1`: while one keep-alive client holds the only slot, a second is not
/// served; once the first leaves, it is.
#[test]
fn max_connections_flag_caps_the_demo() {
    let demo = Demo::start(&["--max-connections", "1"]);
    let mut first = demo.connect();
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut first);
    assert_eq!(status_of(&head), 200);
    let mut second = demo.connect();
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
    assert_eq!(status_of(&head), 200);
}

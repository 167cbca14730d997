//! End-to-end: the running demo with real clients (curl, python3's http.client) and raw
//! bytes: keep-alive reuse, pipelining, chunked upload, 100-continue, HEAD, streaming, JSON,
//! headers and cookies, the blocking pool, and the access log.

mod common;

use std::io::Write;

use common::{curl, python, read_response, status_of, Demo};

/// `GET /` through curl.
#[test]
fn curl_hello() {
    let demo = Demo::start(&[]);
    let (body, _) = curl(&[&demo.url("/")]);
    assert_eq!(body, "Hello, World!");
}

/// python http.client sends several requests over one connection: the same local port is
/// used for all of them (keep-alive reuse), and each answer is right.
#[test]
fn python_keep_alive_reuse() {
    let demo = Demo::start(&[]);
    let out = python(
        r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
ports = set()
for path in ["/", "/users/7", "/json", "/"]:
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    ports.add(c.sock.getsockname()[1])
    print(r.status, body.decode().strip().splitlines()[0][:20])
print("connections", len(ports))
"#,
        demo.addr,
    );
    assert!(out.contains("200 Hello, World!"), "{out}");
    assert!(out.contains("200 user 7"), "{out}");
    assert!(out.contains("connections 1"), "{out}");
}

/// A chunked upload from python (`encode_chunked=True`) is echoed back whole.
#[test]
fn python_chunked_upload() {
    let demo = Demo::start(&[]);
    let out = python(
        r#"
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
chunks = [b"alpha-" * 1000, b"beta-" * 3000, b"gamma"]
c.request("POST", "/echo", body=iter(chunks), encode_chunked=True, headers={"Content-Type": "text/plain"})
r = c.getresponse()
body = r.read()
assert r.status == 200, r.status
assert body == b"".join(chunks), len(body)
assert r.getheader("content-type") == "text/plain"
print("ok", len(body))
"#,
        demo.addr,
    );
    assert!(out.starts_with("ok 21005"), "{out}");
}

/// python: JSON decodes, HEAD has headers but no body, cookies and headers are reported.
#[test]
fn python_json_head_cookies_headers() {
    let demo = Demo::start(&[]);
    let out = python(
        r#"
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/json"); r = c.getresponse()
doc = json.loads(r.read()); assert r.getheader("content-type") == "application/json"
print("json", doc["message"], doc["runtime"])
c.request("HEAD", "/"); r = c.getresponse()
print("head", r.status, r.getheader("content-length"), len(r.read()))
c.request("GET", "/cookies", headers={"Cookie": "a=1; session=xyz"}); r = c.getresponse()
print("cookies", r.read().decode().split())
c.request("POST", "/headers", body=b"", headers={"X-Custom": "Value 1", "Accept": "*/*"}); r = c.getresponse()
print("headers", r.read().decode().replace("\n", "|"))
"#,
        demo.addr,
    );
    assert!(out.contains("json Hello, World! spindle"), "{out}");
    assert!(out.contains("head 200 13 0"), "{out}");
    assert!(out.contains("cookies ['a=1', 'session=xyz']"), "{out}");
    assert!(out.contains("X-Custom: Value 1|"), "{out}");
}

/// curl with `Expect: 100-continue` gets `100 Continue` before it sends the body, then the echo.
#[test]
fn curl_expect_100_continue() {
    let demo = Demo::start(&[]);
    let body = "x".repeat(5000);
    let (out, err) = curl(&[
        "-v",
        "-H",
        "Expect: 100-continue",
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        &body,
        &demo.url("/echo"),
    ]);
    assert!(err.contains("HTTP/1.1 100 Continue"), "{err}");
    assert_eq!(out, body);
}

/// A streamed response arrives chunked, every chunk in order.
#[test]
fn curl_streaming_response() {
    let demo = Demo::start(&[]);
    let (out, err) = curl(&["-v", &demo.url("/stream?n=50")]);
    assert!(
        err.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{err}"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 50);
    assert_eq!(lines[0], "chunk 0");
    assert_eq!(lines[49], "chunk 49");
}

/// Sixteen pipelined requests in one write get sixteen answers, in order.
#[test]
fn raw_pipelining_in_order() {
    let demo = Demo::start(&[]);
    let mut s = demo.connect();
    let mut batch = Vec::new();
    for i in 0..16 {
        batch.extend_from_slice(format!("GET /users/{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    }
    s.write_all(&batch).unwrap();
    for i in 0..16 {
        let (head, body) = read_response(&mut s);
        assert_eq!(status_of(&head), 200);
        assert_eq!(String::from_utf8(body).unwrap(), format!("user {i}\n"));
    }
}

/// HTTP/1.0: closes after the response unless keep-alive is asked for.
#[test]
fn http10_connection_handling() {
    let demo = Demo::start(&[]);
    let text = common::exchange_until_close(demo.addr, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(status_of(&text), 200);
    let mut s = demo.connect();
    s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /users/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut s);
    assert!(
        head.to_ascii_lowercase().contains("connection: keep-alive"),
        "{head}"
    );
    let (_, body) = read_response(&mut s);
    assert_eq!(body, b"user 2\n");
}

/// Blocking handlers run on the pool: four concurrent requests that each block a thread for
/// 300 ms all succeed while the async workers stay free.
#[test]
fn blocking_handlers_run_in_parallel_on_the_pool() {
    let demo = Demo::start(&[]);
    let out = python(
        r#"
import http.client, sys, threading
results = []
def one():
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
    c.request("GET", "/blocking?ms=300")
    r = c.getresponse(); results.append((r.status, r.read()))
ts = [threading.Thread(target=one) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
print(sorted(s for s, _ in results))
"#,
        demo.addr,
    );
    assert!(out.contains("[200, 200, 200, 200]"), "{out}");
}

/// Each request produces one access-log line on stdout.
#[test]
fn access_log_line_per_request() {
    let demo = Demo::start(&[]);
    curl(&[&demo.url("/users/55")]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if demo
            .stdout
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("GET /users/55") && l.contains("200"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access-log line: {:?}",
            demo.stdout.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Bad query values get a 400, not a panic.
#[test]
fn bad_parameters_are_400() {
    let demo = Demo::start(&[]);
    for path in [
        "/sleep?ms=abc",
        "/sleep?ms=99999999999",
        "/blocking?ms=-1",
        "/stream?n=x",
    ] {
        let text = common::exchange_until_close(
            demo.addr,
            format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status_of(&text), 400, "{path}: {text}");
    }
}

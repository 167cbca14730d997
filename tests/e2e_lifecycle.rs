//! End-to-end: slowloris and the fixed header deadline, and graceful shutdown under load.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{read_response, status_of, Demo};

/// A client sending its head one byte every 300 ms is cut off with 408 at the 2 s header
/// deadline (a deadline reset by every byte would let it finish after ~12 s and get a 200),
/// while other clients keep being served the whole time.
#[test]
fn slowloris_gets_408_while_others_are_served() {
    let demo = Demo::start(&["--header-timeout-ms", "2000"]);
    let slow = demo.connect();
    let mut reader = slow.try_clone().unwrap();
    let reply = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    let writer = std::thread::spawn(move || {
        let mut slow = slow;
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: yes\r\n\r\n";
        let mut sent = 0;
        for byte in head {
            if slow.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(300));
        }
        sent
    });
    // Meanwhile, ordinary clients are served.
    let mut fast = demo.connect();
    for i in 0..10 {
        fast.write_all(format!("GET /users/{i} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .unwrap();
        let (head, body) = read_response(&mut fast);
        assert_eq!(status_of(&head), 200);
        assert_eq!(body, format!("user {i}\n").as_bytes());
        std::thread::sleep(Duration::from_millis(150));
    }
    let text = reply.join().unwrap();
    assert_eq!(status_of(&text), 408, "{text}");
    assert!(text.to_ascii_lowercase().contains("connection: close"));
    let sent = writer.join().unwrap();
    assert!(
        sent < 41,
        "the head was cut off before it was complete (sent {sent} of 41 bytes)"
    );
}

/// SIGTERM under load: requests already received finish with 200 and `connection: close`, an
/// idle keep-alive connection is closed, new connections are refused, and the process exits 0.
#[test]
fn graceful_shutdown_under_load() {
    let mut demo = Demo::start(&[]);
    // Eight busy connections: first a request that proves the connection was accepted, then a
    // slow one that will be in flight when the signal arrives.
    let mut busy = Vec::new();
    for _ in 0..8 {
        let mut s = demo.connect();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let (head, _) = read_response(&mut s);
        assert_eq!(status_of(&head), 200);
        s.write_all(b"GET /sleep?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        busy.push(s);
    }
    // One idle keep-alive connection.
    let mut idle = demo.connect();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let _ = read_response(&mut idle);

    std::thread::sleep(Duration::from_millis(300));
    demo.terminate();

    // The idle connection is closed without a response.
    let mut rest = Vec::new();
    idle.read_to_end(&mut rest)
        .expect("idle connection closed, not timed out");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));

    // Every in-flight request completes, told that the connection closes.
    for mut s in busy {
        let (head, body) = read_response(&mut s);
        assert_eq!(status_of(&head), 200, "{head}");
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        assert_eq!(body, b"slept 1500 ms on a timer\n");
        let mut tail = Vec::new();
        s.read_to_end(&mut tail).expect("closed after the response");
    }

    let status = demo.wait_exit(15);
    assert!(status.success(), "exit status {status:?}");
    assert!(
        std::net::TcpStream::connect(demo.addr).is_err(),
        "the listener is closed"
    );
}

/// Finding B with a real SIGTERM: requests that reach the demo only after the signal, on
/// connections it accepted before, are answered in full with `connection: close` (a GET on a
/// fresh connection, a POST on a keep-alive one), while `/healthz` on a connection opened
/// before says 503 and new connects are refused. Before the fix both were closed with 0 bytes.
#[test]
fn sigterm_answers_requests_arriving_after_it_on_accepted_connections() {
    let mut demo = Demo::start(&["--drain-grace-ms", "30000", "--no-access-log"]);
    let mut kept = demo.connect();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut kept);
    assert_eq!((status_of(&head), &body[..]), (200, &b"ok\n"[..]), "{head}");
    let mut health = demo.connect();
    health
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let _ = read_response(&mut health);
    // A fresh connection that sends nothing yet. The kernel queues connections in order and
    // the demo has one listener, so once `probe` (connected after it) is answered, `fresh`
    // has been accepted too.
    let mut fresh = demo.connect();
    let mut probe = demo.connect();
    probe
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let _ = read_response(&mut probe);

    demo.terminate();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(demo.addr).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "connects are refused soon after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    fresh
        .write_all(b"GET /users/7 HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut fresh);
    assert_eq!(status_of(&head), 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert_eq!(body, b"user 7\n");

    kept.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let (head, body) = read_response(&mut kept);
    assert_eq!(status_of(&head), 200, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert_eq!(body, b"hello");

    health
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut health);
    assert_eq!(
        (status_of(&head), &body[..]),
        (503, &b"draining\n"[..]),
        "{head}"
    );

    let status = demo.wait_exit(15);
    assert!(status.success(), "exit status {status:?}");
}

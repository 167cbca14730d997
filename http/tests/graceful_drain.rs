//! Graceful shutdown as a load balancer sees it, over real sockets: once a drain begins,
//! `/healthz` says 503 while the server still serves, connects are refused once accepting
//! stops, a connection accepted before the stop still gets its request answered (with
//! `connection: close`) even if the request arrives after the stop, and a connection that stays
//! idle is closed after the grace without a response.
//!
//! Nothing here waits for a timer to "probably" have fired: each step waits, bounded, for the
//! state it needs (a connection counted, a connect refused, a 503 seen), and the grace is far
//! longer than the steps that must fit inside it.

mod common;

use common::{read_response, within};

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use spindle_http::{App, Request, RunningServer, Server};

/// An app with `GET /`, `POST /echo` and `/healthz`.
fn app() -> App {
    App::new()
        .get("/", |_req: Request| async { "hello" })
        .post("/echo", |mut req: Request| async move {
            req.bytes().await.map(|b| b.to_vec())
        })
        .healthz()
}

/// A two-worker runtime serving `app()` with `configure` applied to the server.
fn start(configure: impl FnOnce(Server) -> Server) -> (spindle::Runtime, RunningServer) {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let server = rt
        .block_on(configure(Server::bind("127.0.0.1:0")).start(app()))
        .expect("bind 127.0.0.1:0");
    (rt, server)
}

/// Connects with 10 s read and write timeouts.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn status(head: &str) -> u16 {
    head[9..12].parse().unwrap()
}

fn says_close(head: &str) -> bool {
    head.to_ascii_lowercase()
        .contains("\r\nconnection: close\r\n")
}

/// Waits (bounded) until `cond` holds, checking every 2 ms.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(8);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// True once a connect to `addr` is refused (a connect that succeeds is closed again).
fn connect_refused(addr: SocketAddr) -> bool {
    match TcpStream::connect(addr) {
        Ok(_) => false,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
            true
        }
    }
}

/// Finding B: a client that connected before the shutdown, but whose request arrives only
/// after the server stopped accepting, gets a full response with `connection: close`; so does
/// a keep-alive client sending its second request (a POST) then. A new connect is refused.
/// Before the fix, both connections were closed at once with no response.
#[test]
fn requests_arriving_after_the_stop_on_accepted_connections_are_answered() {
    within(|| {
        let (rt, server) = start(|s| s.drain_grace(Duration::from_secs(30)));
        let addr = server.local_addr();

        // A keep-alive connection that has served one request, and a fresh one that has sent
        // nothing yet; both accepted (counted by the server) before the shutdown begins.
        let mut kept = connect(addr);
        kept.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let (head, _) = read_response(&mut kept);
        assert!(status(&head) == 200 && !says_close(&head), "{head}");
        let mut fresh = connect(addr);
        wait_until("both connections are accepted", || {
            server.connections() == 2
        });

        let stopping = rt.spawn(server.shutdown());
        wait_until("a connect is refused", || connect_refused(addr));

        fresh
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let (head, body) = read_response(&mut fresh);
        assert_eq!(status(&head), 200, "{head}");
        assert!(says_close(&head), "{head}");
        assert_eq!(body, b"hello");

        kept.write_all(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
        let (head, body) = read_response(&mut kept);
        assert_eq!(status(&head), 200, "{head}");
        assert!(says_close(&head), "{head}");
        assert_eq!(body, b"hello");

        for mut s in [fresh, kept] {
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).expect("closed after the response");
            assert!(rest.is_empty());
        }
        let left = rt.block_on(stopping).unwrap();
        assert_eq!(left, 0, "no connection left");
        assert!(connect_refused(addr), "still refused after shutdown");
    });
}

/// A connection that sends nothing is closed when the grace ends, without a response, and
/// shutdown then returns with no connection left.
#[test]
fn a_connection_idle_through_the_grace_is_closed_without_a_response() {
    within(|| {
        let (rt, server) = start(|s| s.drain_grace(Duration::from_millis(200)));
        let mut idle = connect(server.local_addr());
        wait_until("the connection is accepted", || server.connections() == 1);
        let left = rt.block_on(server.shutdown());
        assert_eq!(left, 0);
        let mut rest = Vec::new();
        idle.read_to_end(&mut rest)
            .expect("closed at the end of the grace, not left to the read timeout");
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    });
}

/// Part 8: `/healthz` answers 200, then 503 from the moment the drain begins, while the
/// server still accepts and serves during the drain delay; responses then say
/// `connection: close`, so keep-alive clients reconnect (through their balancer).
#[test]
fn healthz_turns_503_when_the_drain_begins_while_the_server_still_serves() {
    within(|| {
        // The delay outlasts the test: the runtime is dropped while the drain still waits.
        let (rt, server) = start(|s| s.drain_delay(Duration::from_secs(60)));
        let addr = server.local_addr();
        let mut kept = connect(addr);
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let (head, body) = read_response(&mut kept);
        assert_eq!((status(&head), &body[..]), (200, &b"ok\n"[..]), "{head}");
        assert!(!says_close(&head), "{head}");

        let _draining = rt.spawn(server.shutdown());
        let mut last = String::new();
        wait_until("/healthz on a new connection says 503", || {
            let mut s = connect(addr);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
                .unwrap();
            let (head, body) = read_response(&mut s);
            last = head.clone();
            status(&head) == 503 && body == b"draining\n" && says_close(&head)
        });
        assert!(last.contains("cache-control: no-store"), "{last}");

        // The keep-alive connection is still served, and told to close.
        kept.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let (head, body) = read_response(&mut kept);
        assert_eq!((status(&head), &body[..]), (200, &b"hello"[..]), "{head}");
        assert!(says_close(&head), "{head}");
        drop(rt);
    });
}

//! The app behind a real server on 127.0.0.1, spoken to in raw bytes over `std::net`:
//! 405 with `Allow`, HEAD and OPTIONS on the wire, the access log's client address, and a
//! blocking handler that only runs once the body has arrived.

mod common;

use common::{poll_once, within};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spindle_http::{AccessLog, App, Request, RunningServer, Server};

/// Starts `app` on a fresh runtime, runs `client` against its address on this thread, then
/// shuts the server down.
fn with_server<T>(app: App, client: impl FnOnce(SocketAddr) -> T) -> T {
    let rt = spindle::Runtime::new().unwrap();
    let server: RunningServer = rt
        .block_on(Server::bind("127.0.0.1:0").start(app))
        .expect("bind 127.0.0.1:0");
    let out = client(server.local_addr());
    rt.block_on(server.shutdown());
    out
}

/// Connects with 5 s read and write timeouts.
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Sends `raw` (which should ask for `connection: close`) and reads until the server closes.
fn exchange(addr: SocketAddr, raw: &str) -> String {
    let mut s = connect(addr);
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read the response");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until the bytes so far end a head (`\r\n\r\n`).
fn read_head(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("read a head");
        assert!(
            n == 1,
            "connection closed mid-head: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.push(byte[0]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of header `name` in a raw response (names compared case-insensitively).
fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    let head = resp.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The body of a raw response (what follows the head).
fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// On the wire: a parameter route answers 200, a wrong method 405 with `Allow`, HEAD gets the
/// GET headers and no body, OPTIONS 204 with `Allow`, an unknown path 404.
#[test]
fn routing_on_the_wire() {
    let app = App::new()
        .get("/users/{id}", |req: Request| async move {
            format!("user {}", req.param("id").unwrap_or("?"))
        })
        .post("/users/{id}", |_req: Request| async { "updated" });
    let resps = within(move || {
        with_server(app, |addr| {
            [
                "GET /users/42 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                "PUT /users/42 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                "HEAD /users/42 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                "OPTIONS /users/42 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                "GET /nope HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            ]
            .map(|raw| exchange(addr, raw))
        })
    });
    let [get, put, head, options, missing] = &resps;
    assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    assert_eq!(body(get), "user 42");
    assert!(put.starts_with("HTTP/1.1 405"), "{put}");
    assert_eq!(header(put, "allow"), Some("GET, HEAD, OPTIONS, POST"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(head, "content-length"), Some("7"));
    assert_eq!(body(head), "", "HEAD has no body on the wire");
    assert!(options.starts_with("HTTP/1.1 204"), "{options}");
    assert_eq!(header(options, "allow"), Some("GET, HEAD, OPTIONS, POST"));
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

/// Behind a socket the access log names the client's address and port.
#[test]
fn access_log_names_the_client() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let app = App::new()
        .middleware(AccessLog::with_sink(move |l| {
            sink.lock().unwrap().push(l.into())
        }))
        .get("/", |_req: Request| async { "hi" });
    let local = within(move || {
        with_server(app, |addr| {
            let mut s = connect(addr);
            let local = s.local_addr().unwrap();
            s.write_all(b"GET /?a=b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).unwrap();
            local
        })
    });
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 1);
    let want = format!("INFO: {local} - \"GET /?a=b HTTP/1.1\" 200 ");
    assert!(lines[0].starts_with(&want), "{:?} vs {want:?}", lines[0]);
}

/// A blocking handler runs only after the whole body was read on the connection's task: with
/// `Expect: 100-continue` the server asks for the body before the function has run, and the
/// function then has the body in memory. A body error (413) is the answer, without running it.
#[test]
fn blocking_handler_gets_the_body_read_first() {
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let app = App::new().post_blocking("/upload", move |mut req: Request| {
        flag.store(true, Ordering::SeqCst);
        // The body is complete bytes by now: one poll finishes reading it, no I/O needed.
        match poll_once(req.bytes()) {
            Some(Ok(bytes)) => format!("got {}", String::from_utf8_lossy(&bytes)),
            Some(Err(e)) => format!("error {e}"),
            None => "the body was not read before the function ran".to_string(),
        }
    });
    let ran2 = ran.clone();
    let (interim, ran_before_body, resp, too_big, ran_for_too_big) = within(move || {
        with_server(app, |addr| {
            // 1. Head only, asking for 100-continue.
            let mut s = connect(addr);
            s.write_all(
                b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\
                  Expect: 100-continue\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
            // 2. The server asks for the body; the function cannot have run yet.
            let interim = read_head(&mut s);
            let ran_before_body = ran2.load(Ordering::SeqCst);
            // 3. Send the body; the function runs and echoes it.
            s.write_all(b"hello").unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).unwrap();
            let resp = String::from_utf8_lossy(&out).into_owned();
            // 4. A chunk bigger than the body limit (2 MiB) is refused before the function.
            ran2.store(false, Ordering::SeqCst);
            let too_big = exchange(
                addr,
                "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\
                 Connection: close\r\n\r\n300000\r\n",
            );
            let ran_for_too_big = ran2.load(Ordering::SeqCst);
            (interim, ran_before_body, resp, too_big, ran_for_too_big)
        })
    });
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    assert!(!ran_before_body, "the function ran before the body arrived");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert_eq!(body(&resp), "got hello");
    assert!(too_big.starts_with("HTTP/1.1 413"), "{too_big}");
    assert!(!ran_for_too_big, "the function ran despite a body error");
}

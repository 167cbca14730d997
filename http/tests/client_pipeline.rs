//! Client pipelining (`ClientBuilder::pipeline_depth`) end to end over loopback: against a real
//! spindle-http server (many concurrent requests, one connection, answers matched in order),
//! against a raw server that reads four requests before it answers any (which only a client
//! that writes ahead can satisfy), and against raw servers that close mid-pipeline (the
//! answered requests succeed, the unanswered ones are sent again once, then fail).
//!
//! Every test runs under a watchdog, so a hang fails the test by name.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use spindle::future::join_all;
use spindle_http::client::{Client, Error};
use spindle_http::{App, Request, Server};

/// Runs `body` on a fresh runtime (`threads` workers, 0: current-thread); fails the test if it
/// takes more than 30 s.
fn run<F: std::future::Future<Output = ()> + Send + 'static>(
    threads: usize,
    body: impl FnOnce() -> F + Send + 'static,
) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = if threads == 0 {
            spindle::Builder::new_current_thread().build().unwrap()
        } else {
            spindle::Builder::new_multi_thread()
                .worker_threads(threads)
                .build()
                .unwrap()
        };
        rt.block_on(body());
        let _ = tx.send(());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after 30 s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("test body panicked"),
    }
}

/// A client that pipelines `depth` requests on at most one connection per host.
fn pipelining_client(depth: usize) -> Client {
    Client::builder()
        .pipeline_depth(depth)
        .max_connections_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
}

/// 16 concurrent GETs, depth 4, one connection: every answer is its own request's (the path
/// comes back in the body), the server saw a single client address, and a POST on the same
/// client still works (it is not pipelined).
#[test]
fn concurrent_requests_share_one_pipelined_connection() {
    run(2, || async {
        let peers = Arc::new(Mutex::new(HashSet::new()));
        let seen = peers.clone();
        let app = App::new()
            .get("/users/{id}", move |req: Request| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().insert(req.remote_addr());
                    format!("user {}", req.param("id").unwrap_or("?"))
                }
            })
            .post("/echo", |mut req: Request| async move {
                let body = req.body_mut().bytes().await.unwrap_or_default();
                String::from_utf8_lossy(&body).into_owned()
            });
        let server = Server::bind("127.0.0.1:0").start(app).await.unwrap();
        let addr = server.local_addr();
        let client = pipelining_client(4);
        let urls: Vec<String> = (0..16)
            .map(|i| format!("http://{addr}/users/{i}"))
            .collect();
        let answers = join_all(urls.iter().map(|u| client.get(u).send())).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let r = answer.unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.text().await.unwrap(), format!("user {i}"));
        }
        assert_eq!(
            peers.lock().unwrap().len(),
            1,
            "one connection carried them all"
        );
        assert_eq!(client.pipelined_connections("127.0.0.1", addr.port()), 1);
        let r = client
            .post(&format!("http://{addr}/echo"))
            .body("posted")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "posted");
    });
}

/// Reads one request head from `s` and returns its target; `None` at end of stream.
fn read_target(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split(' ').nth(1).map(str::to_string)
}

/// A raw server: connection `k` reads `reads[k]` request heads (all of them before writing
/// anything), answers the first `answers[k]` in order (body = the request's target), writes
/// `then`, and closes. Connections past the lists read and answer one request at a time.
/// Returns the address and the count of connections accepted.
fn raw_server(
    reads: Vec<usize>,
    answers: Vec<usize>,
    then: &'static [u8],
) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let accepted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let k = accepted.fetch_add(1, Ordering::SeqCst);
            let (reads, answers) = (reads.clone(), answers.clone());
            std::thread::spawn(move || {
                let answer = |s: &mut TcpStream, target: &str| {
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{target}",
                        target.len()
                    );
                    s.write_all(reply.as_bytes())
                };
                if k < reads.len() {
                    let targets: Vec<String> =
                        (0..reads[k]).map_while(|_| read_target(&mut s)).collect();
                    for t in targets.iter().take(answers[k]) {
                        let _ = answer(&mut s, t);
                    }
                    let _ = s.write_all(then);
                    return; // closes, leaving the rest unanswered
                }
                while let Some(t) = read_target(&mut s) {
                    if answer(&mut s, &t).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, count)
}

/// Four GETs to a server that answers nothing until it has read all four: only a client that
/// writes requests before earlier responses are read gets any answer. (A current-thread runtime
/// makes the four requests reach the connection before its driver first runs.)
#[test]
fn requests_are_written_before_earlier_responses_are_read() {
    let (addr, accepted) = raw_server(vec![4], vec![4], b"");
    run(0, move || async move {
        let client = pipelining_client(4);
        let urls: Vec<String> = (0..4).map(|i| format!("http://{addr}/r{i}")).collect();
        let answers = join_all(urls.iter().map(|u| client.get(u).send())).await;
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// The first connection reads four requests, answers two and closes: the two answered succeed,
/// the two unanswered are sent again on a second connection and succeed there.
#[test]
fn unanswered_requests_are_sent_again_after_a_close_mid_pipeline() {
    let (addr, accepted) = raw_server(vec![4], vec![2], b"");
    run(0, move || async move {
        let client = pipelining_client(4);
        let urls: Vec<String> = (0..4).map(|i| format!("http://{addr}/r{i}")).collect();
        let answers = join_all(urls.iter().map(|u| client.get(u).send())).await;
        for (i, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// As above, but the second connection also closes unanswered: a request is sent again only
/// once, so the two unanswered ones fail with `Error::Closed`, and the two answered succeed.
#[test]
fn a_request_is_sent_again_only_once() {
    let (addr, accepted) = raw_server(vec![4, 2], vec![2, 0], b"");
    run(0, move || async move {
        let client = pipelining_client(4);
        let urls: Vec<String> = (0..4).map(|i| format!("http://{addr}/r{i}")).collect();
        let answers = join_all(urls.iter().map(|u| client.get(u).send())).await;
        let mut answers = answers.into_iter();
        for i in 0..2 {
            let r = answers.next().unwrap().unwrap();
            assert_eq!(r.text().await.unwrap(), format!("/r{i}"));
        }
        for answer in answers {
            assert!(matches!(answer, Err(Error::Closed)), "{answer:?}");
        }
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

/// The first connection answers one of three requests and then sends a malformed head: the
/// first request succeeds, the one whose answer was malformed fails with the parse error (it
/// may have been processed, and its answer cannot be trusted), and the third, never answered,
/// is sent again on a second connection and succeeds.
#[test]
fn a_malformed_answer_fails_its_request_and_the_rest_are_sent_again() {
    let (addr, accepted) = raw_server(vec![3], vec![1], b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n");
    run(0, move || async move {
        let client = pipelining_client(4);
        let urls: Vec<String> = (0..3).map(|i| format!("http://{addr}/r{i}")).collect();
        let mut answers = join_all(urls.iter().map(|u| client.get(u).send()))
            .await
            .into_iter();
        let first = answers.next().unwrap().unwrap();
        assert_eq!(first.text().await.unwrap(), "/r0");
        let second = answers.next().unwrap();
        assert!(matches!(second, Err(Error::Parse(_))), "{second:?}");
        let third = answers.next().unwrap().unwrap();
        assert_eq!(third.text().await.unwrap(), "/r2");
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

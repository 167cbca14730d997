//! End-to-end: the demo's access log, written in batches (`http/src/app/log_batch.rs`), loses
//! no line, splits none, keeps one worker's order, shows up without a shutdown, and is
//! written out in full when the server stops.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{read_response, status_of, Demo};

/// The access-log lines the demo has printed so far.
fn log_lines(demo: &Demo) -> Vec<String> {
    demo.stdout
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("INFO: "))
        .cloned()
        .collect()
}

/// Waits (up to 30 s) until at least `n` access-log lines have been printed.
fn wait_for_lines(demo: &Demo, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = log_lines(demo);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Four keep-alive clients make 100 requests each on the 2-worker demo; every request gets
/// exactly one whole line, printed while the server keeps running (by the writer thread, not
/// by a shutdown).
#[test]
fn every_request_gets_one_whole_line() {
    let demo = Demo::start(&[]);
    run_clients(&demo, 4, 100);
    let lines = wait_for_lines(&demo, 400);
    assert_eq!(lines.len(), 400, "lines: {lines:#?}");
    for c in 0..4 {
        for i in 0..100 {
            let want = format!("\"GET /users/c{c}-{i} HTTP/1.1\" 200 ");
            let found: Vec<&String> = lines.iter().filter(|l| l.contains(&want)).collect();
            assert_eq!(found.len(), 1, "{want}: {found:?}");
            assert!(found[0].ends_with("ms"), "a whole line: {:?}", found[0]);
        }
    }
}

/// With one worker, all lines share one buffer, so they come out in the order they were made:
/// a client that waits for each response sees its lines in request order. (With several
/// workers a connection may move between them, and lines of different workers interleave
/// batch by batch.)
#[test]
fn one_worker_keeps_request_order() {
    let demo = Demo::start(&["--workers", "1"]);
    run_clients(&demo, 1, 100);
    let lines = wait_for_lines(&demo, 100);
    assert_eq!(lines.len(), 100, "lines: {lines:#?}");
    for (i, line) in lines.iter().enumerate() {
        let want = format!("\"GET /users/c0-{i} HTTP/1.1\" 200 ");
        assert!(line.contains(&want), "line {i}: {line:?}");
    }
}

/// `clients` keep-alive connections, each making `n` requests one after another.
fn run_clients(demo: &Demo, clients: usize, n: usize) {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let mut s = demo.connect();
            std::thread::spawn(move || {
                for i in 0..n {
                    write!(s, "GET /users/c{c}-{i} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                    let (head, _) = read_response(&mut s);
                    assert_eq!(status_of(&head), 200, "{head}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
}

/// Lines made just before SIGTERM are written when the server stops: 50 pipelined requests
/// answered, then the signal at once, then all 50 lines on stdout after exit.
#[test]
fn stopping_writes_out_every_buffered_line() {
    let mut demo = Demo::start(&["--drain-delay-ms", "0"]);
    let mut s = demo.connect();
    let mut batch = String::new();
    for i in 0..50 {
        batch.push_str(&format!("GET /users/last-{i} HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    s.write_all(batch.as_bytes()).unwrap();
    for _ in 0..50 {
        let (head, _) = read_response(&mut s);
        assert_eq!(status_of(&head), 200, "{head}");
    }
    drop(s);
    demo.terminate();
    assert!(demo.wait_exit(30).success());
    // The stdout reader thread sees the pipe close after exit; give it the deadline to drain.
    let lines = wait_for_lines(&demo, 50);
    let last: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("/users/last-"))
        .collect();
    assert_eq!(last.len(), 50, "lines: {lines:#?}");
}

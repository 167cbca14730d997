//! End-to-end: the live dashboard (`GET /debug/runtime` in the demo, `http/src/app/dashboard.rs`)
//! in a real browser. Headless Chromium, driven through chromedriver by
//! `tests/dashboard_webdriver.py` (W3C WebDriver over loopback HTTP), opens the page against the
//! running demo while this test loads the demo; the test asserts that one lane per worker
//! appears, that the numbers move between two reads, that req/s is shown, and that a request
//! blocking its worker (`/dump`) shows up as a long-poll report. A
//! screenshot is saved as `target/dashboard.png`.
//!
//! Skipped, with a message saying so, only when chromium or chromedriver is not installed
//! (`.ci/run` installs both, so it runs in CI).

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{installed, read_response, run_to_end, status_of, Demo};

/// Keep-alive clients that request `/` in a loop, a few milliseconds apart, until `stop` is
/// set (or 300 s pass). Paced, not flat out: the test needs requests flowing, and Chromium
/// needs CPU too on a 2-core machine.
fn start_load(addr: SocketAddr, clients: usize, stop: Arc<AtomicBool>) -> Vec<JoinHandle<u64>> {
    (0..clients)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = common::connect(addr);
                let deadline = Instant::now() + Duration::from_secs(300);
                let mut done = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    s.write_all(b"GET / HTTP/1.1\r\nHost: load\r\n\r\n")
                        .unwrap();
                    let (head, _) = read_response(&mut s);
                    assert_eq!(status_of(&head), 200);
                    done += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                done
            })
        })
        .collect()
}

/// The rate shown as `1,234/s` (or `0.50/s`), as a number.
fn rate(text: &str) -> f64 {
    text.trim_end_matches("/s")
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("a rate like 1,234/s: {text:?}"))
}

#[test]
fn dashboard_in_headless_chromium_shows_lanes_that_update() {
    if !installed("chromium") || !installed("chromedriver") {
        eprintln!(
            "SKIPPED dashboard_in_headless_chromium_shows_lanes_that_update: chromium and \
             chromedriver are not installed (apt-get install chromium chromium-driver; .ci/run \
             installs them)"
        );
        return;
    }
    let demo = Demo::start(&["--no-access-log"]);
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(demo.addr, 2, stop.clone());

    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp")
        .to_path_buf();
    let shot = target.join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/dashboard_webdriver.py"
    ))
    .arg(demo.url("/debug/runtime"))
    .arg("2")
    .arg(&shot)
    .arg("--dump")
    .arg(demo.url("/dump?ms=200"));
    let (code, out, err) = run_to_end(cmd, Duration::from_secs(300));
    stop.store(true, Ordering::SeqCst);
    let served: u64 = load.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(code, Some(0), "the WebDriver script failed:\n{out}\n{err}");
    println!("{out}");

    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let read = |n: u64| {
        lines
            .iter()
            .find(|v| v["read"] == n)
            .unwrap_or_else(|| panic!("read {n} in {out}"))
    };
    let (first, second) = (read(1), read(2));
    // 1. One lane per worker, numbered 0 and 1.
    for r in [first, second] {
        let workers: Vec<u64> = r["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["worker"].as_u64().unwrap())
            .collect();
        assert_eq!(workers, [0, 1], "{r}");
    }
    // 2. The lanes update: the polls they show moved between the two reads, under load.
    let polls = |r: &serde_json::Value| -> u64 {
        r["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["polls"].as_u64().unwrap())
            .sum()
    };
    assert!(polls(second) > polls(first), "{first}\n{second}");
    assert!(second["snapshots"].as_u64() > first["snapshots"].as_u64());
    // 3. The HTTP panel shows a request rate above zero while the load runs.
    assert_eq!(second["http_na"], false, "{second}");
    let rps = rate(second["http_rps"].as_str().expect("a req/s value"));
    assert!(
        rps > 0.0,
        "req/s shown while {served} requests were served: {second}"
    );
    // 4. A request that blocks its worker for 200 ms is reported in the long-poll list.
    let after = lines
        .iter()
        .find(|v| v.get("dump_rows").is_some())
        .expect("the long-poll read");
    let rows = after["dump_rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{after}");
    // Columns: worker, task, name, route, spawn site, poll took ("201.3 ms").
    for row in rows {
        let took = row[5].as_str().unwrap();
        let ms: f64 = took.trim_end_matches(" ms").parse().expect(took);
        assert!(ms >= 200.0, "{row}");
        assert_eq!(row[3], "GET /dump", "{row}");
        assert!(row[2].as_str().unwrap().starts_with("conn "), "{row}");
    }
    println!("long-poll rows after /dump?ms=200: {rows:?}");
    // 5. The screenshot is a PNG.
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    assert!(png.len() > 10_000, "a real page, not a blank one");
    println!("screenshot: {}", shot.display());
    drop(demo);
}

/// The snapshot stream, read raw: JSON events every 250 ms with one entry per worker; and a
/// graceful shutdown ends it (the last chunk arrives) instead of waiting for the shutdown
/// timeout, so `shutdown` finds no connection left open.
#[test]
fn snapshot_stream_ends_when_the_server_drains() {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let app = spindle_http::App::new().dashboard("/debug/runtime");
    let server = rt
        .block_on(spindle_http::Server::bind("127.0.0.1:0").start(app))
        .expect("bind 127.0.0.1:0");
    let mut s = common::connect(server.local_addr());
    s.write_all(b"GET /debug/runtime/events HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Two events: the one sent at once and the next, 250 ms later.
    while got.windows(15).filter(|w| w == b"event: snapshot").count() < 2 {
        let n = std::io::Read::read(&mut s, &mut buf).expect("read an event");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(
        text.contains("content-type: text/event-stream\r\n"),
        "{text}"
    );
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    let v: serde_json::Value = serde_json::from_str(data).expect(data);
    assert_eq!(v["workers"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["interval_ms"], 250);
    assert!(v["http"]["requests"].is_u64(), "{v}");
    // The shutdown: the stream ends with the last chunk, and no connection is left.
    let left = rt.block_on(server.shutdown());
    assert_eq!(left, 0, "the dashboard stream ended when the drain began");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut rest).expect("read to the close");
    assert!(
        rest.ends_with(b"0\r\n\r\n"),
        "the body ended with the last chunk"
    );
}

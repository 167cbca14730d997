//! End-to-end: the `spindle-load` binary run as a user runs it, against a real `spindle-demo`
//! process on `127.0.0.1`, its `--json` report parsed and checked for consistency (counts add
//! up, percentiles ordered). No timing is asserted: only counts, which do not depend on the
//! machine's speed.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::{run_to_end, Demo};

/// Longest one `spindle-load` run may take here before the test kills it and fails.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// Runs `spindle-load` with `args`; returns its exit code, stdout and stderr.
fn run_load(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle-load"));
    cmd.args(args);
    run_to_end(cmd, RUN_DEADLINE)
}

/// Runs `spindle-load --json --quiet args...`, expects success, and parses its report.
fn report(args: &[&str]) -> Value {
    let mut all = vec!["--json", "--quiet"];
    all.extend_from_slice(args);
    let (code, out, err) = run_load(&all);
    assert_eq!(code, Some(0), "spindle-load {all:?} failed; stderr:\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

/// Checks what every report must satisfy: the latency percentiles are in order, and the
/// status counts add up to the requests.
fn check_consistent(r: &Value) {
    let lat = &r["latency"];
    let names = ["min", "p50", "p75", "p90", "p99", "p99_9", "p99_99", "max"];
    let values: Vec<f64> = names
        .iter()
        .map(|n| {
            lat[n]
                .as_f64()
                .unwrap_or_else(|| panic!("latency.{n} missing: {r}"))
        })
        .collect();
    assert!(values[0] > 0.0, "a loopback answer takes some time: {r}");
    for (w, n) in values.windows(2).zip(names.windows(2)) {
        assert!(w[0] <= w[1], "{} > {}: {r}", n[0], n[1]);
    }
    let requests = r["requests"].as_u64().unwrap();
    let by_status: u64 = r["status"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_status, requests, "status counts must add up: {r}");
    assert!(r["requests_per_sec"].as_f64().unwrap() > 0.0);
    assert!(r["bytes"].as_u64().unwrap() > 0);
}

#[test]
fn closed_loop_sends_exactly_n_requests() {
    let demo = Demo::start(&[]);
    let root = format!("{}/", demo.url(""));
    let json = format!("{}/json", demo.url(""));
    let r = report(&["-c", "8", "-n", "2000", &root, &json]);
    check_consistent(&r);
    assert_eq!(r["mode"], "closed");
    assert_eq!(r["requests"], 2000, "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    assert_eq!(r["status"]["200"], 2000, "{r}");
    assert!(r["open_loop"].is_null());
}

#[test]
fn pipelined_requests_are_all_answered() {
    let demo = Demo::start(&[]);
    let root = format!("{}/", demo.url(""));
    let r = report(&[
        "-c",
        "4",
        "--pipeline",
        "4",
        "-n",
        "1000",
        "--percentiles",
        &root,
    ]);
    check_consistent(&r);
    assert_eq!(r["pipeline"], 4);
    assert_eq!(r["requests"], 1000, "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    // The spectrum ends at the 100th percentile with the maximum, and counts every answer.
    let spectrum = r["percentiles"]
        .as_array()
        .expect("--percentiles adds the spectrum");
    let last = spectrum.last().unwrap();
    assert_eq!(last["percentile"].as_f64(), Some(100.0));
    let counted: u64 = spectrum.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 1000, "{r}");
}

#[test]
fn open_loop_sends_the_scheduled_requests() {
    let demo = Demo::start(&[]);
    let root = format!("{}/", demo.url(""));
    // 200 requests/s for 2 s: 400 sends are scheduled. A loaded machine may send some late
    // or (past the end) drop some, but every scheduled send is one or the other, and every
    // sent request is answered.
    let r = report(&["-c", "8", "--rate", "200", "-d", "2s", &root]);
    check_consistent(&r);
    assert_eq!(r["mode"], "open");
    let open = &r["open_loop"];
    assert_eq!(open["scheduled"], 400, "{r}");
    let sent = open["sent"].as_u64().unwrap();
    let dropped = open["dropped"].as_u64().unwrap();
    assert_eq!(sent + dropped, 400, "{r}");
    assert!(sent >= 200, "most of the schedule should go out: {r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    assert_eq!(r["requests"].as_u64().unwrap(), sent, "{r}");
    // With `-n` the schedule is exactly n long.
    let r = report(&["-c", "2", "--rate", "500", "-n", "300", &root]);
    assert_eq!(r["open_loop"]["scheduled"], 300, "{r}");
    let open = &r["open_loop"];
    assert_eq!(
        open["sent"].as_u64().unwrap() + open["dropped"].as_u64().unwrap(),
        300,
        "{r}"
    );
}

#[test]
fn post_with_a_body_file_and_headers() {
    let demo = Demo::start(&[]);
    let echo = format!("{}/echo", demo.url(""));
    let body = std::env::temp_dir().join(format!("spindle-load-body-{}", std::process::id()));
    std::fs::write(&body, b"hello from spindle-load").unwrap();
    let r = report(&[
        "-c",
        "2",
        "-n",
        "50",
        "-m",
        "POST",
        "-H",
        "x-test: 1",
        "--body-file",
        body.to_str().unwrap(),
        &echo,
    ]);
    let _ = std::fs::remove_file(&body);
    check_consistent(&r);
    assert_eq!(r["status"]["200"], 50, "{r}");
}

#[test]
fn bad_urls_and_flags_fail_clearly() {
    for (args, expect) in [
        (vec!["-n", "1", "https://127.0.0.1:1/"], "https"),
        (vec!["-n", "1", "not-a-url"], "bad URL"),
        (
            vec!["-n", "1", "-d", "4parsecs", "http://127.0.0.1:1/"],
            "unit",
        ),
    ] {
        let (code, _, err) = run_load(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expect),
            "{args:?} should mention {expect:?}: {err}"
        );
    }
    // A port nobody listens on: refused before the run starts, with the reason.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let (code, _, err) = run_load(&["-n", "1", &format!("http://{addr}/")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
}

/// A raw server on `127.0.0.1:0` that answers each connection's first request head with
/// `reply` and then closes, for as long as the test runs.
fn raw_server(reply: &'static [u8]) -> String {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            // The connection-check probe of spindle-load sends nothing: skip it.
            if head.is_empty() {
                continue;
            }
            let _ = stream.write_all(reply);
        }
    });
    format!("http://{addr}/")
}

#[test]
fn a_server_that_closes_after_each_answer_is_reconnected_to() {
    let url = raw_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let r = report(&["-c", "2", "-n", "30", &url]);
    check_consistent(&r);
    assert_eq!(r["requests"], 30, "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
}

#[test]
fn unparsable_answers_are_parse_errors_and_exit_1() {
    let url = raw_server(b"SPDY/9 200 whatever\r\n\r\n");
    let (code, out, err) = run_load(&["--json", "--quiet", "-c", "2", "-n", "10", &url]);
    assert_eq!(code, Some(1), "nothing was answered: {err}");
    assert!(err.contains("no request was answered"), "{err}");
    let r: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(r["requests"], 0, "{r}");
    assert_eq!(r["errors"]["parse"], 10, "{r}");
    assert_eq!(r["errors"]["total"], 10, "{r}");
}

/// `--warmup` sends requests before the run and leaves them out of its counts: the demo's
/// access log (one line per request it answered) holds the warm-up's answers plus the run's
/// exactly, the JSON reports the warm-up's count, and `requests` is only the run's `-n`.
#[test]
fn warmup_requests_are_sent_but_not_counted() {
    let demo = Demo::start(&[]);
    let url = demo.url("/users/warm");
    let r = report(&["-c", "4", "-n", "300", "--warmup", "1s", &url]);
    check_consistent(&r);
    assert_eq!(r["requests"], 300, "{r}");
    assert_eq!(r["errors"]["total"], 0, "{r}");
    let warm = r["warmup"]["requests"]
        .as_u64()
        .unwrap_or_else(|| panic!("the JSON reports the warm-up: {r}"));
    assert!(
        warm > 0,
        "a 1 s warm-up on loopback answers some requests: {r}"
    );
    assert!(r["warmup"]["duration_secs"].as_f64().unwrap() >= 1.0, "{r}");
    // The access log is written as each answer goes out; wait (bounded) until it has them all.
    let logged = || {
        demo.stdout
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("\"GET /users/warm HTTP/1.1\" 200 "))
            .count() as u64
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while logged() < warm + 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        logged(),
        warm + 300,
        "the server saw the warm-up and the run: {r}"
    );
    // Without --warmup the field is null.
    let r = report(&["-c", "1", "-n", "5", &url]);
    assert!(r["warmup"].is_null(), "{r}");
}

//! End-to-end: the `spindle-stress` binary. It is run as a user runs it, against the demo it
//! starts itself and against a deliberately broken server, and its table and exit code are
//! checked. Its timing goals are not asserted here (a benchmark is not a test): the two
//! scenarios run against the demo are judged on correctness (no error, no cut response).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::run_to_end;

/// Longest a `spindle-stress` run may take here before the test kills it and fails.
const RUN_DEADLINE: Duration = Duration::from_secs(180);

/// Runs `spindle-stress` with `args`; returns its exit code and stdout (its stderr is echoed,
/// for a failing run's story).
fn run_stress(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle-stress"));
    cmd.args(args);
    let (code, out, err) = run_to_end(cmd, RUN_DEADLINE);
    eprint!("{err}");
    (code, out)
}

/// The table's rows as (scenario, goal, measured, result), after checking its shape: the
/// header, the separator, then rows of exactly four non-empty cells, then a summary line.
fn table_rows(out: &str) -> Vec<[String; 4]> {
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("| scenario | goal | measured | result |"),
        "{out}"
    );
    assert_eq!(lines.next(), Some("|---|---|---|---|"), "{out}");
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        assert!(line.starts_with("| ") && line.ends_with(" |"), "{line}");
        let cells: Vec<String> = line[2..line.len() - 2]
            .split(" | ")
            .map(str::to_string)
            .collect();
        assert_eq!(cells.len(), 4, "a row has four cells: {line}");
        assert!(cells.iter().all(|c| !c.trim().is_empty()), "{line}");
        assert!(
            ["PASS", "FAIL", "n/a"].contains(&cells[3].as_str()),
            "{line}"
        );
        rows.push([
            cells[0].clone(),
            cells[1].clone(),
            cells[2].clone(),
            cells[3].clone(),
        ]);
    }
    let summary = lines.next().unwrap_or("");
    assert!(
        summary.contains("passed,") && summary.contains("failed"),
        "{out}"
    );
    rows
}

/// Against the demo it starts itself, two scenarios judged on correctness (the short soak:
/// every answer right, its RSS only reported; shutdown under load: no response cut) print one
/// PASS row each, in order, and the exit code is 0.
#[test]
fn suite_against_the_demo_prints_a_row_per_scenario() {
    let (code, out) = run_stress(&["--profile", "short", "--only", "shutdown,soak"]);
    let rows = table_rows(&out);
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["soak", "shutdown"], "{out}");
    for row in &rows {
        assert_eq!(row[3], "PASS", "{out}");
    }
    assert!(out.contains("0 cut mid-response"), "{out}");
    assert_eq!(code, Some(0), "{out}");
}

/// A server that never closes a slowloris client (no header deadline) is reported: the
/// slowloris row says FAIL, counts the clients still open, and the exit code is 1.
#[test]
fn a_server_without_a_header_deadline_fails_slowloris() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve_without_deadline(stream));
        }
    });
    let url = format!("http://{addr}");
    let (code, out) = run_stress(&[
        "--url",
        &url,
        "--profile",
        "short",
        "--only",
        "slowloris",
        "--header-timeout-ms",
        "1000",
    ]);
    let rows = table_rows(&out);
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0][0], "slowloris");
    assert_eq!(rows[0][3], "FAIL", "{out}");
    assert!(rows[0][2].starts_with("0/200 got 408"), "{out}");
    assert!(rows[0][2].contains("still open 200"), "{out}");
    assert_eq!(code, Some(1), "{out}");
}

/// The broken server: answers each complete `GET` head with a keep-alive "Hello, World!", and
/// waits for an incomplete head for as long as the client likes.
fn serve_without_deadline(mut stream: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello, World!";
            if stream.write_all(reply).is_err() {
                return;
            }
        }
    }
}

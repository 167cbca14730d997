//! Each seed example run in a reduced form (a short flag, its output shape checked, then
//! stopped), the orders service's cancel race over real sockets, and the demo's `--processes`
//! supervisor (restart after a crash, drain on SIGTERM).
//!
//! The examples are separate binaries: [`example`] builds one with the same cargo and profile as
//! this test (a no-op when `cargo test` has already built it) and returns its path. Every wait
//! has a deadline; no assertion depends on how fast anything runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

/// Longest wait for any one expected output line.
const LINE_DEADLINE: Duration = Duration::from_secs(60);

/// Builds example `name` (same profile as this test) and returns its path.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    // target/<profile>/deps/examples-HASH -> target/<profile>
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--example", name]);
    if profile_dir.ends_with("release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build --example {name} failed");
    profile_dir.join("examples").join(name)
}

/// Runs example `name` with `args` to completion (bounded by a deadline) and returns its output.
fn run_example(name: &str, args: &[&str]) -> Output {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start example");
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    let waiter = std::thread::spawn(move || {
        let out = child_output(&mut child);
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(Duration::from_secs(120)).is_err() {
        // SAFETY: kill(2) with our own child's pid; no memory is passed.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        let out = waiter.join().expect("waiter thread");
        panic!(
            "example {name} {args:?} did not finish within 120 s; its output so far:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    waiter.join().expect("waiter thread")
}

fn child_output(child: &mut Child) -> Output {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_end(&mut stderr);
    }
    let status = child.wait().expect("wait for example");
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A long-running process whose stdout lines arrive on a channel; killed on drop.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line seen so far, for failure messages.
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start process");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `pick`; returns what `pick` made of it.
    fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            match self.lines.recv_timeout(LINE_DEADLINE) {
                Ok(line) => {
                    let found = pick(&line);
                    self.seen.push(line);
                    if let Some(v) = found {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "no line {what} within {LINE_DEADLINE:?}; saw {:#?}",
                    self.seen
                ),
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) with our own child's pid; no memory is passed.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

/// Sends one request with `connection: close` over a fresh socket; returns status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read response");
    let status = raw.get(9..12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Whether process `pid` still exists (zombies count as gone: the supervisor reaps them).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// server_models, reduced: every model answers an exact request count (no timing), one row each.
#[test]
fn server_models_prints_one_row_per_model_and_load() {
    let out = run_example(
        "server_models",
        &[
            "--requests",
            "5",
            "--conns",
            "1,4",
            "--ms",
            "0,5",
            "--processes",
            "2",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let header = stdout.lines().nth(1).expect("header line");
    for col in [
        "model", "conns", "io_ms", "req/s", "p99", "RSS_MiB", "threads", "procs", "cs/req",
    ] {
        assert!(header.contains(col), "header lacks {col}: {header}");
    }
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .skip(2)
        .filter(|l| !l.starts_with("load average"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    let models = [
        "fork",
        "thread",
        "pool",
        "spindle",
        "spindle-x2",
        "spindle-mt2",
    ];
    assert_eq!(rows.len(), models.len() * 4, "{stdout}");
    for model in models {
        let mine: Vec<_> = rows.iter().filter(|r| r[0] == model).collect();
        assert_eq!(mine.len(), 4, "rows for {model}: {stdout}");
        for r in mine {
            assert_eq!(r.len(), 11, "a row has 11 columns, no errors: {r:?}");
            assert_eq!(r[5], "0", "no starved connection in count mode: {r:?}");
            let procs: u64 = r[9].parse().expect("procs");
            let threads: u64 = r[8].parse().expect("threads");
            match model {
                // The fork server: itself plus one child per open connection.
                "fork" => assert_eq!(procs, 1 + r[1].parse::<u64>().unwrap(), "{r:?}"),
                // The leader plus two SO_REUSEPORT workers.
                "spindle-x2" => assert_eq!(procs, 3, "{r:?}"),
                _ => assert_eq!(procs, 1, "{r:?}"),
            }
            // The thread-per-connection server: the accept thread plus one per connection.
            if model == "thread" {
                assert_eq!(threads, 1 + r[1].parse::<u64>().unwrap(), "{r:?}");
            }
        }
    }
}

/// orders, reduced: the safe default books exactly one refund per order.
#[test]
fn orders_demo_books_one_refund_per_order() {
    let out = run_example("orders", &["--orders", "3", "--cancels", "5"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("cancel answers: 3 × 200 refunded, 12 × 409 already cancelled, 0 other"),
        "{stdout}"
    );
    assert!(stdout.contains("refunds per order: [1, 1, 1]"), "{stdout}");
    assert!(
        stdout.contains("result: exactly one refund per order"),
        "{stdout}"
    );
}

/// orders --racy, reduced: it runs and reports; how many double refunds it shows is up to the
/// scheduler, so only the output's shape is checked.
#[test]
fn orders_racy_demo_reports_refunds() {
    let out = run_example("orders", &["--racy", "--orders", "2", "--cancels", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("(racy: check and update split across an .await)"),
        "{stdout}"
    );
    assert!(stdout.contains("refunds per order: ["), "{stdout}");
    assert!(stdout.contains("result: "), "{stdout}");
}

/// The orders service over real sockets: 50 concurrent cancels of one order (each on its own
/// connection, released together by a barrier) give exactly one 200 and one refund row.
#[test]
fn fifty_concurrent_cancels_give_one_refund() {
    let mut cmd = Command::new(example("orders"));
    cmd.args(["--serve", "--port", "0"]);
    let mut server = Running::start(cmd);
    let addr: SocketAddr = server.wait_for("with the address", |l| {
        l.strip_prefix("orders service listening on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
    });

    // A real client creates the order.
    let created = Command::new("curl")
        .args(["-s", "-X", "POST", "-d", r#"{"amount": 250}"#])
        .arg(format!("http://{addr}/orders"))
        .output()
        .expect("run curl");
    let created = String::from_utf8_lossy(&created.stdout).into_owned();
    assert!(created.contains(r#""status":"paid""#), "{created}");
    let id = created
        .split(r#""id":"#)
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .expect("id in the answer")
        .to_string();

    let barrier = Arc::new(Barrier::new(50));
    let cancels: Vec<_> = (0..50)
        .map(|_| {
            let (barrier, path) = (barrier.clone(), format!("/orders/{id}/cancel"));
            std::thread::spawn(move || {
                barrier.wait();
                http(addr, "POST", &path, "").0
            })
        })
        .collect();
    let statuses: Vec<u16> = cancels.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        49,
        "{statuses:?}"
    );

    let (status, body) = http(addr, "GET", &format!("/orders/{id}"), "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""refunds":1"#), "{body}");
    assert!(body.contains(r#""status":"cancelled""#), "{body}");

    // Bad input gets a precise answer.
    assert_eq!(http(addr, "POST", "/orders", "{\"amount\": -5}").0, 422);
    assert_eq!(http(addr, "POST", "/orders", "not json").0, 422);
    assert_eq!(http(addr, "GET", "/orders/999999", "").0, 404);
    assert_eq!(http(addr, "POST", "/orders/abc/cancel", "").0, 400);

    server.signal(libc::SIGTERM);
    assert!(server.child.wait().unwrap().success());
}

/// `spindle-demo --processes 2`: both children serve one port; a child killed with SIGKILL is
/// restarted; SIGTERM to the supervisor drains every child and exits 0.
#[test]
fn processes_supervisor_restarts_a_crashed_child_and_drains_on_sigterm() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle-demo"));
    cmd.args(["--processes", "2", "--port", "0", "--no-access-log"]);
    let mut sup = Running::start(cmd);
    let (port, pids): (u16, Vec<u32>) = sup.wait_for("with the supervisor banner", |l| {
        let rest = l.split_once("processes listening on port ")?.1;
        let (port, pids) = rest.split_once(", pids ")?;
        let pids = pids
            .trim_matches(['[', ']'])
            .split(", ")
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        Some((port.parse().ok()?, pids))
    });
    assert_eq!(pids.len(), 2);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(
        http(addr, "GET", "/", ""),
        (200, "Hello, World!".to_string())
    );

    // Crash one child; the supervisor restarts it on the same port.
    // SAFETY: kill(2) with a pid the supervisor reported as its child; no memory is passed.
    unsafe { libc::kill(pids[0] as libc::pid_t, libc::SIGKILL) };
    let new_pid: u32 = sup.wait_for("saying the child was restarted", |l| {
        l.strip_prefix("spindle supervisor: restarted as pid ")?
            .trim()
            .parse()
            .ok()
    });
    assert!(!pids.contains(&new_pid));
    for _ in 0..4 {
        assert_eq!(http(addr, "GET", "/", "").0, 200);
    }

    // SIGTERM drains all and the supervisor exits 0, its children gone.
    sup.signal(libc::SIGTERM);
    sup.wait_for("saying all processes drained", |l| {
        (l == "spindle supervisor: all processes drained").then_some(())
    });
    assert!(sup.child.wait().unwrap().success());
    for pid in [pids[1], new_pid] {
        assert!(!alive(pid), "child {pid} outlived the supervisor");
    }
}

/// async_styles, reduced (a 1 ms echo delay): the four styles report in order, and the error
/// reaches the caller only in the polling, callback and await styles.
#[test]
fn async_styles_reports_four_styles() {
    let out = run_example("async_styles", &["--delay-ms", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(lines[1].starts_with("1. fire-and-forget:") && lines[1].contains("server saw 2 calls"));
    assert!(lines[1].contains("error: lost"), "{stdout}");
    assert!(
        lines[2].starts_with("2. polling") && lines[2].contains("done \"HELLO\""),
        "{stdout}"
    );
    assert!(lines[2].contains("failed (the server closed"), "{stdout}");
    assert!(lines[3].starts_with("3. callback:"), "{stdout}");
    assert!(
        lines[3].contains(r#"Ok(("HELLO", "HELLO AGAIN"))"#),
        "{stdout}"
    );
    assert!(lines[4].starts_with("4. await:"), "{stdout}");
    assert!(lines[4].contains(r#"("HELLO", "HELLO AGAIN")"#), "{stdout}");
    assert!(
        lines[4].contains("error returned to the caller: Err("),
        "{stdout}"
    );
}

/// hand_off, one round per mode: a line for each mode, the ticks counted, and every long-poll
/// report names the blocking task and its spawn site. (How many ticks come, and whether the
/// detector's monitor got a CPU in time to report, depend on the machine: not asserted.)
#[test]
fn hand_off_prints_both_modes_and_names_the_blocker() {
    let out = run_example("hand_off", &["--rounds", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for mode in ["without hand-off round 1:", "with hand-off    round 1:"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(mode))
            .unwrap_or_else(|| panic!("no line for {mode:?}:\n{stdout}"));
        assert!(line.contains("ticks during the block"), "{line}");
        assert!(line.contains("long polls reported:"), "{line}");
    }
    for report in stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("report: "))
    {
        assert!(
            report.contains("\"time.sleep inside async def\" (spawned at examples/hand_off.rs:"),
            "{report}"
        );
    }
}

/// generators: both doh()s yield the same three values, doh2() answers each send, and both
/// futures suspend twice, are woken twice and return 42.
#[test]
fn generators_show_each_suspension() {
    let out = run_example("generators", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(
        r#"as an iterator from a closure: ["D'oh!", "D'oh! D'oh!", "D'oh! D'oh! D'oh!"]"#
    ));
    assert!(
        stdout.contains("D'oh! D'oh! D'oh! (now suspended at AfterThird);"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"g.send("lisa") -> yielded "D'oh, lisa!""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"g.send("homer") -> returned ["bart", "lisa"]"#),
        "{stdout}"
    );
    for label in ["async fn", "hand-written enum"] {
        assert_eq!(
            stdout.matches(&format!("{label}: poll ")).count(),
            3,
            "{label} is polled three times: {stdout}"
        );
        assert!(stdout.contains(&format!("{label}: poll 3 -> Ready(42) (wakes so far: 2)")));
    }
}

/// docs/coroutines.md quotes `add_two_values` from examples/generators.rs word for word.
#[test]
fn coroutines_doc_quotes_the_async_fn() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("examples/generators.rs")).unwrap();
    let doc = std::fs::read_to_string(root.join("docs/coroutines.md")).unwrap();
    let start = example
        .find("async fn add_two_values")
        .expect("the example has it");
    let end = start + example[start..].find("\n}\n").expect("it ends") + 2;
    assert!(
        doc.contains(&example[start..end]),
        "docs/coroutines.md no longer matches add_two_values in examples/generators.rs"
    );
}

/// Every row of docs/README.md's seed map has a command that runs, and every example it names
/// exists.
#[test]
fn seed_map_rows_each_name_something_that_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/README.md")).unwrap();
    let map = doc
        .split("## The seed map")
        .nth(1)
        .expect("a seed map section");
    let rows: Vec<&str> = map
        .lines()
        .filter(|l| l.starts_with("| "))
        .skip(1)
        .collect();
    assert!(rows.len() >= 15, "{rows:#?}");
    for row in rows {
        let run = row.trim_end_matches('|').rsplit('|').next().unwrap();
        assert!(
            run.contains("`cargo run --release"),
            "row without a command: {row}"
        );
        for part in run.split("--example ").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            assert!(
                root.join("examples").join(format!("{name}.rs")).exists(),
                "the seed map names a missing example {name}: {row}"
            );
        }
    }
}

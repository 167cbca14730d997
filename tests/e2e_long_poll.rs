//! End-to-end: the demo's three sleeps side by side (the seed notes' lesson). `GET /dump`
//! (`time.sleep` inside `async def`) blocks a worker, and the runtime's long-poll detector
//! prints a report naming the route on the demo's stderr, then the poll's total when it
//! returns; `GET /normal` (the blocking pool) and `GET /async-sleep` (a timer) sleep just as
//! long and are never reported.
//!
//! The demo runs as a real process on a free loopback port with its stderr piped here; the
//! requests come from curl and from raw bytes on a socket.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{connect, curl, read_response, status_of};

/// The demo with its stdout and stderr captured line by line. Killed on drop.
struct Demo {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Demo {
    fn start() -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spindle-demo"))
            .args(["--port", "0", "--workers", "2", "--no-access-log"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start spindle-demo");
        let (addr_tx, addr_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("spindle demo listening on http://") {
                    let _ = addr_tx.send(rest.trim().parse::<SocketAddr>().expect("address"));
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the demo printed its banner within 30 s");
        Demo {
            child,
            addr,
            stderr,
        }
    }

    /// The long-poll report lines printed so far.
    fn long_poll_lines(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("spindle::runtime: task "))
            .cloned()
            .collect()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` with curl; returns the body.
fn get(demo: &Demo, path: &str) -> String {
    let url = format!("http://{}{}", demo.addr, path);
    let (body, err) = curl(&[&url]);
    assert!(err.is_empty(), "curl {url}: {err}");
    body
}

/// `/normal` and `/async-sleep` sleep 200 ms each without a report; `/dump?ms=200` is reported
/// once with its route, and its end with a total of at least 200 ms.
#[test]
fn only_the_blocking_call_in_async_code_is_reported() {
    let demo = Demo::start();
    // 1. The two right ways to wait, with curl and with raw bytes.
    assert_eq!(
        get(&demo, "/normal?ms=200"),
        "blocked a pool thread for 200 ms\n"
    );
    assert_eq!(
        get(&demo, "/async-sleep?ms=200"),
        "slept 200 ms on a timer\n"
    );
    let mut s = connect(demo.addr);
    s.write_all(b"GET /async-sleep?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut s);
    assert_eq!(status_of(&head), 200);
    assert_eq!(body, b"slept 200 ms on a timer\n");
    // The detector looks every 5 ms: a report of either would have been printed by now.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(demo.long_poll_lines(), Vec::<String>::new());

    // 2. The wrong way.
    assert_eq!(get(&demo, "/dump?ms=200"), "blocked a worker for 200 ms\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = demo.long_poll_lines();
    while lines.len() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        lines = demo.long_poll_lines();
    }
    assert_eq!(lines.len(), 2, "found, then returned: {lines:#?}");
    assert!(lines[0].contains("route GET /dump)"), "{}", lines[0]);
    assert!(lines[0].contains("(spawned at "), "{}", lines[0]);
    assert!(lines[0].contains("so far"), "{}", lines[0]);
    assert!(lines[1].contains("route GET /dump)"), "{}", lines[1]);
    let total_ms: f64 = lines[1]
        .rsplit("returned after ")
        .next()
        .and_then(|t| t.strip_suffix(" ms"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a total in {}", lines[1]));
    assert!(total_ms >= 200.0, "{}", lines[1]);
}

//! The libraries print nothing themselves: they report through `spindle::report`'s hook, and the
//! demo installs the stderr printer. Both halves are checked with a real signal:
//!
//! - in this process, a `spindle_http::Server` that receives SIGTERM hands a `ShutdownSignal`
//!   report to the hook this test installed, and shuts down;
//! - the demo binary, sent SIGTERM, writes that report as one line on its stderr.
//!
//! The first test sends SIGTERM to this very test process, which is safe only because the server
//! has installed its handler by the time `on_ready` runs (`serve_with` waits for the signal
//! stream before it binds).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use spindle::report::{self, Kind, Report};
use spindle_http::{App, Request, Server};

/// SIGTERM reaches a serving `Server`: the hook sees exactly one `ShutdownSignal` report from
/// `spindle_http::server` naming the signal, and `serve_with` returns.
#[test]
fn server_reports_the_shutdown_signal_to_the_hook() {
    let reports = Arc::new(Mutex::new(Vec::<(Kind, &'static str, String)>::new()));
    let sink = reports.clone();
    report::set_hook(move |r: &Report<'_>| {
        sink.lock()
            .unwrap()
            .push((r.kind(), r.source(), r.message().to_string()))
    });

    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let app = App::new().get("/", |_req: Request| async { "hi" });
        let result = Server::bind("127.0.0.1:0")
            .workers(1)
            .serve_with(app, |_addr| {
                // SAFETY: kill(2) with our own pid and a valid signal number has no memory effects;
                // the server's SIGTERM handler is installed (see the file's doc).
                let rc = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
            });
        let _ = done_tx.send(result.map_err(|e| e.to_string()));
    });
    let result = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server shut down within 30 s of SIGTERM");
    assert_eq!(result, Ok(()));

    let seen: Vec<_> = reports
        .lock()
        .unwrap()
        .iter()
        .filter(|(kind, _, _)| *kind == Kind::ShutdownSignal)
        .cloned()
        .collect();
    assert_eq!(seen.len(), 1, "shutdown reports: {seen:?}");
    assert_eq!(seen[0].1, "spindle_http::server");
    assert!(seen[0].2.contains("Terminate"), "{seen:?}");
    report::clear_hook();
}

/// The demo installs `report::stderr`: on SIGTERM its stderr carries the server's report as
/// `spindle_http::server: received Terminate: shutting down gracefully`.
#[test]
fn demo_prints_reports_on_stderr() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spindle-demo"))
        .args(["--port", "0", "--workers", "1", "--drain-delay-ms", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start spindle-demo");
    // Wait for the banner: by then the signal handler is installed.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut seen = Vec::new();
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(9).any(|w| w == b"listening") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the demo printed its banner within 30 s");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());

    let mut stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let text = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the demo did not exit within 30 s of SIGTERM")
        });
    let _ = child.wait();
    assert!(
        text.lines()
            .any(|l| l == "spindle_http::server: received Terminate: shutting down gracefully"),
        "stderr was: {text:?}"
    );
}

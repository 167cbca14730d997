//! `--processes N`: the demo as N processes sharing one port, supervised by the first process,
//! as `uvicorn --workers N` (or Gunicorn) runs Python servers.
//!
//! The supervisor serves nothing itself. It starts N copies of this binary (with the same flags,
//! minus `--processes`, and the environment variable [`CHILD_ENV`] set), each of which binds the
//! port with SO_REUSEPORT so that the kernel spreads new connections over their listeners. The
//! first child binds the requested port (0: any free port) and its banner tells the supervisor
//! which port that was; the others join it. Then the supervisor watches:
//!
//! - a child that dies of a signal or exits with a failure is restarted on the same port
//!   (its connections are lost; its siblings keep serving);
//! - a child that exits with status 0 stopped on purpose (it got SIGINT/SIGTERM itself) and is
//!   not restarted;
//! - SIGTERM or SIGINT to the supervisor is passed to every child as SIGTERM; each drains (finishes
//!   in-flight requests, closes idle connections) and the supervisor exits once all are gone.
//!
//! Children die with the supervisor: each asks the kernel (`PR_SET_PDEATHSIG`) for a SIGTERM
//! when its parent goes, so a killed supervisor leaves no orphans serving the port.

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Set in a child's environment by the supervisor; its presence makes the demo bind with
/// SO_REUSEPORT.
pub const CHILD_ENV: &str = "SPINDLE_DEMO_CHILD";

/// A child that fails this soon after starting counts as a quick failure.
const QUICK_FAILURE: Duration = Duration::from_secs(1);
/// How long a child may take to bind and print its banner.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// After this many quick failures in a row the supervisor gives up (a wrong flag, a taken port).
const MAX_QUICK_FAILURES: u32 = 5;

/// Whether this process is a supervised child. If so, it also asks for SIGTERM when the
/// supervisor dies, so it drains and exits instead of living on as an orphan.
pub fn is_child() -> bool {
    if std::env::var_os(CHILD_ENV).is_none() {
        return false;
    }
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and reads no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    true
}

/// Runs the supervisor for `n` children on `port`; returns the process exit code.
/// `forwarded` are the flags every child gets besides `--port`.
pub fn supervise(n: usize, port: u16, forwarded: Vec<String>) -> i32 {
    match Supervisor::start(n, port, forwarded) {
        Ok(mut s) => s.watch(),
        Err(e) => {
            eprintln!("spindle supervisor: {e}");
            1
        }
    }
}

/// The demo's own arguments without `--processes N` and `--port P` (the supervisor passes the
/// port itself).
pub fn forwarded_args() -> Vec<String> {
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--processes" || a == "--port" {
            it.next();
        } else {
            out.push(a);
        }
    }
    out
}

/// One running child.
#[derive(Debug)]
struct Worker {
    /// The process.
    child: Child,
    /// When it started, to tell a crash loop from an occasional crash.
    started: Instant,
}

/// The supervisor's state.
#[derive(Debug)]
struct Supervisor {
    /// The children; a slot is `None` once its child stopped on purpose.
    workers: Vec<Option<Worker>>,
    /// The shared port, known once the first child has bound it.
    port: u16,
    /// The flags each child gets.
    forwarded: Vec<String>,
    /// Set by the signal thread when SIGTERM or SIGINT arrives.
    stop: Arc<AtomicBool>,
}

impl Supervisor {
    /// Installs the signal handlers, then starts the children one by one.
    fn start(n: usize, port: u16, forwarded: Vec<String>) -> io::Result<Supervisor> {
        let stop = Arc::new(AtomicBool::new(false));
        let signal = spindle::signal::shutdown_signal()?;
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("supervisor-signal".into())
            .spawn(move || {
                if let Ok(rt) = spindle::Builder::new_current_thread().build() {
                    let sig = rt.block_on(signal);
                    eprintln!("spindle supervisor: received {sig:?}, draining all processes");
                }
                flag.store(true, Ordering::SeqCst);
            })?;
        let mut s = Supervisor {
            workers: Vec::with_capacity(n),
            port,
            forwarded,
            stop,
        };
        for _ in 0..n {
            let (worker, bound) = s.spawn()?;
            // The first child may have been given port 0: the rest must join the port it got.
            s.port = bound;
            s.workers.push(Some(worker));
        }
        let pids: Vec<u32> = s.workers.iter().flatten().map(|w| w.child.id()).collect();
        println!(
            "spindle supervisor (pid {}): {n} processes listening on port {}, pids {pids:?}",
            std::process::id(),
            s.port
        );
        Ok(s)
    }

    /// Starts one child on `self.port` and waits for its banner; returns it and the bound port.
    /// Its output is passed on, each line prefixed with its pid.
    fn spawn(&self) -> io::Result<(Worker, u16)> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(&self.forwarded)
            .args(["--port", &self.port.to_string()])
            .env(CHILD_ENV, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let pid = child.id();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("[pid {pid}] {line}");
                let port = line
                    .strip_prefix("spindle demo listening on http://")
                    .and_then(|addr| addr.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok());
                if let Some(port) = port {
                    let _ = tx.send(port);
                }
            }
        });
        // The child either prints its banner, or exits (and the channel closes), or hangs.
        match rx.recv_timeout(START_DEADLINE) {
            Ok(port) => Ok((
                Worker {
                    child,
                    started: Instant::now(),
                },
                port,
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait()?;
                Err(io::Error::other(format!(
                    "child {pid} exited before serving: {status}"
                )))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "child {pid} did not start serving in time"
                )))
            }
        }
    }

    /// Restarts crashed children until a signal arrives or all children stopped; then drains.
    fn watch(&mut self) -> i32 {
        let mut quick_failures = 0;
        loop {
            // 1. A signal: pass it on and drain.
            if self.stop.load(Ordering::SeqCst) {
                return self.drain();
            }
            // 2. Look at each child; restart the ones that crashed.
            for i in 0..self.workers.len() {
                let Some(w) = &mut self.workers[i] else {
                    continue;
                };
                let status = match w.child.try_wait() {
                    Ok(Some(status)) => status,
                    Ok(None) | Err(_) => continue,
                };
                let pid = w.child.id();
                let lived = w.started.elapsed();
                if status.success() || self.stop.load(Ordering::SeqCst) {
                    println!("spindle supervisor: pid {pid} stopped ({status})");
                    self.workers[i] = None;
                    continue;
                }
                quick_failures = if lived < QUICK_FAILURE {
                    quick_failures + 1
                } else {
                    0
                };
                if quick_failures > MAX_QUICK_FAILURES {
                    eprintln!("spindle supervisor: children keep failing at start; giving up");
                    self.workers[i] = None;
                    self.drain();
                    return 1;
                }
                println!(
                    "spindle supervisor: pid {pid} crashed ({}); restarting",
                    describe(status)
                );
                match self.spawn() {
                    Ok((new, _)) => {
                        println!("spindle supervisor: restarted as pid {}", new.child.id());
                        self.workers[i] = Some(new);
                    }
                    Err(e) => {
                        eprintln!("spindle supervisor: restart failed: {e}");
                        self.workers[i] = None;
                    }
                }
            }
            // 3. Nothing left to supervise (every child stopped on purpose).
            if self.workers.iter().all(Option::is_none) {
                return 0;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM to every child, then wait for all: each finishes its in-flight requests first.
    fn drain(&mut self) -> i32 {
        for w in self.workers.iter().flatten() {
            // SAFETY: kill(2) sends a signal to our own child's pid; no memory is passed.
            unsafe { libc::kill(w.child.id() as libc::pid_t, libc::SIGTERM) };
        }
        let mut code = 0;
        for w in self.workers.iter_mut().flatten() {
            match w.child.wait() {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    eprintln!(
                        "spindle supervisor: pid {} ended with {status}",
                        w.child.id()
                    );
                    code = 1;
                }
                Err(_) => code = 1,
            }
        }
        println!("spindle supervisor: all processes drained");
        code
    }
}

/// "signal 9" or "exit status 3".
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(sig) => format!("killed by signal {sig}"),
        None => status.to_string(),
    }
}

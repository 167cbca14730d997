//! The server under test: either a demo process this suite starts (so it can read the
//! server's RSS and CPU time from `/proc`, set its `ulimit -n`, and send it SIGTERM), or any
//! server named by `--url` (then those measurements are "n/a").
//!
//! A started demo is always stopped when its [`Target`] drops: SIGTERM, a bounded wait, then
//! SIGKILL, so no scenario leaves a process behind.

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a started demo may take to print its banner.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// How long a stopped demo may take to exit after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(15);

/// How to start the demo for one scenario.
#[derive(Debug, Default, Clone)]
pub struct DemoOptions {
    /// `--header-timeout-ms`.
    pub header_timeout_ms: Option<u64>,
    /// `--max-connections`.
    pub max_connections: Option<usize>,
    /// RLIMIT_NOFILE of the demo process (its `ulimit -n`).
    pub nofile: Option<u64>,
}

/// Where requests go, and (for a started demo) the process behind it.
#[derive(Debug)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The demo process, when this suite started it; `None` with `--url`.
    child: Option<Child>,
    /// How it ended, once it has.
    exit: Option<ExitStatus>,
}

impl Target {
    /// A server someone else runs, at `url` (`http://host:port`, any path ignored).
    pub fn external(url: &str) -> io::Result<Target> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "--url must start with http://")
        })?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr = authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "--url names no address"))?;
        Ok(Target {
            addr,
            child: None,
            exit: None,
        })
    }

    /// Starts the demo binary that sits next to this executable, on `127.0.0.1:0`, and
    /// learns its port from the banner line `spindle demo listening on http://ADDR`.
    ///
    /// Without the access log (its lines would measure the terminal) and without the
    /// scheduling trace: the flight recorder is a fixed ring per worker (about 0.8 MB at the
    /// demo's size) that fills during the first seconds of any load, and the scenarios judge
    /// memory per connection; counted, it added 30 KiB "per client" to a 50-client run.
    pub fn start_demo(options: &DemoOptions) -> io::Result<Target> {
        let mut cmd = Command::new(demo_path()?);
        cmd.args(["--port", "0", "--no-access-log", "--no-trace"]);
        if let Some(ms) = options.header_timeout_ms {
            cmd.args(["--header-timeout-ms", &ms.to_string()]);
        }
        if let Some(n) = options.max_connections {
            cmd.args(["--max-connections", &n.to_string()]);
        }
        if let Some(n) = options.nofile {
            // SAFETY: the closure runs in the child between fork and exec, where only
            // async-signal-safe calls are allowed; it calls setrlimit(2), which is one, and
            // touches nothing else of the parent's state.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout was piped just above");
        let (tx, rx) = mpsc::channel();
        // The reader keeps draining stdout after the banner, so the demo never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
            }
        });
        let mut target = Target {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child: Some(child),
            exit: None,
        };
        match rx.recv_timeout(START_DEADLINE) {
            Ok(addr) => {
                target.addr = addr.parse().map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("banner {addr:?}: {e}"))
                })?;
                Ok(target)
            }
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the demo printed no banner (did it start?)",
            )),
        }
    }

    /// The server's process id, when this suite started it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's resident set size in KiB (`VmRSS`), when its pid is known.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// The server's CPU time so far (user + system), when its pid is known.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // Fields after the command name (which may hold spaces) start at field 3, so
        // utime (field 14) and stime (field 15) are at 11 and 12.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf only reads a configuration value.
        let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (per_sec > 0).then(|| Duration::from_secs_f64(ticks as f64 / per_sec as f64))
    }

    /// Whether a started demo is still running (an external server is assumed to be).
    pub fn running(&mut self) -> bool {
        if self.exit.is_some() {
            return false;
        }
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(Some(status))) => {
                self.exit = Some(status);
                false
            }
            _ => true,
        }
    }

    /// How the started demo ended, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.running();
        self.exit
    }

    /// Sends SIGTERM to a started demo (false with `--url`, or if it had already exited).
    pub fn terminate(&mut self) -> bool {
        match self.pid() {
            // SAFETY: kill(2) with a pid this process spawned and has not yet reaped (so the
            // pid cannot have been reused); it touches no memory.
            Some(pid) if self.running() => unsafe { libc::kill(pid as i32, libc::SIGTERM) == 0 },
            _ => false,
        }
    }

    /// Waits up to `deadline` for a started demo to exit.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            if !self.running() {
                return self.exit;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if self.terminate() && self.wait_exit(STOP_DEADLINE).is_some() {
            return;
        }
        if let Some(child) = self.child.as_mut() {
            if self.exit.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// `spindle-demo` in the directory of this executable (`target/<profile>/`).
fn demo_path() -> io::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name("spindle-demo");
    if path.exists() {
        Ok(path)
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} not found: build it first (cargo build --release --bin spindle-demo) or pass --url",
                path.display()
            ),
        ))
    }
}

/// Raises this process's own RLIMIT_NOFILE soft limit to its hard limit, so the suite can
/// hold 10,000 connections; returns the limit now in force.
pub fn raise_own_nofile() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into `limit`, a valid rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit reads only `limit`, a valid rlimit we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    }
    limit.rlim_cur
}

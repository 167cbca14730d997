//! Five web-server models serving the same handler, measured side by side under the same load.
//!
//! The seed notes contrast a process per request (CGI, Apache prefork), a thread per request
//! (Apache worker), a fixed thread pool behind a synchronous interface (WSGI, FastCGI), an event
//! loop (Node.js, Uvicorn) and event loops in several processes (`uvicorn --workers N`). This
//! example builds each one and measures it:
//!
//! | model | how a connection is served |
//! |---|---|
//! | `fork` | the accept loop `fork(2)`s a process per connection (CGI / prefork shape) |
//! | `thread` | the accept loop spawns an OS thread per connection (Apache worker) |
//! | `pool` | a blocking accept loop feeds a fixed pool of 16 threads (the WSGI shape) |
//! | `spindle` | spindle-http on one event-loop thread (Node.js / Uvicorn) |
//! | `spindle-xN` | N spindle processes, one event-loop thread each, sharing the port with SO_REUSEPORT |
//! | `spindle-mt` | one spindle process with N worker threads (work stealing), for comparison with `spindle-xN` |
//!
//! The handler is the same in all five: parse a `GET`, wait `?ms=N` milliseconds of simulated I/O
//! (a blocking `thread::sleep` in the blocking models, a timer in spindle), answer
//! `Hello, World!`. Each server runs in its own process group, started by re-running this binary
//! with `--serve MODEL`, so that `/proc` shows only the server: the load driver here in the
//! parent process (a spindle runtime with one thread, keep-alive connections, one request in
//! flight per connection) never counts towards the server's memory, threads or context switches.
//!
//! Columns: requests per second; p99 latency (a `≥` marks a request still unanswered when the
//! run ended, its age so far: a starved connection); connections that got no answer at all; the
//! server's RSS and PSS summed over its processes (PSS splits shared pages fairly, RSS counts
//! them once per process); its threads and processes at the end of the run; and its context
//! switches per request during the run (voluntary + involuntary, from `/proc/PID/task/*/status`).
//!
//! Run: `cargo run --release --example server_models` (36 cells of 1.5 s each, under 2 minutes).
//! Flags: `--seconds S` per cell, `--conns 10,100,1000`, `--ms 0,20`, `--models fork,thread,...`,
//! `--processes N` for `spindle-xN` and `spindle-mt` (default: one per core), and `--requests N` to send exactly
//! N requests per connection instead of running for a time (the test uses that).
//! `docs/server-models.md` shows a run and explains it.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Threads in the `pool` model: a typical WSGI server's thread count (mod_wsgi defaults to 15).
const POOL_THREADS: usize = 16;
/// The response every model sends: the same bytes, so the wire cost is equal.
const HELLO: &[u8] = b"Hello, World!";
/// The longest request head the blocking models accept before answering 431.
const MAX_HEAD: usize = 8 * 1024;
/// Upper bound on `?ms=`, so no client parks a server for long.
const MAX_MS: u64 = 10_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        if let Err(e) = serve_main(&args[1..]) {
            eprintln!("server_models --serve: {e}");
            std::process::exit(1);
        }
        return;
    }
    match Options::parse(&args) {
        Ok(opts) => run_table(&opts),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("usage: server_models [--seconds S | --requests N] [--conns 10,100,1000] [--ms 0,20] [--models fork,thread,pool,spindle,spindle-xN,spindle-mt] [--processes N]");
            std::process::exit(2);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The handler, shared by every model.
// ---------------------------------------------------------------------------------------------

/// The simulated I/O a request asks for: `?ms=N` in the query, 0 without one.
/// `Err` carries the status to answer (400 for a bad number).
fn simulated_io(query: Option<&str>) -> Result<u64, u16> {
    let Some(query) = query else { return Ok(0) };
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("ms=") {
            return match v.parse::<u64>() {
                Ok(ms) if ms <= MAX_MS => Ok(ms),
                _ => Err(400),
            };
        }
    }
    Ok(0)
}

/// What the blocking models make of one request head (`head` ends at its blank line):
/// the simulated I/O to wait, or the status to answer before closing.
fn route(head: &[u8]) -> Result<u64, u16> {
    let line_end = head.iter().position(|&b| b == b'\r').ok_or(400u16)?;
    let line = std::str::from_utf8(&head[..line_end]).map_err(|_| 400u16)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(505);
    }
    if method != "GET" {
        return Err(405); // the handler only knows GET, and a GET has no body to frame
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    if path != "/" {
        return Err(404);
    }
    simulated_io(query)
}

/// Serves one keep-alive connection with blocking reads and writes, as the `fork`, `thread`
/// and `pool` models do: read a head, wait the simulated I/O (holding this thread or process
/// the whole time: that is the point), answer, repeat until the client closes.
fn serve_blocking(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        // 1. Read until a whole head is buffered.
        let head_len = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                let _ = stream.write_all(&status_response(431));
                return;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return, // the client closed, or the connection broke
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        // 2. Route it, and wait the simulated I/O.
        match route(&buf[..head_len]) {
            Ok(ms) => {
                if ms > 0 {
                    std::thread::sleep(Duration::from_millis(ms));
                }
                if stream.write_all(&hello_response()).is_err() {
                    return;
                }
            }
            Err(status) => {
                let _ = stream.write_all(&status_response(status));
                return; // a bad request: close, framing may be in doubt
            }
        }
        // 3. Keep what the client already sent of its next request.
        buf.drain(..head_len);
    }
}

/// `200 OK` with [`HELLO`].
fn hello_response() -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
        HELLO.len()
    )
    .into_bytes();
    r.extend_from_slice(HELLO);
    r
}

/// An error answer that closes the connection.
fn status_response(status: u16) -> Vec<u8> {
    format!("HTTP/1.1 {status} Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The five servers (`--serve MODEL`): each prints `listening on ADDR` once it accepts.
// ---------------------------------------------------------------------------------------------

/// `--serve MODEL [--port P] [--processes N]`: runs one model until killed.
fn serve_main(args: &[String]) -> io::Result<()> {
    // Die with the parent: a killed table run must not leave servers behind.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and reads no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let model = args.first().map(String::as_str).unwrap_or("");
    let mut port = 0u16;
    let mut processes = 2usize;
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse::<usize>().ok());
        match (flag.as_str(), value) {
            ("--port", Some(v)) => port = v as u16,
            ("--processes", Some(v)) => processes = v.max(1),
            _ => return Err(io::Error::other(format!("bad flag {flag:?}"))),
        }
    }
    match model {
        "fork" => serve_fork(port),
        "thread" => serve_thread_per_connection(port),
        "pool" => serve_pool(port),
        "spindle" => serve_spindle(port, false, 1),
        "spindle-mt" => serve_spindle(port, false, processes),
        "spindle-worker" => serve_spindle(port, true, 1),
        "spindle-xN" => serve_spindle_processes(port, processes),
        other => Err(io::Error::other(format!("unknown model {other:?}"))),
    }
}

/// A blocking listener on 127.0.0.1:`port` with a backlog long enough for 1,000 connects
/// at once (std's default of 128 would make the kernel drop SYNs and the client retry after 1 s).
fn blocking_listener(port: u16) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    // SAFETY: the descriptor is a listening socket owned by `listener`, alive for the call;
    // listen(2) on it again only changes the backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), 4096) } != 0 {
        return Err(io::Error::last_os_error());
    }
    announce(listener.local_addr()?);
    Ok(listener)
}

/// Tells the parent where the server listens.
fn announce(addr: SocketAddr) {
    println!("listening on {addr}");
    let _ = io::stdout().flush();
}

/// Process per connection: the CGI / prefork shape. This server process has one thread, so
/// `fork` copies a process in a known state; the child serves the connection and exits.
fn serve_fork(port: u16) -> io::Result<()> {
    let listener = blocking_listener(port)?;
    // Children are reaped by the kernel: no zombies, no waitpid loop.
    // SAFETY: setting SIGCHLD's disposition to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
    loop {
        let (stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(_) => continue,
        };
        // SAFETY: this process is single-threaded (no runtime, no helper threads), so the
        // child starts with every lock free and may use std freely.
        match unsafe { libc::fork() } {
            0 => {
                drop(listener);
                serve_blocking(stream);
                // SAFETY: _exit ends the child without running the parent's exit handlers
                // or flushing buffers it copied.
                unsafe { libc::_exit(0) };
            }
            -1 => drop(stream), // out of processes: the client sees the connection close
            _ => drop(stream),  // the parent's copy; the child owns the connection now
        }
    }
}

/// Thread per connection: the Apache worker shape.
fn serve_thread_per_connection(port: u16) -> io::Result<()> {
    let listener = blocking_listener(port)?;
    loop {
        if let Ok((stream, _)) = listener.accept() {
            // A failed spawn (out of threads) drops the connection.
            let _ = std::thread::Builder::new().spawn(move || serve_blocking(stream));
        }
    }
}

/// A fixed pool behind a blocking accept loop: the WSGI shape. A pool thread owns a
/// connection until the client closes it, so at most [`POOL_THREADS`] connections are served
/// at once and the rest wait in the queue: with keep-alive clients they wait for good.
fn serve_pool(port: u16) -> io::Result<()> {
    // The pool exists before the listener is announced, so the parent's idle sample (taken
    // right after the announcement) counts every pool thread and `settle` can return.
    let (tx, rx) = mpsc::channel::<TcpStream>();
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..POOL_THREADS {
        let rx = rx.clone();
        std::thread::spawn(move || loop {
            // The lock is held only while taking one connection off the queue.
            let next = rx.lock().map(|r| r.recv());
            match next {
                Ok(Ok(stream)) => serve_blocking(stream),
                _ => return,
            }
        });
    }
    let listener = blocking_listener(port)?;
    loop {
        if let Ok((stream, _)) = listener.accept() {
            if tx.send(stream).is_err() {
                return Ok(());
            }
        }
    }
}

/// The spindle event loop: spindle-http on `workers` worker threads (1: a single event loop),
/// the handler a timer wait. With `reuse_port` it shares the port with its siblings (`spindle-xN`).
fn serve_spindle(port: u16, reuse_port: bool, workers: usize) -> io::Result<()> {
    use spindle_http::{App, HttpError, Request, Server};
    let app = App::new().get("/", |req: Request| async move {
        let ms = simulated_io(req.query()).map_err(|s| HttpError::new(s, "bad ms"))?;
        if ms > 0 {
            spindle::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok::<_, HttpError>("Hello, World!")
    });
    let server = Server::bind(("127.0.0.1", port))
        .workers(workers)
        .reuse_port(usize::from(reuse_port));
    server.serve_with(app, announce)
}

/// `uvicorn --workers N`: a leader starts N single-threaded spindle processes on one port.
/// The first binds the port (0: the kernel picks one), the others join it with SO_REUSEPORT,
/// and the kernel spreads new connections over the N listening sockets.
fn serve_spindle_processes(port: u16, n: usize) -> io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut children: Vec<Child> = Vec::new();
    let mut port = port;
    for _ in 0..n {
        let mut child = Command::new(&exe)
            .args(["--serve", "spindle-worker", "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .spawn()?;
        let addr = read_announcement(&mut child)?;
        port = addr.port();
        children.push(child);
    }
    announce(SocketAddr::from(([127, 0, 0, 1], port)));
    for mut c in children {
        c.wait()?;
    }
    Ok(())
}

/// Reads the child's `listening on ADDR` line.
fn read_announcement(child: &mut Child) -> io::Result<SocketAddr> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    line.trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::other(format!("unexpected first line {line:?}")))
}

// ---------------------------------------------------------------------------------------------
// Running a model: its process group, and what /proc says about it.
// ---------------------------------------------------------------------------------------------

/// One model's server, in its own process group; dropping it kills the whole group.
struct ServerProcess {
    /// The model's first process (the group leader).
    child: Child,
    /// Where it listens.
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(model: &str, processes: usize) -> io::Result<ServerProcess> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["--serve", model, "--processes", &processes.to_string()])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let addr = read_announcement(&mut child)?;
        Ok(ServerProcess { child, addr })
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals our child's process group; no memory.
        unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// What `/proc` says about a server's processes at one moment.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    /// Sum of VmRSS over the processes, KiB.
    rss_kib: u64,
    /// Sum of Pss over the processes, KiB.
    pss_kib: u64,
    /// Threads, summed.
    threads: u64,
    /// Processes in the tree.
    processes: u64,
    /// Voluntary + involuntary context switches of every live thread, summed.
    context_switches: u64,
}

/// `root` and every process descended from it, found through each process's parent in
/// `/proc/PID/stat`.
fn process_tree(root: i32) -> Vec<i32> {
    let mut parent_of: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The fields after `(comm)`: state, then ppid.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parent_of.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        if let Some(kids) = parent_of.get(&tree[i]) {
            tree.extend(kids);
        }
        i += 1;
    }
    tree
}

/// The number after `key` in a `/proc` status-style file.
fn field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn sample(root: i32) -> Usage {
    let mut u = Usage::default();
    for pid in process_tree(root) {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue; // it exited between the listing and now
        };
        u.processes += 1;
        u.rss_kib += field(&status, "VmRSS:");
        u.threads += field(&status, "Threads:");
        if let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
            u.pss_kib += field(&rollup, "Pss:");
        }
        // A process's own status counts only its main thread's switches: sum every thread's.
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                if let Ok(s) = std::fs::read_to_string(t.path().join("status")) {
                    u.context_switches += field(&s, "voluntary_ctxt_switches:")
                        + field(&s, "nonvoluntary_ctxt_switches:");
                }
            }
        }
    }
    u
}

/// Waits (up to 10 s, normally milliseconds) until the server is back to its idle shape, so one
/// cell's leftover processes and threads do not count in the next. Says so on stderr if it never
/// gets there: the next row's thread and process counts then include the leftovers.
fn settle(root: i32, idle: Usage) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = sample(root);
        if now.processes <= idle.processes && now.threads <= idle.threads {
            return;
        }
        if Instant::now() >= deadline {
            eprintln!(
                "server_models: server did not settle back to {} processes / {} threads (now {} / {})",
                idle.processes, idle.threads, now.processes, now.threads
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// The load driver: keep-alive connections on a one-thread spindle runtime.
// ---------------------------------------------------------------------------------------------

/// When each connection stops sending.
#[derive(Debug, Clone, Copy)]
enum Until {
    /// Run until this moment; a request still unanswered then is recorded as unfinished.
    Deadline(Instant),
    /// Send exactly this many requests per connection, however long they take.
    Count(u64),
}

/// What one connection saw.
#[derive(Debug, Default)]
struct ConnReport {
    /// Latency of each answered request, microseconds.
    latencies_us: Vec<u64>,
    /// Age of the request unanswered at the deadline, if any, microseconds.
    unfinished_us: Option<u64>,
    /// Requests answered with a status other than 200, or broken connections.
    errors: u64,
}

/// Sends one GET and reads its answer (head, then a `content-length` body); returns the status.
async fn one_request(
    stream: &spindle::net::TcpStream,
    request: &[u8],
    buf: &mut Vec<u8>,
) -> io::Result<u16> {
    stream.write_all(request).await?;
    buf.clear();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let body_len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < i + 4 + body_len {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One connection's loop of requests.
async fn drive(
    stream: spindle::net::TcpStream,
    request: Arc<Vec<u8>>,
    until: Until,
) -> (ConnReport, spindle::net::TcpStream) {
    let mut report = ConnReport::default();
    let mut buf = Vec::with_capacity(256);
    let mut sent = 0u64;
    loop {
        let t0 = Instant::now();
        let result = match until {
            Until::Count(n) if sent >= n => break,
            Until::Count(_) => one_request(&stream, &request, &mut buf).await,
            Until::Deadline(d) if t0 >= d => break,
            Until::Deadline(d) => {
                match spindle::time::timeout_at(d, one_request(&stream, &request, &mut buf)).await {
                    Ok(r) => r,
                    Err(_) => {
                        report.unfinished_us = Some(t0.elapsed().as_micros() as u64);
                        break;
                    }
                }
            }
        };
        sent += 1;
        match result {
            Ok(200) => report.latencies_us.push(t0.elapsed().as_micros() as u64),
            Ok(_) => report.errors += 1,
            Err(_) => {
                report.errors += 1;
                break;
            }
        }
    }
    (report, stream)
}

/// One row of the table.
#[derive(Debug)]
struct Cell {
    requests: u64,
    errors: u64,
    starved: u64,
    seconds: f64,
    /// The p99 latency in microseconds, and whether it is an unfinished request's age.
    p99: Option<(u64, bool)>,
    usage: Usage,
    context_switches: u64,
}

/// Opens `conns` connections, drives them, samples the server while they are still open.
fn run_cell(
    rt: &spindle::Runtime,
    server: &ServerProcess,
    conns: usize,
    ms: u64,
    opts: &Options,
) -> io::Result<Cell> {
    let addr = server.addr;
    let request = Arc::new(format!("GET /?ms={ms} HTTP/1.1\r\nhost: {addr}\r\n\r\n").into_bytes());
    rt.block_on(async move {
        // 1. Connect everything first, so connection set-up (and the fork or thread spawn
        //    it causes) is not counted as request time.
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = spindle::time::timeout(
                Duration::from_secs(10),
                spindle::net::TcpStream::connect(addr),
            )
            .await
            .map_err(|_| io::Error::other("connect timed out"))??;
            s.set_nodelay(true)?;
            streams.push(s);
        }
        let before = sample(server.pid());
        // 2. Drive them all at once.
        let start = Instant::now();
        let until = match opts.requests {
            Some(n) => Until::Count(n),
            None => Until::Deadline(start + opts.seconds),
        };
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|s| spindle::spawn(drive(s, request.clone(), until)))
            .collect();
        let mut reports = Vec::with_capacity(conns);
        let mut open = Vec::with_capacity(conns);
        for t in tasks {
            let (report, stream) = t.await.map_err(|e| io::Error::other(format!("{e:?}")))?;
            reports.push(report);
            open.push(stream);
        }
        let seconds = start.elapsed().as_secs_f64();
        // 3. Sample while the connections are still open, then close them.
        let usage = sample(server.pid());
        drop(open);
        Ok(summarize(&reports, seconds, before, usage))
    })
}

fn summarize(reports: &[ConnReport], seconds: f64, before: Usage, usage: Usage) -> Cell {
    let mut samples: Vec<(u64, bool)> = Vec::new();
    let (mut requests, mut errors, mut starved) = (0, 0, 0);
    for r in reports {
        requests += r.latencies_us.len() as u64;
        errors += r.errors;
        if r.latencies_us.is_empty() {
            starved += 1;
        }
        samples.extend(r.latencies_us.iter().map(|&l| (l, false)));
        samples.extend(r.unfinished_us.map(|l| (l, true)));
    }
    samples.sort_unstable();
    let p99 = (!samples.is_empty()).then(|| samples[(samples.len() * 99).div_ceil(100) - 1]);
    Cell {
        requests,
        errors,
        starved,
        seconds,
        p99,
        usage,
        context_switches: usage
            .context_switches
            .saturating_sub(before.context_switches),
    }
}

// ---------------------------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------------------------

/// What to run.
#[derive(Debug)]
struct Options {
    models: Vec<String>,
    conns: Vec<usize>,
    ms: Vec<u64>,
    seconds: Duration,
    requests: Option<u64>,
    processes: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut o = Options {
            models: [
                "fork",
                "thread",
                "pool",
                "spindle",
                "spindle-xN",
                "spindle-mt",
            ]
            .map(String::from)
            .to_vec(),
            conns: vec![10, 100, 1000],
            ms: vec![0, 20],
            seconds: Duration::from_millis(1500),
            requests: None,
            processes: cores,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                return Err("server_models: five server models under the same load".into());
            }
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
            match flag.as_str() {
                "--models" => o.models = value.split(',').map(String::from).collect(),
                "--conns" => {
                    o.conns = list(value).map_err(|e| bad(&e))?;
                }
                "--ms" => o.ms = list(value).map_err(|e| bad(&e))?,
                "--seconds" => {
                    let s: f64 = value.parse().map_err(|e| bad(&e))?;
                    o.seconds = Duration::from_secs_f64(s.clamp(0.1, 60.0));
                }
                "--requests" => o.requests = Some(value.parse().map_err(|e| bad(&e))?),
                "--processes" => o.processes = value.parse::<usize>().map_err(|e| bad(&e))?.max(1),
                _ => return Err(format!("unknown flag {flag:?}")),
            }
        }
        Ok(o)
    }
}

fn list<T: std::str::FromStr>(s: &str) -> Result<Vec<T>, T::Err> {
    s.split(',').map(str::parse).collect()
}

/// Lets the driver and the servers open 1,000+ descriptors each.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct we pass, which outlives both.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn run_table(opts: &Options) {
    raise_fd_limit();
    let rt = match spindle::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = match opts.requests {
        Some(n) => format!("{n} requests per connection"),
        None => format!("{:.1} s per cell", opts.seconds.as_secs_f64()),
    };
    println!("server models: same handler, keep-alive load from a one-thread driver; {load}; {cores} cores; load average {}", load_average());
    println!(
        "{:<12} {:>5} {:>5} {:>9} {:>10} {:>7} {:>8} {:>8} {:>7} {:>6} {:>7}",
        "model",
        "conns",
        "io_ms",
        "req/s",
        "p99",
        "starved",
        "RSS_MiB",
        "PSS_MiB",
        "threads",
        "procs",
        "cs/req"
    );
    let mut failed = false;
    for model in &opts.models {
        let server = match ServerProcess::start(model, opts.processes) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{model}: could not start: {e}");
                failed = true;
                continue;
            }
        };
        let idle = sample(server.pid());
        let name = match model.as_str() {
            "spindle-xN" => format!("spindle-x{}", opts.processes),
            "spindle-mt" => format!("spindle-mt{}", opts.processes),
            _ => model.clone(),
        };
        for &ms in &opts.ms {
            for &conns in &opts.conns {
                match run_cell(&rt, &server, conns, ms, opts) {
                    Ok(c) => {
                        print_row(&name, conns, ms, &c);
                        failed |= c.errors > 0;
                    }
                    Err(e) => {
                        println!("{name:<12} {conns:>5} {ms:>5}  failed: {e}");
                        failed = true;
                    }
                }
                settle(server.pid(), idle);
            }
        }
    }
    println!("load average at the end: {}", load_average());
    if failed {
        std::process::exit(1);
    }
}

/// The 1-minute load average: the table's figures only mean something on a quiet machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

fn print_row(name: &str, conns: usize, ms: u64, c: &Cell) {
    let p99 = match c.p99 {
        None => "-".to_string(),
        Some((us, censored)) => {
            let mark = if censored { "≥" } else { "" };
            if us >= 10_000 {
                format!("{mark}{:.0}ms", us as f64 / 1000.0)
            } else {
                format!("{mark}{:.2}ms", us as f64 / 1000.0)
            }
        }
    };
    let per_req = if c.requests > 0 {
        format!("{:.2}", c.context_switches as f64 / c.requests as f64)
    } else {
        "-".into()
    };
    println!(
        "{:<12} {:>5} {:>5} {:>9.0} {:>10} {:>7} {:>8.1} {:>8.1} {:>7} {:>6} {:>7}{}",
        name,
        conns,
        ms,
        c.requests as f64 / c.seconds,
        p99,
        c.starved,
        c.usage.rss_kib as f64 / 1024.0,
        c.usage.pss_kib as f64 / 1024.0,
        c.usage.threads,
        c.usage.processes,
        per_req,
        if c.errors > 0 {
            format!("  errors: {}", c.errors)
        } else {
            String::new()
        }
    );
}

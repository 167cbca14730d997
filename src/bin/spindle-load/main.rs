//! `spindle-load`: an HTTP/1.1 load generator on spindle, closed loop (a fixed number of
//! connections, each sending its next request when an answer arrives, like wrk) or open loop
//! (`--rate`: requests at a constant arrival rate, latency measured from each request's
//! intended send time, like wrk2), with pipelining, a live progress line and a text or JSON
//! report. See `docs/load.md`.
//!
//! This file reads the flags and runs the phases; `engine.rs` drives one connection,
//! `stats.rs` counts and reports.

mod engine;
mod stats;

use std::io::IsTerminal;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use spindle_http::client::Url;

use engine::{Plan, Target};
use stats::Shared;

/// The JSON schema, shown by `--help` and kept in step with `docs/load.md`.
const JSON_SCHEMA: &str = "\
With --json, stdout holds one JSON object (progress stays on stderr):
  mode               \"closed\" or \"open\"
  connections, pipeline, threads
  duration_secs      from the start of the run (its first sends) to its last answer
  requests           responses received (any status)
  requests_per_sec   requests / duration_secs
  bytes, bytes_per_sec   response bytes read (heads and bodies)
  errors             {total, connect, timeout, reset, parse}: requests lost, by cause
                     (connect counts failed connection attempts)
  status             {\"200\": n, ...}: responses by status code
  latency            {min, mean, stdev, p50, p75, p90, p99, p99_9, p99_99, max}, in seconds
  open_loop          null in closed loop; else {rate, scheduled, sent, late, dropped,
                     max_late_secs}: sends more than 1 ms behind schedule are late, those
                     never sent before the end are dropped; sent + dropped = scheduled
  warmup             null without --warmup; else {duration_secs, requests}: the warm-up's
                     answers, sent before the run and counted nowhere else
  percentiles        only with --percentiles: [{percentile, latency_secs, count}, ...]

Exit status: 0 when requests were answered (errors are in the report), 1 when none was,
2 for bad flags or URLs or a server that refuses the first connection.";

/// An HTTP/1.1 load generator on spindle (closed loop like wrk, open loop like wrk2).
#[derive(Parser, Debug)]
#[command(name = "spindle-load", version, after_long_help = JSON_SCHEMA)]
struct Args {
    /// Connections kept open (closed loop: each has `--pipeline` requests outstanding).
    #[arg(short = 'c', long, default_value_t = 64)]
    connections: usize,
    /// Run this long (such as `4s`, `500ms`, `1m`); default 10s unless `-n` is given.
    #[arg(short = 'd', long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Send exactly this many requests (with `--rate`, over n/rate seconds).
    #[arg(short = 'n', long)]
    requests: Option<u64>,
    /// Load threads: 1 runs every connection on the main thread (the current-thread
    /// runtime); more start a multi-thread runtime with this many workers.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Open loop: this many requests per second, at constant intervals; latency counts from
    /// each request's intended send time (coordinated-omission correction).
    #[arg(long)]
    rate: Option<f64>,
    /// Requests in flight per connection (HTTP/1.1 pipelining).
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Request method.
    #[arg(short = 'm', long, default_value = "GET")]
    method: String,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Send this file's contents as each request's body.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Run the same load this long first, on its own connections, and discard its results.
    #[arg(long, value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// A request with no answer for this long counts as a timeout error.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
    /// Print the whole percentile spectrum in the report.
    #[arg(long)]
    percentiles: bool,
    /// Print the report as JSON (schema in `--help`).
    #[arg(long)]
    json: bool,
    /// No progress lines.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Target URLs (`http://host:port/path`); requests go round robin.
    #[arg(required = true)]
    urls: Vec<String>,
}

/// Parses `500ms`, `4s`, `2m`, `1h` or bare seconds (`1.5`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 4s or 500ms"))?;
    let scale = match unit {
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "us" => 1e-6,
        _ => return Err(format!("`{unit}` is not a unit (ms, s, m, h)")),
    };
    if !(value.is_finite() && value >= 0.0) {
        return Err(format!("`{s}` is not a duration"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// Prints `msg` and exits with status 2 (bad usage or an unreachable target).
fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("spindle-load: {msg}");
    std::process::exit(2);
}

/// Builds the connection targets from the URLs: one per distinct host:port, each with the
/// pre-serialized requests of its URLs.
fn targets(args: &Args) -> Vec<Target> {
    let body = match &args.body_file {
        Some(p) => std::fs::read(p)
            .unwrap_or_else(|e| fail(format_args!("cannot read --body-file {}: {e}", p.display()))),
        None => Vec::new(),
    };
    let method = args.method.to_ascii_uppercase();
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        fail(format_args!("`{}` is not a method", args.method));
    }
    let mut extra = String::new();
    let mut has_ua = false;
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            fail(format_args!("header `{h}` is not `Name: value`"));
        };
        let (name, value) = (name.trim(), value.trim());
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        if name.is_empty() || bad(name) || bad(value) || name.contains(' ') {
            fail(format_args!("header `{h}` is not `Name: value`"));
        }
        has_ua |= name.eq_ignore_ascii_case("user-agent");
        extra.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_ua {
        extra.push_str("user-agent: spindle-load\r\n");
    }
    if !body.is_empty() || matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        extra.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    let mut out: Vec<Target> = Vec::new();
    for raw in &args.urls {
        let url = Url::parse(raw).unwrap_or_else(|e| fail(format_args!("bad URL `{raw}`: {e}")));
        let addr: SocketAddr = (url.host(), url.port())
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| fail(format_args!("cannot resolve the host of `{raw}`")));
        let mut req = format!(
            "{method} {} HTTP/1.1\r\nhost: {}\r\n{extra}\r\n",
            url.target(),
            url.authority()
        )
        .into_bytes();
        req.extend_from_slice(&body);
        match out.iter_mut().find(|t| t.addr == addr) {
            Some(t) => t.requests.push(req),
            None => out.push(Target {
                addr,
                requests: vec![req],
            }),
        }
    }
    // Refuse an unreachable target before starting, with the reason.
    for t in &out {
        if let Err(e) = std::net::TcpStream::connect_timeout(&t.addr, Duration::from_secs(5)) {
            fail(format_args!("cannot connect to {}: {e}", t.addr));
        }
    }
    out
}

fn main() {
    let args = Args::parse();
    if args.connections == 0 || args.pipeline == 0 || args.threads == 0 {
        fail("-c, --pipeline and -t must be at least 1");
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            fail("--rate must be a positive number of requests per second");
        }
    }
    let targets = Arc::new(targets(&args));
    let head = args.method.eq_ignore_ascii_case("HEAD");
    let duration = match (args.duration, args.requests, args.rate) {
        (Some(d), _, _) => Some(d),
        (None, Some(n), Some(r)) => Some(Duration::from_secs_f64(n as f64 / r)),
        (None, Some(_), None) => None,
        (None, None, _) => Some(Duration::from_secs(10)),
    };
    // The open loop's schedule: a bounded number of sends, one every 1/rate seconds.
    let scheduled = match args.rate {
        Some(r) => Some(
            args.requests
                .unwrap_or_else(|| (r * duration.unwrap_or_default().as_secs_f64()).ceil() as u64),
        ),
        None => args.requests,
    };
    // One thread: the current-thread runtime, whose loop runs inside `block_on` on this
    // thread (no worker thread, no work-stealing queues). The long-poll monitor is off: a
    // load generator has no blocking handlers to find, and its thread would wake 200 times a
    // second on the machine being measured.
    let mut builder = if args.threads == 1 {
        spindle::Builder::new_current_thread()
    } else {
        let mut b = spindle::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    let rt = builder
        .long_poll_threshold(None)
        .build()
        .unwrap_or_else(|e| fail(format_args!("cannot start the runtime: {e}")));
    let plan = |d: Option<Duration>, limit: Option<u64>| Plan {
        targets: targets.clone(),
        connections: args.connections,
        pipeline: args.pipeline,
        rate: args.rate,
        limit,
        duration: d,
        timeout: args.timeout,
        head,
    };
    let warmup = args.warmup.map(|w| {
        if !args.quiet {
            eprintln!("spindle-load: warming up for {w:?}");
        }
        let limit = args.rate.map(|r| (r * w.as_secs_f64()).ceil() as u64);
        let shared = Arc::new(Shared::new());
        let took = rt.block_on(engine::run(plan(Some(w), limit), shared.clone()));
        (took, stats::answered(&shared))
    });
    let shared = Arc::new(Shared::new());
    let progress = (!args.quiet).then(|| {
        let shared = shared.clone();
        let tty = std::io::stderr().is_terminal();
        std::thread::spawn(move || stats::progress(&shared, tty))
    });
    let elapsed = rt.block_on(engine::run(plan(duration, scheduled), shared.clone()));
    shared.finished.store(true, Ordering::Release);
    if let Some(p) = progress {
        let _ = p.join();
    }
    let report = stats::Report {
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        connections: args.connections,
        pipeline: args.pipeline,
        threads: args.threads,
        elapsed,
        rate: args.rate.map(|r| (r, scheduled.unwrap_or(0))),
        warmup,
    };
    if args.json {
        println!("{}", stats::json(&shared, &report, args.percentiles));
    } else {
        print!("{}", stats::text(&shared, &report, args.percentiles));
    }
    // A run in which not one request was answered failed, whatever the reason.
    if stats::answered(&shared) == 0 {
        eprintln!("spindle-load: no request was answered");
        std::process::exit(1);
    }
}

//! Counting and reporting: each connection counts into its own [`Local`] (no sharing on the
//! hot path) and adds it to the [`Shared`] [`Totals`] every 500 ms and at its end; the
//! progress thread and the final report read the totals.
//!
//! Only the totals hold an HDR histogram (about 220 KiB at three significant digits from 1 ns
//! to 100 s); a connection keeps its latencies since the last flush in a plain list. One
//! histogram per connection (the first version) meant 64 of them: recording missed the cache
//! and each flush walked a whole histogram (together about 6% of a pipelined run: see
//! docs/benchmarks.md, section 3).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Why a request was lost.
#[derive(Debug, Clone, Copy)]
pub enum ErrorKind {
    /// A connection attempt failed (counted per attempt).
    Connect = 0,
    /// No byte of an answer for `--timeout`.
    Timeout = 1,
    /// The connection broke (reset, or closed mid-answer or before answering).
    Reset = 2,
    /// The answer broke HTTP/1.1's rules.
    Parse = 3,
}

/// Names of the error kinds, in [`ErrorKind`] order.
const ERROR_NAMES: [&str; 4] = ["connect", "timeout", "reset", "parse"];

/// Latencies are recorded in nanoseconds, up to 100 s (longer ones count as 100 s), to three
/// significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid histogram bounds")
}

/// Counts of one connection since its last flush.
#[derive(Debug, Clone)]
pub struct Local {
    /// Latency of each answer since the last flush, nanoseconds.
    pub samples: Vec<u64>,
    /// Answers by status code, in order of first appearance: a run sees one or a few codes,
    /// so a short list searched from the front is cheaper per answer than a map, and
    /// clearing it keeps its memory (no allocation after the first flush).
    pub status: Vec<(u16, u64)>,
    /// Response bytes read.
    pub bytes: u64,
    /// Lost requests by [`ErrorKind`].
    pub errors: [u64; 4],
    /// Requests written.
    pub sent: u64,
    /// Open loop: sends more than 1 ms behind schedule.
    pub late: u64,
    /// Open loop: the most a send was behind schedule.
    pub max_late: Duration,
}

/// The counts of a whole run.
#[derive(Debug, Clone)]
pub struct Totals {
    /// Latency of each answered request, nanoseconds.
    pub hist: Histogram<u64>,
    /// Answers by status code.
    pub status: BTreeMap<u16, u64>,
    /// Response bytes read.
    pub bytes: u64,
    /// Lost requests by [`ErrorKind`].
    pub errors: [u64; 4],
    /// Requests written.
    pub sent: u64,
    /// Open loop: sends more than 1 ms behind schedule.
    pub late: u64,
    /// Open loop: the most a send was behind schedule.
    pub max_late: Duration,
}

impl Totals {
    /// Zero counts.
    fn new() -> Totals {
        Totals {
            hist: histogram(),
            status: BTreeMap::new(),
            bytes: 0,
            errors: [0; 4],
            sent: 0,
            late: 0,
            max_late: Duration::ZERO,
        }
    }

    /// Answers received.
    fn requests(&self) -> u64 {
        self.hist.len()
    }
}

impl Local {
    /// Zero counts.
    pub fn new() -> Local {
        Local {
            samples: Vec::with_capacity(1024),
            status: Vec::new(),
            bytes: 0,
            errors: [0; 4],
            sent: 0,
            late: 0,
            max_late: Duration::ZERO,
        }
    }

    /// One answer with `status` after `latency`.
    pub fn record(&mut self, status: u16, latency: Duration) {
        self.samples
            .push(latency.as_nanos().min(u64::MAX as u128) as u64);
        match self.status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.status.push((status, 1)),
        }
    }

    /// Adds these counts to the totals and zeroes them.
    pub fn flush(&mut self, shared: &Shared) {
        let mut t = shared.totals.lock().unwrap_or_else(|e| e.into_inner());
        for &ns in &self.samples {
            t.hist.saturating_record(ns);
        }
        for (s, n) in &self.status {
            *t.status.entry(*s).or_insert(0) += n;
        }
        t.bytes += self.bytes;
        for (a, b) in t.errors.iter_mut().zip(self.errors) {
            *a += b;
        }
        t.sent += self.sent;
        t.late += self.late;
        t.max_late = t.max_late.max(self.max_late);
        drop(t);
        self.samples.clear();
        self.status.clear();
        (self.bytes, self.errors, self.sent, self.late) = (0, [0; 4], 0, 0);
    }
}

/// The totals of a run, shared by its connections and the progress thread.
#[derive(Debug)]
pub struct Shared {
    /// The counts so far.
    pub totals: Mutex<Totals>,
    /// Set when the run is over (the progress thread then stops).
    pub finished: AtomicBool,
}

impl Shared {
    /// Empty totals.
    pub fn new() -> Shared {
        Shared {
            totals: Mutex::new(Totals::new()),
            finished: AtomicBool::new(false),
        }
    }

    /// A copy of the totals.
    fn snapshot(&self) -> Totals {
        self.totals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Answers received so far.
pub fn answered(shared: &Shared) -> u64 {
    shared
        .totals
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .requests()
}

/// Prints progress to stderr until the run finishes: one line redrawn in place on a
/// terminal (four times a second), a plain line a second otherwise.
pub fn progress(shared: &Shared, tty: bool) {
    let start = Instant::now();
    let tick = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    };
    let (mut prev_n, mut prev_t) = (0u64, start);
    let mut next = start + tick;
    let mut err = std::io::stderr();
    while !shared.finished.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(10).min(next - Instant::now().min(next)));
        let now = Instant::now();
        if now < next {
            continue;
        }
        next += tick;
        let t = shared.snapshot();
        let n = t.requests();
        let rate = (n - prev_n) as f64 / (now - prev_t).as_secs_f64();
        (prev_n, prev_t) = (n, now);
        let line = format!(
            "{:>6.1}s  {:>10} req/s now  {:>10} requests  {} errors  p50 {}  p99 {}",
            (now - start).as_secs_f64(),
            rate.round() as u64,
            n,
            t.errors.iter().sum::<u64>(),
            fmt_ns(t.hist.value_at_quantile(0.5)),
            fmt_ns(t.hist.value_at_quantile(0.99)),
        );
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
    if tty {
        let _ = write!(err, "\r\x1b[2K");
    }
}

/// A latency in nanoseconds, in the unit that suits it.
fn fmt_ns(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{:.1}us", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// What the report says about the run besides the counts.
#[derive(Debug)]
pub struct Report {
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Connections.
    pub connections: usize,
    /// Pipeline depth.
    pub pipeline: usize,
    /// Worker threads.
    pub threads: usize,
    /// From the start to the last answer.
    pub elapsed: Duration,
    /// Open loop: the rate and the number of scheduled sends.
    pub rate: Option<(f64, u64)>,
    /// The warm-up, if one ran: how long it took and how many answers it got (none of them
    /// in the counts above).
    pub warmup: Option<(Duration, u64)>,
}

/// The percentiles of the summary, with their JSON names.
const SUMMARY: [(f64, &str); 6] = [
    (50.0, "p50"),
    (75.0, "p75"),
    (90.0, "p90"),
    (99.0, "p99"),
    (99.9, "p99_9"),
    (99.99, "p99_99"),
];

/// The whole spectrum: (percentile, latency ns, answers at or below it), HdrHistogram style.
fn spectrum(h: &Histogram<u64>) -> Vec<(f64, u64, u64)> {
    h.iter_quantiles(1)
        .map(|v| {
            (
                v.quantile_iterated_to() * 100.0,
                h.highest_equivalent(v.value_iterated_to()),
                v.count_since_last_iteration(),
            )
        })
        .collect()
}

/// The human-readable report.
pub fn text(shared: &Shared, r: &Report, percentiles: bool) -> String {
    let t = shared.snapshot();
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let n = t.requests();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} loop, {} connections, pipeline {}, {} thread(s), {:.2}s",
        r.mode, r.connections, r.pipeline, r.threads, secs
    );
    let _ = writeln!(
        s,
        "  requests   {n}  ({:.1} req/s)\n  bytes      {}  ({:.2} MB/s)",
        n as f64 / secs,
        t.bytes,
        t.bytes as f64 / secs / 1e6
    );
    let _ = writeln!(
        s,
        "  latency    min {}  mean {}  stdev {}  max {}",
        fmt_ns(t.hist.min()),
        fmt_ns(t.hist.mean() as u64),
        fmt_ns(t.hist.stdev() as u64),
        fmt_ns(t.hist.max())
    );
    s.push_str("  percentiles");
    for (p, name) in SUMMARY {
        let _ = write!(
            s,
            "  {}={}",
            &name[1..].replace('_', "."),
            fmt_ns(t.hist.value_at_percentile(p))
        );
    }
    let _ = writeln!(s, "  max={}", fmt_ns(t.hist.max()));
    s.push_str("  status    ");
    for (code, count) in &t.status {
        let _ = write!(s, "  {code}: {count}");
    }
    s.push('\n');
    let _ = write!(s, "  errors     {}", t.errors.iter().sum::<u64>());
    for (name, count) in ERROR_NAMES.iter().zip(t.errors) {
        let _ = write!(s, "  {name}: {count}");
    }
    s.push('\n');
    if let Some((rate, scheduled)) = r.rate {
        let _ = writeln!(
            s,
            "  open loop  {rate} req/s: {scheduled} scheduled, {} sent, {} late (>1ms, max {}), {} dropped",
            t.sent,
            t.late,
            fmt_ns(t.max_late.as_nanos() as u64),
            scheduled.saturating_sub(t.sent)
        );
    }
    if let Some((took, answers)) = r.warmup {
        let _ = writeln!(
            s,
            "  warm-up    {answers} answers in {:.2}s before the run, not counted above",
            took.as_secs_f64()
        );
    }
    if percentiles {
        let _ = writeln!(
            s,
            "  {:>12}  {:>12}  {:>10}",
            "percentile", "latency", "count"
        );
        for (p, ns, c) in spectrum(&t.hist) {
            let _ = writeln!(s, "  {p:>12.5}  {:>12}  {c:>10}", fmt_ns(ns));
        }
    }
    s
}

/// The JSON report (schema in `main.rs`'s `JSON_SCHEMA` and `docs/load.md`).
pub fn json(shared: &Shared, r: &Report, percentiles: bool) -> String {
    use serde_json::{json, Map, Value};
    let t = shared.snapshot();
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let n = t.requests();
    let sec = |ns: u64| ns as f64 / 1e9;
    let mut latency = Map::new();
    latency.insert("min".into(), json!(sec(t.hist.min())));
    latency.insert("mean".into(), json!(t.hist.mean() / 1e9));
    latency.insert("stdev".into(), json!(t.hist.stdev() / 1e9));
    for (p, name) in SUMMARY {
        latency.insert(name.into(), json!(sec(t.hist.value_at_percentile(p))));
    }
    latency.insert("max".into(), json!(sec(t.hist.max())));
    let mut errors = Map::new();
    errors.insert("total".into(), json!(t.errors.iter().sum::<u64>()));
    for (name, count) in ERROR_NAMES.iter().zip(t.errors) {
        errors.insert((*name).into(), json!(count));
    }
    let status: Map<String, Value> = t
        .status
        .iter()
        .map(|(c, n)| (c.to_string(), json!(n)))
        .collect();
    let open = r.rate.map(|(rate, scheduled)| {
        json!({
            "rate": rate,
            "scheduled": scheduled,
            "sent": t.sent,
            "late": t.late,
            "dropped": scheduled.saturating_sub(t.sent),
            "max_late_secs": t.max_late.as_secs_f64(),
        })
    });
    let mut out = json!({
        "mode": r.mode,
        "connections": r.connections,
        "pipeline": r.pipeline,
        "threads": r.threads,
        "duration_secs": secs,
        "requests": n,
        "requests_per_sec": n as f64 / secs,
        "bytes": t.bytes,
        "bytes_per_sec": t.bytes as f64 / secs,
        "errors": errors,
        "status": status,
        "latency": latency,
        "open_loop": open,
        "warmup": r.warmup.map(|(d, n)| json!({"duration_secs": d.as_secs_f64(), "requests": n})),
    });
    if percentiles {
        let list: Vec<Value> = spectrum(&t.hist)
            .into_iter()
            .map(|(p, ns, c)| json!({"percentile": p, "latency_secs": sec(ns), "count": c}))
            .collect();
        out["percentiles"] = Value::Array(list);
    }
    out.to_string()
}

//! The "normal clients" of every scenario: a closed-loop keep-alive driver (a few
//! connections, each sending `GET path` and waiting for the answer before the next) that
//! records each request's latency in an HDR histogram.
//!
//! It runs on its own thread with its own current-thread spindle runtime, so the thousands of
//! attacking tasks on the suite's main runtime do not delay the probe's own polling: what it
//! measures is the server's answer time, plus loopback, plus one idle runtime's wake-up.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use spindle::time::timeout;

use crate::client::{get, Conn};

/// Longest a probe request may take before it counts as an error.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Longest any probe runs even if nobody stops it (a bug elsewhere cannot hang the suite).
const MAX_RUN: Duration = Duration::from_secs(300);

/// What a probe saw.
#[derive(Debug)]
pub struct ProbeResult {
    /// Latency of each successful request, in microseconds.
    pub hist: Histogram<u64>,
    /// Requests answered 200 with the expected body.
    pub ok: u64,
    /// Requests that failed (connect error, timeout, cut, wrong status).
    pub errors: u64,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl ProbeResult {
    /// The p99 latency.
    pub fn p99(&self) -> Duration {
        Duration::from_micros(self.hist.value_at_quantile(0.99))
    }

    /// "p99 1.23 ms over N requests, E errors".
    pub fn summary(&self) -> String {
        format!(
            "p99 {} ({} req, {} err)",
            ms(self.p99()),
            self.ok,
            self.errors
        )
    }
}

/// A running probe; [`Probe::finish`] stops it and returns what it measured.
#[derive(Debug)]
pub struct Probe {
    /// Set to stop the probe's connections after their current request.
    stop: Arc<AtomicBool>,
    /// The probe's thread, which returns the merged result.
    thread: std::thread::JoinHandle<ProbeResult>,
}

impl Probe {
    /// Starts `conns` closed-loop connections sending `GET path` to `addr`, each expecting
    /// 200 and a body containing `expect`.
    pub fn start(
        addr: SocketAddr,
        conns: usize,
        path: &'static str,
        expect: &'static str,
    ) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let rt = spindle::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime needs only an epoll fd");
            rt.block_on(async move {
                let tasks: Vec<_> = (0..conns)
                    .map(|_| spindle::spawn(drive(addr, path, expect, flag.clone())))
                    .collect();
                let mut total = new_histogram();
                let (mut ok, mut errors, mut first_error) = (0, 0, None);
                for t in tasks {
                    if let Ok(r) = t.await {
                        let _ = total.add(&r.hist);
                        ok += r.ok;
                        errors += r.errors;
                        first_error = first_error.or(r.first_error);
                    }
                }
                ProbeResult {
                    hist: total,
                    ok,
                    errors,
                    first_error,
                }
            })
        });
        Probe { stop, thread }
    }

    /// Stops the probe and returns its result (off the worker threads: joining blocks).
    pub async fn finish(self) -> ProbeResult {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread;
        match spindle::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(r)) => r,
            _ => ProbeResult {
                hist: new_histogram(),
                ok: 0,
                errors: 1,
                first_error: Some("the probe thread panicked".into()),
            },
        }
    }

    /// Runs a probe for `duration` and returns its result.
    pub async fn run_for(
        addr: SocketAddr,
        conns: usize,
        path: &'static str,
        expect: &'static str,
        duration: Duration,
    ) -> ProbeResult {
        let probe = Probe::start(addr, conns, path, expect);
        spindle::time::sleep(duration).await;
        probe.finish().await
    }
}

/// One probe connection's loop: connect, then request after request until stopped;
/// reconnect after a failure or a `Connection: close`.
async fn drive(
    addr: SocketAddr,
    path: &'static str,
    expect: &'static str,
    stop: Arc<AtomicBool>,
) -> ProbeResult {
    let mut r = ProbeResult {
        hist: new_histogram(),
        ok: 0,
        errors: 0,
        first_error: None,
    };
    let request = get(path);
    let started = Instant::now();
    let mut conn: Option<Conn> = None;
    while !stop.load(Ordering::SeqCst) && started.elapsed() < MAX_RUN {
        let t0 = Instant::now();
        let outcome = timeout(REQUEST_DEADLINE, async {
            if conn.is_none() {
                conn = Some(
                    Conn::connect(addr)
                        .await
                        .map_err(|e| format!("connect: {e}"))?,
                );
            }
            let c = conn.as_mut().expect("set just above");
            c.send(&request).await.map_err(|e| format!("write: {e}"))?;
            c.response(false).await.map_err(|e| e.to_string())
        })
        .await;
        let failure = match outcome {
            Ok(Ok(resp)) if resp.status == 200 && contains(&resp.body, expect) => {
                let _ = r.hist.record(t0.elapsed().as_micros().max(1) as u64);
                r.ok += 1;
                if resp.close {
                    conn = None;
                }
                None
            }
            Ok(Ok(resp)) => Some(format!("status {}", resp.status)),
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!("no answer in {} s", REQUEST_DEADLINE.as_secs())),
        };
        if let Some(why) = failure {
            r.errors += 1;
            r.first_error.get_or_insert(why);
            conn = None;
            spindle::time::sleep(Duration::from_millis(10)).await; // do not spin on a dead server
        }
    }
    r
}

/// A histogram of microseconds from 1 µs to 10 minutes, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("the bounds above are valid")
}

/// Whether `body` contains `text`.
pub fn contains(body: &[u8], text: &str) -> bool {
    text.is_empty() || crate::client::find(body, text.as_bytes()).is_some()
}

/// A duration as milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

//! The hostile-client scenarios: slowloris, clients that never read, more connections than
//! the server has descriptors, and a saturated blocking pool. In each, a few normal clients
//! (`probe.rs`) keep measuring how the server treats everyone else.
//!
//! Every attacking client is a spindle task on the suite's runtime; every wait it does has a
//! deadline, so a server that misbehaves makes a scenario FAIL, never hang.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use spindle::time::{sleep, sleep_until, timeout};

use crate::client::{get, Conn};
use crate::probe::{Probe, ProbeResult};
use crate::target::DemoOptions;
use crate::{Ctx, Row};

/// Normal clients (probe connections) measuring latency during a scenario.
const PROBE_CONNS: usize = 2;
/// How long any single connect may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// The first bytes a slowloris client sends; after them it sends `a`s forever, so the head
/// never ends.
const SLOW_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: stress\r\nX-Slow: ";

/// Latency under attack may be at most this many times the baseline p99.
const P99_FACTOR: f64 = 2.0;

/// Compares a probe under load with its baseline: "p99 X vs baseline Y (Zx)", and whether
/// it meets the 2x goal with no errors. With `judge_latency` false (`--latency-goals report`)
/// the ratio is reported but only the errors decide.
fn compare(base: &ProbeResult, loaded: &ProbeResult, judge_latency: bool) -> (String, bool) {
    let ratio = loaded.p99().as_secs_f64() / base.p99().as_secs_f64().max(1e-6);
    let text = format!(
        "normal GET / {} vs baseline {} ({ratio:.1}x)",
        loaded.summary(),
        base.summary()
    );
    let ok = base.ok > 0
        && loaded.ok > 0
        && base.errors == 0
        && loaded.errors == 0
        && (ratio <= P99_FACTOR || !judge_latency);
    let text = if judge_latency {
        text
    } else {
        format!("{text} (latency not judged)")
    };
    let text = match &loaded.first_error {
        Some(e) => format!("{text}; first error: {e}"),
        None => text,
    };
    (text, ok)
}

/// How one slowloris client ended.
#[derive(Debug)]
enum SlowEnd {
    /// It received a 408 this long after its first byte, and then the connection closed.
    Got408(Duration),
    /// It received some other answer (the bytes' first line).
    Other(String),
    /// The connection closed with no answer.
    ClosedSilently,
    /// It was still open when the suite gave up on it.
    StillOpen,
    /// It could not connect.
    ConnectFailed,
}

/// Slowloris: many clients each send one byte of a never-ending request head per second.
/// The server must answer each 408 and close it at its header deadline, and meanwhile serve
/// normal clients about as fast as before.
pub async fn slowloris(ctx: &Ctx) -> Row {
    let p = &ctx.profile;
    let n = p.slowloris_clients;
    let deadline = p.header_timeout;
    let goal = format!(
        "{n} clients sending 1 byte/s get 408 and are closed at the {} s head deadline (+1 s); normal p99 <= 2x baseline",
        deadline.as_secs_f64()
    );
    let target = match ctx.target(&DemoOptions {
        header_timeout_ms: Some(deadline.as_millis() as u64),
        ..DemoOptions::default()
    }) {
        Ok(t) => t,
        Err(e) => return Row::error(goal, "server", e),
    };
    let addr = target.addr;
    let base = Probe::run_for(addr, PROBE_CONNS, "/", "Hello", p.baseline).await;
    // 1. The attack, with the probe measuring throughout it.
    let probe = Probe::start(addr, PROBE_CONNS, "/", "Hello");
    let give_up = deadline + Duration::from_secs(5);
    let clients: Vec<_> = (0..n)
        .map(|_| spindle::spawn(slow_client(addr, give_up)))
        .collect();
    let mut ends = Vec::with_capacity(n);
    for c in clients {
        ends.push(c.await.unwrap_or(SlowEnd::ConnectFailed));
    }
    let loaded = probe.finish().await;
    // 2. The verdict: every client closed with a 408, near the deadline.
    let times: Vec<Duration> = ends
        .iter()
        .filter_map(|e| match e {
            SlowEnd::Got408(t) => Some(*t),
            _ => None,
        })
        .collect();
    let count = |f: fn(&SlowEnd) -> bool| ends.iter().filter(|e| f(e)).count();
    let other = ends.iter().find_map(|e| match e {
        SlowEnd::Other(line) => Some(line.clone()),
        _ => None,
    });
    let (lo, hi) = (
        times.iter().min().copied().unwrap_or_default(),
        times.iter().max().copied().unwrap_or_default(),
    );
    let on_time = times.len() == n && hi <= deadline + Duration::from_secs(1);
    let mut measured = format!(
        "{}/{n} got 408 + close, after {:.2}-{:.2} s; silent close {}, still open {}, other answer {}, connect failed {}",
        times.len(),
        lo.as_secs_f64(),
        hi.as_secs_f64(),
        count(|e| matches!(e, SlowEnd::ClosedSilently)),
        count(|e| matches!(e, SlowEnd::StillOpen)),
        count(|e| matches!(e, SlowEnd::Other(_))),
        count(|e| matches!(e, SlowEnd::ConnectFailed)),
    );
    if let Some(line) = other {
        measured.push_str(&format!(" (e.g. {line:?})"));
    }
    let (latency, fast) = compare(&base, &loaded, ctx.judge_latency);
    drop(target);
    Row::judge(goal, format!("{measured}; {latency}"), on_time && fast)
}

/// One slowloris client: a byte of head per second until the server answers or closes, or
/// until `give_up` after the first byte.
async fn slow_client(addr: SocketAddr, give_up: Duration) -> SlowEnd {
    let Ok(Ok(mut conn)) = timeout(CONNECT_DEADLINE, Conn::connect(addr)).await else {
        return SlowEnd::ConnectFailed;
    };
    let first_byte = Instant::now();
    for i in 0.. {
        if first_byte.elapsed() > give_up {
            return SlowEnd::StillOpen;
        }
        let byte = SLOW_HEAD.get(i).copied().unwrap_or(b'a');
        // A failed write means the server has closed: what it sent first (if anything) is
        // still readable below.
        let _ = conn.send(&[byte]).await;
        match timeout(Duration::from_secs(1), conn.read_some()).await {
            Err(_) => continue, // a second without an answer: send the next byte
            Ok(Ok(n)) if n > 0 => return answered(&mut conn, first_byte).await,
            Ok(_) => {
                return if conn.buffered().is_empty() {
                    SlowEnd::ClosedSilently
                } else {
                    answered(&mut conn, first_byte).await
                }
            }
        }
    }
    unreachable!("the loop above only ends by returning")
}

/// A slowloris client got bytes: a 408 followed by the close is the expected end.
async fn answered(conn: &mut Conn, first_byte: Instant) -> SlowEnd {
    let at = first_byte.elapsed();
    let first_line = |c: &Conn| {
        let b = c.buffered();
        let end = crate::client::find(b, b"\r\n").unwrap_or(b.len().min(60));
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    if !conn.buffered().starts_with(b"HTTP/1.1 408") {
        return SlowEnd::Other(first_line(conn));
    }
    // The server must also close: read to the end (bounded).
    let closed = timeout(Duration::from_secs(2), async {
        loop {
            match conn.read_some().await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    match closed {
        Ok(()) => SlowEnd::Got408(at),
        Err(_) => SlowEnd::Other("408 without closing the connection".into()),
    }
}

/// Never-reading clients: each asks for a large streamed response and never reads a byte.
/// The server must not buffer those responses (its RSS stays bounded) and must keep serving.
pub async fn never_reading(ctx: &Ctx) -> Row {
    let p = &ctx.profile;
    let n = p.never_read_clients;
    // What the server may hold per stalled response by design: one 64 KiB write batch
    // (`STREAM_BATCH_BYTES` in http/src/conn.rs), the producer's 16-chunk channel and the
    // connection's own buffers. A server that buffered the whole response would need ~1.2 MB.
    let per_client_kib = 128;
    let goal = format!(
        "{n} clients GET /stream?n=100000 (1.2 MB each) and never read: RSS growth <= {per_client_kib} KiB per client and not rising; others served, 0 errors"
    );
    let target = match ctx.target(&DemoOptions::default()) {
        Ok(t) => t,
        Err(e) => return Row::error(goal, "server", e),
    };
    let addr = target.addr;
    let rss_before = target.rss_kib();
    let probe = Probe::start(addr, PROBE_CONNS, "/", "Hello");
    // 1. The stalled clients: connect, ask, then hold the connection unread until `release`.
    let release = Instant::now() + p.never_read_hold;
    let clients: Vec<_> = (0..n)
        .map(|_| {
            spindle::spawn(async move {
                let conn = timeout(CONNECT_DEADLINE, Conn::connect(addr))
                    .await
                    .ok()?
                    .ok()?;
                conn.send(&get("/stream?n=100000")).await.ok()?;
                sleep_until(release).await;
                Some(())
            })
        })
        .collect();
    // 2. RSS while they hold: the peak, and the samples of the second half. Sampling stops
    // short of `release`, so that no sample is taken after the clients have gone.
    let mut samples = Vec::new();
    while Instant::now() + Duration::from_millis(300) < release {
        sleep(Duration::from_millis(250)).await;
        samples.extend(target.rss_kib());
    }
    let mut sent = 0;
    for c in clients {
        sent += usize::from(matches!(c.await, Ok(Some(()))));
    }
    let loaded = probe.finish().await;
    // 3. Served afterwards too.
    let after = Probe::run_for(addr, PROBE_CONNS, "/", "Hello", Duration::from_millis(500)).await;
    let served = loaded.ok > 0 && loaded.errors == 0 && after.ok > 0 && after.errors == 0;
    let probe_text = format!("during: {}; after: {}", loaded.summary(), after.summary());
    let (rss_text, rss_ok) = match (rss_before, samples.iter().max()) {
        (Some(before), Some(&peak)) => {
            let half = &samples[samples.len() / 2..];
            let mid = half.first().copied().unwrap_or(peak);
            let end = half.last().copied().unwrap_or(peak);
            let growth = peak.saturating_sub(before);
            let ok = growth <= per_client_kib * n as u64 && end <= mid + 1024;
            (
                format!(
                    "RSS {before} KiB before, peak {peak} KiB (+{} KiB/client), {mid} -> {end} KiB over the second half",
                    growth / n.max(1) as u64
                ),
                ok,
            )
        }
        _ => ("RSS n/a (--url)".to_string(), true),
    };
    let verdict_ok = sent == n && served && rss_ok;
    Row::judge(
        goal,
        format!("{sent}/{n} stalled; {rss_text}; {probe_text}"),
        verdict_ok,
    )
}

/// Descriptor exhaustion: the server runs under a low `ulimit -n` and 2x that many clients
/// connect at once and stay. It must not crash, must not spin on the failing `accept` (its
/// CPU time while saturated stays low), and must serve normally once they leave.
pub async fn fd_exhaustion(ctx: &Ctx) -> Row {
    let p = &ctx.profile;
    let limit = p.fd_limit;
    let n = 2 * limit as usize;
    let max_cpu = 0.10;
    let goal = format!(
        "server under ulimit -n {limit}, {n} connections at once: no crash, CPU < {:.0}% of a core while saturated, normal service after",
        max_cpu * 100.0
    );
    let mut target = match ctx.target(&DemoOptions {
        nofile: Some(limit),
        ..DemoOptions::default()
    }) {
        Ok(t) => t,
        Err(e) => return Row::error(goal, "server", e),
    };
    let addr = target.addr;
    // 1. The flood: every client connects, asks `GET /`, and holds its connection until
    // `release`, answered or not.
    let release = Instant::now() + Duration::from_secs(1) + p.fd_hold;
    let clients: Vec<_> = (0..n)
        .map(|_| spindle::spawn(hold_client(addr, release)))
        .collect();
    // 2. CPU over the saturated period (after a second to let the flood arrive).
    sleep(Duration::from_secs(1)).await;
    let cpu_start = target.cpu_time();
    let t0 = Instant::now();
    sleep_until(release).await;
    let cpu = match (cpu_start, target.cpu_time()) {
        (Some(a), Some(b)) => Some((b - a).as_secs_f64() / t0.elapsed().as_secs_f64()),
        _ => None,
    };
    let (mut answered, mut connected) = (0, 0);
    for c in clients {
        match c.await {
            Ok(HoldEnd::Answered) => {
                answered += 1;
                connected += 1;
            }
            Ok(HoldEnd::Connected) => connected += 1,
            _ => {}
        }
    }
    // 3. Afterwards: still running, and serving.
    sleep(Duration::from_millis(500)).await;
    let alive = target.running();
    let after = Probe::run_for(addr, PROBE_CONNS, "/", "Hello", Duration::from_secs(1)).await;
    let cpu_text = match cpu {
        Some(c) => format!("server CPU {:.1}% of a core while saturated", c * 100.0),
        None => "server CPU n/a (--url)".into(),
    };
    let ok = alive
        && !matches!(cpu, Some(c) if c > max_cpu)
        && after.ok > 0
        && after.errors == 0
        && answered > 0;
    let exit = match target.exit_status() {
        Some(s) => format!("; server exited: {s}"),
        None => String::new(),
    };
    Row::judge(
        goal,
        format!(
            "{connected}/{n} connected, {answered} answered while saturated; {cpu_text}; after: {}{exit}",
            after.summary()
        ),
        ok,
    )
}

/// How a descriptor-exhaustion client ended.
#[derive(Debug)]
enum HoldEnd {
    /// Connected and got its answer.
    Answered,
    /// Connected (the kernel completed the handshake) but was not answered before release.
    Connected,
    /// Could not connect.
    Failed,
}

/// Connects, sends `GET /`, waits for the answer until `release`, then closes.
async fn hold_client(addr: SocketAddr, release: Instant) -> HoldEnd {
    let Ok(Ok(mut conn)) = timeout(CONNECT_DEADLINE, Conn::connect(addr)).await else {
        return HoldEnd::Failed;
    };
    if conn.send(&get("/")).await.is_err() {
        return HoldEnd::Connected;
    }
    let wait = release.saturating_duration_since(Instant::now());
    let end = match timeout(wait, conn.response(false)).await {
        Ok(Ok(r)) if r.status == 200 => HoldEnd::Answered,
        _ => HoldEnd::Connected,
    };
    sleep_until(release).await;
    end
}

/// Blocking-pool saturation: many concurrent requests to a handler that blocks a pool thread
/// for 500 ms. They queue for the pool; `GET /` (an async handler) must not queue with them.
pub async fn blocking_pool(ctx: &Ctx) -> Row {
    let p = &ctx.profile;
    let n = p.blocking_requests;
    let goal = format!(
        "{n} concurrent GET /blocking?ms=500 all answered; GET / p99 meanwhile <= 2x baseline"
    );
    let target = match ctx.target(&DemoOptions::default()) {
        Ok(t) => t,
        Err(e) => return Row::error(goal, "server", e),
    };
    let addr = target.addr;
    let base = Probe::run_for(addr, PROBE_CONNS, "/", "Hello", p.baseline).await;
    let probe = Probe::start(addr, PROBE_CONNS, "/", "Hello");
    let t0 = Instant::now();
    let requests: Vec<_> = (0..n)
        .map(|_| {
            spindle::spawn(async move {
                let exchange = async {
                    let mut conn = Conn::connect(addr).await.ok()?;
                    conn.send(&get("/blocking?ms=500")).await.ok()?;
                    conn.response(false).await.ok()
                };
                matches!(
                    timeout(Duration::from_secs(60), exchange).await,
                    Ok(Some(r)) if r.status == 200
                )
            })
        })
        .collect();
    let mut answered = 0;
    for r in requests {
        answered += usize::from(matches!(r.await, Ok(true)));
    }
    let took = t0.elapsed();
    let loaded = probe.finish().await;
    let (latency, fast) = compare(&base, &loaded, ctx.judge_latency);
    let row = Row::judge(
        goal,
        format!(
            "{answered}/{n} answered 200 in {:.2} s; {latency}",
            took.as_secs_f64()
        ),
        answered == n && fast,
    );
    drop(target);
    row
}

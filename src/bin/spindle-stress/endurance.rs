//! The long-haul scenarios: a soak of mixed routes (errors and RSS over time), SIGTERM
//! under load (no response cut mid-way), and 10,000 idle keep-alive connections (RSS per
//! connection, then all answered again).
//!
//! Like `attacks.rs`, every client is a spindle task on the suite's runtime and every wait
//! has a deadline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::time::{sleep, sleep_until, timeout};

use crate::client::{get, post, Conn, ReadError};
use crate::probe::Probe;
use crate::target::DemoOptions;
use crate::{Ctx, Row, Verdict};

/// Longest one request of the soak or shutdown load may take.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Server RSS per idle keep-alive connection may be at most this (DESIGN.md).
const IDLE_BYTES_PER_CONN: u64 = 2048;
/// Idle connections are opened this many at a time (the listen backlog is 1024).
const CONNECT_WAVE: usize = 500;

/// One request of a mixed load and what a correct answer holds.
struct Exchange {
    /// The request bytes.
    request: Vec<u8>,
    /// The body must equal this (`exact`) or contain it.
    expect: Vec<u8>,
    /// Whether `expect` is the whole body.
    exact: bool,
}

/// The `i`th request of load connection `c` in the soak: a cycle over six routes.
fn soak_exchange(c: usize, i: u64) -> Exchange {
    let contains = |request: Vec<u8>, text: &str| Exchange {
        request,
        expect: text.as_bytes().to_vec(),
        exact: false,
    };
    match i % 6 {
        0 => contains(get("/"), "Hello, World!"),
        1 => Exchange {
            request: get(&format!("/users/{c}-{i}")),
            expect: format!("user {c}-{i}\n").into_bytes(),
            exact: true,
        },
        2 => {
            let body = format!("soak {c} {i} ").repeat(8).into_bytes();
            Exchange {
                request: post("/echo", &body),
                expect: body,
                exact: true,
            }
        }
        3 => contains(get("/json"), "spindle"),
        4 => Exchange {
            request: get("/stream?n=10"),
            expect: (0..10)
                .map(|k| format!("chunk {k}\n"))
                .collect::<String>()
                .into_bytes(),
            exact: true,
        },
        _ => contains(get("/sleep?ms=1"), "slept 1 ms"),
    }
}

/// The `i`th request of load connection `c` under shutdown: short, slow, long streamed and
/// body-carrying requests, so that SIGTERM finds some of each in flight.
fn shutdown_exchange(c: usize, i: u64) -> Exchange {
    match i % 4 {
        0 => Exchange {
            request: get("/"),
            expect: b"Hello, World!".to_vec(),
            exact: true,
        },
        1 => Exchange {
            request: get("/sleep?ms=50"),
            expect: b"slept 50 ms on a timer\n".to_vec(),
            exact: true,
        },
        2 => Exchange {
            request: get("/stream?n=2000"),
            expect: (0..2000)
                .map(|k| format!("chunk {k}\n"))
                .collect::<String>()
                .into_bytes(),
            exact: true,
        },
        _ => {
            let body = format!("drain {c} {i} ").repeat(64).into_bytes();
            Exchange {
                request: post("/echo", &body),
                expect: body,
                exact: true,
            }
        }
    }
}

/// How one request of a load ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// A complete 200 with the expected body.
    Ok,
    /// The connect failed (after SIGTERM: refused, a clean "no").
    ConnectFailed,
    /// The request could not be written, or the connection closed before any byte of a
    /// response: clean, the client knows nothing was answered.
    ClosedClean,
    /// The connection ended part-way through a response.
    Cut,
    /// A complete response, but the wrong status or body (the text says which).
    Bad(String),
    /// No answer within the deadline.
    TimedOut,
}

/// Sends one exchange on `conn` (connecting first if it is `None`) and classifies the end.
/// Leaves `conn` as `None` when the connection cannot be reused.
async fn exchange(addr: SocketAddr, conn: &mut Option<Conn>, ex: &Exchange) -> Outcome {
    let outcome = timeout(REQUEST_DEADLINE, async {
        if conn.is_none() {
            match Conn::connect(addr).await {
                Ok(c) => *conn = Some(c),
                Err(_) => return Outcome::ConnectFailed,
            }
        }
        let c = conn.as_mut().expect("connected just above");
        if c.send(&ex.request).await.is_err() {
            return Outcome::ClosedClean;
        }
        match c.response(false).await {
            Ok(r) if r.status != 200 => Outcome::Bad(format!("status {}", r.status)),
            Ok(r) => {
                let right = if ex.exact {
                    r.body == ex.expect
                } else {
                    crate::client::find(&r.body, &ex.expect).is_some()
                };
                if r.close {
                    *conn = None;
                }
                if right {
                    Outcome::Ok
                } else {
                    Outcome::Bad(format!("wrong body ({} bytes)", r.body.len()))
                }
            }
            Err(ReadError::Closed { received: 0 }) => Outcome::ClosedClean,
            Err(ReadError::Closed { .. }) => Outcome::Cut,
            Err(ReadError::Malformed(why)) => Outcome::Bad(why),
        }
    })
    .await
    .unwrap_or(Outcome::TimedOut);
    if outcome != Outcome::Ok {
        *conn = None;
    }
    outcome
}

/// Soak: a minute of mixed routes on keep-alive connections; every answer must be right,
/// and the server's RSS, sampled at a fixed interval, must not creep upwards.
pub async fn soak(ctx: &Ctx) -> Row {
    let p = &ctx.profile;
    // The first quarter is warm-up (per-thread allocator arenas, connection buffers reaching
    // their working size); from the first sample after it, no sample may exceed it by more
    // than max(5%, 1 MiB). A leak, which grows at a steady rate, cannot pass that.
    let settled_from = p.soak / 4;
    // The short profile's soak (10 s) is warm-up from end to end: its RSS series is printed,
    // but only a soak of a minute or more can tell a leak from a working set still growing.
    let judge_rss = p.soak >= Duration::from_secs(60);
    let goal = if judge_rss {
        format!(
            "{} s of mixed routes on {} connections: 0 errors; RSS flat after warm-up (every sample from {} s on within max(5%, 1 MiB) of that one)",
            p.soak.as_secs(),
            p.load_conns,
            settled_sample(settled_from, p.soak_sample).as_secs()
        )
    } else {
        format!(
            "{} s of mixed routes on {} connections: 0 errors (RSS reported; flatness is judged by soaks of 60 s or more)",
            p.soak.as_secs(),
            p.load_conns
        )
    };
    let target = match ctx.target(&DemoOptions::default()) {
        Ok(t) => t,
        Err(e) => return Row::error(goal, "server", e),
    };
    let addr = target.addr;
    let start = Instant::now();
    let end = start + p.soak;
    let workers: Vec<_> = (0..p.load_conns)
        .map(|c| {
            spindle::spawn(async move {
                let (mut ok, mut errors, mut first_error) = (0u64, 0u64, None);
                let mut conn = None;
                let mut i = 0;
                while Instant::now() < end {
                    let outcome = exchange(addr, &mut conn, &soak_exchange(c, i)).await;
                    if outcome == Outcome::Ok {
                        ok += 1;
                    } else {
                        errors += 1;
                        first_error.get_or_insert(format!("request {i}: {outcome:?}"));
                        sleep(Duration::from_millis(10)).await;
                    }
                    i += 1;
                }
                (ok, errors, first_error)
            })
        })
        .collect();
    // RSS at 0, one interval, two intervals, ... through the end.
    let mut series = Vec::new();
    let mut next = start;
    while next <= end {
        sleep_until(next).await;
        series.extend(target.rss_kib());
        next += p.soak_sample;
    }
    let (mut ok, mut errors, mut first_error) = (0, 0, None);
    for w in workers {
        match w.await {
            Ok((o, e, f)) => {
                ok += o;
                errors += e;
                first_error = first_error.or(f);
            }
            Err(_) => errors += 1,
        }
    }
    let rate = ok as f64 / start.elapsed().as_secs_f64();
    let mut measured = format!("{ok} requests ({rate:.0}/s), {errors} errors");
    if let Some(e) = first_error {
        measured.push_str(&format!(" (first: {e})"));
    }
    let first_settled = (settled_sample(settled_from, p.soak_sample).as_millis()
        / p.soak_sample.as_millis().max(1)) as usize;
    let flat = match series.get(first_settled) {
        Some(&settled) => {
            let list: Vec<String> = series
                .iter()
                .map(|k| format!("{:.1}", *k as f64 / 1024.0))
                .collect();
            measured.push_str(&format!(
                "; RSS MiB every {} s: {}",
                p.soak_sample.as_secs(),
                list.join(" ")
            ));
            let limit = settled + (settled / 20).max(1024);
            !judge_rss || series[first_settled..].iter().all(|&k| k <= limit)
        }
        _ => {
            measured.push_str("; RSS n/a (--url)");
            true
        }
    };
    drop(target);
    Row::judge(goal, measured, errors == 0 && ok > 0 && flat)
}

/// The time of the first RSS sample at or after `from`, for samples every `every`.
fn settled_sample(from: Duration, every: Duration) -> Duration {
    let every_ms = every.as_millis().max(1);
    let k = from.as_millis().div_ceil(every_ms);
    Duration::from_millis((k * every_ms) as u64)
}

/// Shutdown under load: SIGTERM while load connections (half keep-alive, half a new
/// connection per request) run mixed requests. Every request must be answered completely or
/// refused cleanly (connect refused, or closed before any byte); a cut response is a FAIL.
pub async fn shutdown(ctx: &Ctx) -> Row {
    let p = &ctx.profile;
    let goal = format!(
        "SIGTERM during load ({} connections): no response cut, none unanswered past 10 s; clean exit",
        p.load_conns
    );
    if !ctx.owns_server() {
        return Row {
            goal,
            measured: "needs the server's pid to send SIGTERM: run without --url".into(),
            verdict: Verdict::NotApplicable,
        };
    }
    let mut target = match ctx.target(&DemoOptions::default()) {
        Ok(t) => t,
        Err(e) => return Row::error(goal, "server", e),
    };
    let addr = target.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let hard_end = Instant::now() + p.shutdown_after + Duration::from_secs(30);
    let workers: Vec<_> = (0..p.load_conns)
        .map(|c| {
            let stop = stop.clone();
            spindle::spawn(async move {
                let mut outcomes = Vec::new();
                let mut conn = None;
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) && Instant::now() < hard_end {
                    let outcome = exchange(addr, &mut conn, &shutdown_exchange(c, i)).await;
                    if c % 2 == 1 {
                        conn = None; // a new connection per request
                    }
                    if outcome == Outcome::ConnectFailed {
                        sleep(Duration::from_millis(5)).await; // nothing listens: do not spin
                    }
                    outcomes.push((Instant::now(), outcome));
                    i += 1;
                }
                outcomes
            })
        })
        .collect();
    sleep(p.shutdown_after).await;
    let term = Instant::now();
    let termed = target.terminate();
    // Wait for the exit off the worker (it polls the child), then stop the load.
    let (target, exited) = spindle::task::spawn_blocking(move || {
        let status = target.wait_exit(Duration::from_secs(20));
        (target, status)
    })
    .await
    .expect("the wait closure does not panic");
    let exit_after = term.elapsed();
    sleep(Duration::from_millis(200)).await; // let clients see the refusals
    stop.store(true, Ordering::SeqCst);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    drop(target);
    // The tally, split at the signal.
    let count = |f: &dyn Fn(&Outcome) -> bool| all.iter().filter(|(_, o)| f(o)).count();
    let ok_before = all
        .iter()
        .filter(|(t, o)| *t < term && *o == Outcome::Ok)
        .count();
    let ok_after = all
        .iter()
        .filter(|(t, o)| *t >= term && *o == Outcome::Ok)
        .count();
    let refused = count(&|o| *o == Outcome::ConnectFailed);
    let clean = count(&|o| *o == Outcome::ClosedClean);
    let cut = count(&|o| *o == Outcome::Cut);
    let timed_out = count(&|o| *o == Outcome::TimedOut);
    let bad: Vec<&Outcome> = all
        .iter()
        .map(|(_, o)| o)
        .filter(|o| matches!(o, Outcome::Bad(_)))
        .collect();
    let exit_text = match exited {
        Some(s) => format!(
            "exited ({s}) {:.2} s after SIGTERM",
            exit_after.as_secs_f64()
        ),
        None => "did not exit within 20 s of SIGTERM".into(),
    };
    let mut measured = format!(
        "{ok_before} answered before SIGTERM, {ok_after} after; {refused} connects refused, {clean} closed before any byte; {cut} cut mid-response, {} wrong, {timed_out} timed out; {exit_text}",
        bad.len()
    );
    if let Some(b) = bad.first() {
        measured.push_str(&format!(" (first wrong: {b:?})"));
    }
    let pass = termed
        && exited.is_some_and(|s| s.success())
        && ok_before > 0
        && cut == 0
        && bad.is_empty()
        && timed_out == 0;
    Row::judge(goal, measured, pass)
}

/// Idle keep-alive connections: open many, each answered once and then idle; the server's
/// RSS growth per connection must stay within 2 KiB, and each must be answered again.
pub async fn idle_keepalive(ctx: &Ctx) -> Row {
    let n = ctx.profile.idle_conns;
    let goal = format!(
        "{n} idle keep-alive connections: server RSS <= {IDLE_BYTES_PER_CONN} B per connection; all answered again"
    );
    if ctx.nofile < n as u64 + 64 {
        return Row::error(
            goal,
            "driver",
            format!("own ulimit -n is {}, needs {}", ctx.nofile, n + 64),
        );
    }
    let target = match ctx.target(&DemoOptions {
        max_connections: Some(n + 1000),
        nofile: Some((n as u64 + 1024).min(ctx.nofile)),
        ..DemoOptions::default()
    }) {
        Ok(t) => t,
        Err(e) => return Row::error(goal, "server", e),
    };
    let addr = target.addr;
    // 1. Warm the server (its first requests allocate per-worker buffers), then the baseline.
    let warm = Probe::run_for(addr, 2, "/", "Hello", Duration::from_millis(300)).await;
    sleep(Duration::from_millis(500)).await;
    let rss_before = target.rss_kib();
    // 2. Open them in waves; each is answered once and then left idle.
    let t0 = Instant::now();
    let mut conns = Vec::with_capacity(n);
    let mut first_error = None;
    while conns.len() < n && t0.elapsed() < Duration::from_secs(120) {
        let wave: Vec<_> = (0..CONNECT_WAVE.min(n - conns.len()))
            .map(|_| {
                spindle::spawn(async move {
                    timeout(Duration::from_secs(20), async {
                        let mut c = Conn::connect(addr)
                            .await
                            .map_err(|e| format!("connect: {e}"))?;
                        c.send(&get("/")).await.map_err(|e| format!("write: {e}"))?;
                        match c.response(false).await {
                            Ok(r) if r.status == 200 && !r.close => Ok(c),
                            Ok(r) => Err(format!("status {} close {}", r.status, r.close)),
                            Err(e) => Err(e.to_string()),
                        }
                    })
                    .await
                    .unwrap_or_else(|_| Err("no answer in 20 s".into()))
                })
            })
            .collect();
        let before = conns.len();
        for t in wave {
            match t.await {
                Ok(Ok(c)) => conns.push(c),
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        if conns.len() == before {
            break; // a whole wave failed: stop rather than retry forever
        }
    }
    let opened = conns.len();
    let open_time = t0.elapsed();
    sleep(Duration::from_secs(1)).await;
    let rss_after = target.rss_kib();
    // 3. Every idle connection is answered again.
    let again: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            spindle::spawn(async move {
                let exchange = async {
                    c.send(&get("/")).await.ok()?;
                    c.response(false).await.ok()
                };
                matches!(timeout(Duration::from_secs(20), exchange).await, Ok(Some(r)) if r.status == 200)
            })
        })
        .collect();
    let mut answered = 0;
    for t in again {
        answered += usize::from(matches!(t.await, Ok(true)));
    }
    let (rss_text, rss_ok) = match (rss_before, rss_after) {
        (Some(a), Some(b)) if opened > 0 => {
            let per = b.saturating_sub(a) * 1024 / opened as u64;
            (
                format!("RSS {a} -> {b} KiB = {per} B per connection"),
                per <= IDLE_BYTES_PER_CONN,
            )
        }
        _ => ("RSS n/a (--url)".into(), true),
    };
    let mut measured = format!(
        "{opened}/{n} opened and answered in {:.1} s; {rss_text}; {answered}/{n} answered again",
        open_time.as_secs_f64()
    );
    if let Some(e) = first_error {
        measured.push_str(&format!(" (first failure: {e})"));
    }
    let pass = warm.ok > 0 && opened == n && answered == n && rss_ok;
    drop(target);
    Row::judge(goal, measured, pass)
}

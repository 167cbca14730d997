//! What the scheduling trace costs per recorded event: the same workload run with the flight
//! recorder off and on, alternately, and the difference divided by the events recorded
//! (`docs/benchmarks.md`, "The scheduling trace: cost").
//!
//! ```text
//! cargo run --release -p spindle --example trace_cost [N] [ROUNDS]
//! ```
//!
//! The workload: one task yields N times on a current-thread runtime. Each yield is a wake and
//! a poll, so with tracing on it records two events (a `wake` and a poll slice); the poll's
//! two clock reads and the wake's one are part of the cost, as they are in a real run. Rounds
//! alternate off and on, and each side's median is printed, with the ring size kept at the
//! default so that the rings wrap as they do in a long run.

use std::time::{Duration, Instant};

/// One run: a current-thread runtime (traced or not) whose task yields `n` times.
fn run(n: u64, traced: bool) -> Duration {
    let rt = spindle::Builder::new_current_thread()
        .trace_events_per_thread(if traced {
            spindle::trace::DEFAULT_EVENTS_PER_THREAD
        } else {
            0
        })
        .build()
        .unwrap();
    let start = Instant::now();
    rt.block_on(async move {
        spindle::spawn(async move {
            for _ in 0..n {
                spindle::task::yield_now().await;
            }
        })
        .await
        .unwrap()
    });
    let elapsed = start.elapsed();
    assert_eq!(rt.handle().is_tracing(), traced);
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    run(n / 10, false); // warm up: page in the code and the allocator
    run(n / 10, true);
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        // Alternate which side goes first, so a drift in the machine's load hits both.
        if r % 2 == 0 {
            off.push(run(n, false));
            on.push(run(n, true));
        } else {
            on.push(run(n, true));
            off.push(run(n, false));
        }
    }
    let (off, on) = (median(off), median(on));
    let per_op = |d: Duration| d.as_nanos() as f64 / n as f64;
    let events = 2.0; // a wake and a poll per yield
    println!("{n} yields, median of {rounds} rounds each:");
    println!("  tracing off: {:.1} ns per yield", per_op(off));
    println!("  tracing on:  {:.1} ns per yield", per_op(on));
    println!(
        "  cost per recorded event: {:.1} ns ({events} events per yield)",
        (per_op(on) - per_op(off)) / events
    );
}

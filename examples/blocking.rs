//! The blocking pool: `spawn_blocking` is spindle's `run_in_executor`.
//!
//! Run it with `cargo run --example blocking`. It shows:
//! 1. a blocking call (`std::thread::sleep`) inside an async task stalls every task on that
//!    worker: on a 1-worker runtime a 10 ms ticker sees a gap of about 150 ms;
//! 2. the same call moved to `spawn_blocking` leaves the worker free: the gaps stay near 10 ms;
//! 3. the pool's cap: eight 50 ms closures on a pool of at most two threads take about four
//!    rounds (about 200 ms), and use two distinct threads.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use spindle::task::spawn_blocking;
use spindle::time::{interval, sleep};

/// Runs a 10 ms ticker task next to `work` on the same runtime for 200 ms and returns the
/// longest gap the ticker saw between two ticks: about 10 ms when its worker is free.
async fn longest_tick_gap<F: std::future::Future<Output = ()>>(work: F) -> Duration {
    let ticker = spindle::spawn(async {
        let mut every = interval(Duration::from_millis(10));
        let until = Instant::now() + Duration::from_millis(200);
        let mut last = Instant::now();
        let mut longest = Duration::ZERO;
        while Instant::now() < until {
            every.tick().await;
            longest = longest.max(last.elapsed());
            last = Instant::now();
        }
        longest
    });
    sleep(Duration::from_millis(5)).await; // let the ticker start
    work.await;
    ticker.await.expect("the ticker completes")
}

fn main() {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .build()
        .expect("build the runtime");

    // 1. and 2. The same 150 ms of blocking, done wrong and done right.
    let wrong = rt.block_on(async {
        longest_tick_gap(async {
            spindle::spawn(async { std::thread::sleep(Duration::from_millis(150)) })
                .await
                .expect("the task completes");
        })
        .await
    });
    let right = rt.block_on(async {
        longest_tick_gap(async {
            spawn_blocking(|| std::thread::sleep(Duration::from_millis(150)))
                .await
                .expect("the closure completes");
        })
        .await
    });
    println!("longest gap between 10 ms ticks, blocking on the worker: {wrong:?}");
    println!("longest gap between 10 ms ticks, blocking in the pool:   {right:?}");

    // 3. The cap: at most two closures run at once.
    let (elapsed, threads) = rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                spawn_blocking(|| {
                    std::thread::sleep(Duration::from_millis(50));
                    std::thread::current().id()
                })
            })
            .collect();
        let mut threads = HashSet::new();
        for h in handles {
            threads.insert(h.await.expect("the closure completes"));
        }
        (start.elapsed(), threads.len())
    });
    println!("8 closures of 50 ms on at most 2 threads took {elapsed:?} on {threads} threads");
}

//! Timers: `sleep`, `timeout` and `interval`, the spindle versions of `asyncio.sleep`,
//! `asyncio.wait_for` and a periodic loop.
//!
//! Run it with `cargo run --example timers`. It prints, in order:
//! 1. three tasks sleeping 30, 10 and 20 ms waking in deadline order, not spawn order;
//! 2. a `timeout` that the future wins and one that the deadline wins;
//! 3. five ticks of a 10 ms `interval`, with their offsets from the first tick.

use std::time::{Duration, Instant};

use spindle::time::{interval, sleep, timeout};

fn main() {
    let rt = spindle::Runtime::new().expect("build the runtime");
    rt.block_on(async {
        // 1. Sleeps wake in deadline order, whatever order they were started in.
        let start = Instant::now();
        let handles: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                spindle::spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    println!("sleep({ms} ms) woke after {:?}", start.elapsed());
                })
            })
            .collect();
        for h in handles {
            h.await.expect("the sleeping task completes");
        }

        // 2. timeout: Ok if the future finishes first, Err(Elapsed) if the deadline comes first.
        let quick = timeout(Duration::from_millis(100), sleep(Duration::from_millis(5))).await;
        println!("timeout(100 ms, sleep 5 ms)  = {quick:?}");
        let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(10))).await;
        match slow {
            Ok(()) => println!("timeout(5 ms, sleep 10 s) = Ok (unexpected)"),
            Err(e) => println!("timeout(5 ms, sleep 10 s)    = Err({e})"),
        }

        // 3. interval: the first tick is immediate, then one every period, on a fixed grid.
        let mut ticker = interval(Duration::from_millis(10));
        let first = ticker.tick().await;
        for _ in 0..5 {
            let tick = ticker.tick().await;
            println!("tick at +{:?}", tick - first);
        }
    });
}

//! `asyncio.gather`, `asyncio.sleep` and `run_in_executor`, in spindle.
//!
//! Run: `cargo run --release --example gather`
//!
//! Three "requests" each wait 100 ms on a timer. Awaited one after another they take ~300 ms;
//! spawned and joined (gather) they take ~100 ms, because a sleeping task costs no thread.
//! Then the same with a *blocking* sleep: inside async tasks on a 1-worker runtime the sleeps
//! run one after another (the worker is stuck), while `spawn_blocking` runs them side by side.

use std::time::{Duration, Instant};

use spindle::future::join_all;
use spindle::task::spawn_blocking;
use spindle::time::sleep;

async fn fake_request(id: u32) -> u32 {
    sleep(Duration::from_millis(100)).await;
    id
}

fn main() {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let t = Instant::now();
        for id in 0..3 {
            fake_request(id).await;
        }
        println!(
            "sequential awaits of 3 x 100 ms timers:   {:>4} ms",
            t.elapsed().as_millis()
        );

        let t = Instant::now();
        let ids = join_all((0..3).map(|id| spindle::spawn(fake_request(id)))).await;
        println!(
            "gathered 3 x 100 ms timers (join_all):    {:>4} ms  {:?}",
            t.elapsed().as_millis(),
            ids.into_iter().map(Result::unwrap).collect::<Vec<_>>()
        );

        let t = Instant::now();
        let blocked = (0..3)
            .map(|_| spindle::spawn(async { std::thread::sleep(Duration::from_millis(100)) }));
        join_all(blocked).await;
        println!(
            "3 x blocking 100 ms sleeps in async tasks: {:>4} ms  (the one worker is stuck)",
            t.elapsed().as_millis()
        );

        let t = Instant::now();
        join_all((0..3).map(|_| spawn_blocking(|| std::thread::sleep(Duration::from_millis(100)))))
            .await;
        println!(
            "3 x blocking sleeps via spawn_blocking:    {:>4} ms  (run_in_executor)",
            t.elapsed().as_millis()
        );
    });
}

//! How precise spindle's timers are, and what pending timers cost while they wait.
//!
//! Run: `cargo run --release --example timer_accuracy`
//!
//! 1. 200 sequential `sleep(10 ms)` on an otherwise idle runtime: how late each one wakes
//!    (never early), as p50 / p99 / max.
//! 2. 100,000 tasks each sleeping 10 s: the process's CPU time (user + sys, from
//!    `/proc/self/stat`) over one second of waiting. A wheel with a parked worker should
//!    use (almost) none.

use std::time::{Duration, Instant};

/// user + sys CPU time of this process, in clock ticks (usually 10 ms each).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn main() {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        // 1.
        let mut late = Vec::with_capacity(200);
        for _ in 0..200 {
            let start = Instant::now();
            spindle::time::sleep(Duration::from_millis(10)).await;
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(10),
                "a sleep woke early: {took:?}"
            );
            late.push(took - Duration::from_millis(10));
        }
        late.sort();
        println!(
            "sleep(10 ms) x200, lateness: p50 {:?}  p99 {:?}  max {:?}",
            late[100], late[198], late[199]
        );

        // 2.
        let handles: Vec<_> = (0..100_000)
            .map(|_| spindle::spawn(spindle::time::sleep(Duration::from_secs(10))))
            .collect();
        spindle::time::sleep(Duration::from_millis(200)).await; // let every task register
        let before = cpu_ticks();
        let t = Instant::now();
        spindle::time::sleep(Duration::from_secs(1)).await;
        let used = cpu_ticks() - before;
        println!(
            "100,000 pending 10 s timers: {} clock ticks of CPU (user+sys) in {:?} of waiting",
            used,
            t.elapsed()
        );
        for h in handles {
            h.abort();
        }
    });
}

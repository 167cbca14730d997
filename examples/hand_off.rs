//! A blocking call inside a task, the tasks queued behind it, and what spindle's long-poll
//! detector and hand-off mode do about it (`docs/observe.md`, "Hand-off").
//!
//! Run it with `cargo run --release --example hand_off` (`-- --rounds N` for more rounds). A
//! 2-worker runtime runs a task that ticks a 10 ms interval; after a few ticks it spawns a
//! neighbour that blocks its worker for 200 ms with `std::thread::sleep` (Python's `time.sleep`
//! inside `async def`). Each round prints how many ticks came while the neighbour blocked and
//! how late they were, first without hand-off, then with `Builder::hand_off_blocked_worker(true)`:
//!
//! - The detector notices the blocking poll in both modes and reports it once, naming the task
//!   (here through a report hook that collects the lines; by default they go to stderr).
//! - Without hand-off, a timer can only fire on a worker that turns the timer driver, and the
//!   one that does may be the blocked one: then the ticks wait for the whole block and come
//!   out in a burst about 200 ms late. Whether the sibling happens to be asleep in the reactor
//!   (where it fires timers too) decides each round, so the rounds differ.
//! - With hand-off, the monitor wakes the sibling, which takes the stuck worker's queue and
//!   drives the timers: the ticks keep coming within a few milliseconds of schedule.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spindle::report::{self, Kind};
use spindle::time::interval;

/// How long the neighbour blocks its worker.
const BLOCK: Duration = Duration::from_millis(200);
/// The ticker's period.
const PERIOD: Duration = Duration::from_millis(10);

/// What one round saw.
struct Round {
    /// Ticks that came while the neighbour still blocked.
    during: usize,
    /// How late each tick was (after its scheduled time), from the block's start to the first
    /// tick after it.
    lateness: Vec<Duration>,
    /// Long polls the runtime counted in this round (its `long_polls` metric).
    long_polls: u64,
}

/// One round: a fresh runtime, the ticker, and the blocking neighbour spawned from it (so that
/// it queues on the ticker's worker).
fn round(hand_off: bool) -> Round {
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(2)
        .long_poll_threshold(Some(Duration::from_millis(10)))
        .hand_off_blocked_worker(hand_off)
        .build()
        .expect("build the runtime");
    let (during, lateness) = rt.block_on(async {
        spindle::spawn(async {
            let mut ticks = interval(PERIOD);
            for _ in 0..5 {
                ticks.tick().await; // settle: both workers have run and parked
            }
            let blocking = Arc::new(AtomicBool::new(true));
            let flag = blocking.clone();
            let neighbour = spindle::task::Builder::new()
                .name("time.sleep inside async def")
                .spawn(async move {
                    std::thread::sleep(BLOCK); // blocks the worker, not just this task
                    flag.store(false, Ordering::SeqCst);
                })
                .expect("inside the runtime");
            let (mut during, mut lateness) = (0, Vec::new());
            loop {
                let due = ticks.tick().await;
                lateness.push(due.elapsed());
                if !blocking.load(Ordering::SeqCst) {
                    break;
                }
                during += 1;
            }
            neighbour.await.expect("the neighbour does not panic");
            (during, lateness)
        })
        .await
        .expect("the ticker does not panic")
    });
    let long_polls = rt.handle().metrics().long_polls;
    Round {
        during,
        lateness,
        long_polls,
    }
}

fn main() {
    let rounds = std::env::args()
        .skip_while(|a| a != "--rounds")
        .nth(1)
        .map(|n| n.parse().expect("--rounds takes a number"))
        .unwrap_or(3);
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    report::set_hook(move |r| {
        if r.kind() == Kind::LongPoll {
            sink.lock().unwrap().push(r.message().to_string());
        }
    });
    println!(
        "a 10 ms interval on a 2-worker runtime while a task on its worker blocks for {} ms",
        BLOCK.as_millis()
    );
    for hand_off in [false, true] {
        let mode = if hand_off {
            "with hand-off   "
        } else {
            "without hand-off"
        };
        for n in 1..=rounds {
            let round = round(hand_off);
            let mut late = round.lateness.clone();
            late.sort();
            let median = late.get(late.len() / 2).copied().unwrap_or_default();
            let worst = late.last().copied().unwrap_or_default();
            println!(
                "{mode} round {n}: {:2} ticks during the block (a punctual timer gives about {}), \
                 median {:5.1} ms late, worst {:5.1} ms; long polls reported: {}",
                round.during,
                BLOCK.as_millis() / PERIOD.as_millis(),
                median.as_secs_f64() * 1e3,
                worst.as_secs_f64() * 1e3,
                round.long_polls
            );
            for line in reports.lock().unwrap().drain(..) {
                println!("    report: {line}");
            }
        }
    }
    report::clear_hook();
}

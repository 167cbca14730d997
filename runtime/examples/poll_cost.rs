//! A fixed workload for counting instructions per spawn and per poll with callgrind
//! (`docs/benchmarks.md`, "Metrics and task identity: cost"). Wall time on a shared machine
//! moves by more than the few per cent we want to see; callgrind's instruction counts do not.
//!
//! ```text
//! cargo build --release -p spindle --example poll_cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/poll_cost spawn 10000
//! ```
//!
//! Modes (N is the number of operations):
//! - `spawn N`: a current-thread runtime; the main future spawns a trivial task and awaits it,
//!   N times (per operation: a spawn, a poll, a completion, a join).
//! - `yield N`: a current-thread runtime; one task yields N times (per operation: a wake and a poll).
//! - `spawn-mt N` / `yield-mt N`: the same inside a task on a one-worker multi-thread runtime,
//!   so every spawn and wake takes the worker's path (LIFO slot, local deque).
//! - `spawn-remote N`: the runtime benchmark's `spawn_many_local`: `block_on`'s own future (not
//!   a worker) spawns N tasks onto the one-worker runtime and awaits them all (per operation: a
//!   spawn through the injector, a poll, a completion, a join).
//! - `ping N`: the runtime benchmark's `ping_pong` on the one-worker runtime: N pingers, each
//!   spawning a partner and trading two oneshot messages with it (per operation: two spawns,
//!   two oneshot channels, three wakes).
//! - `chain N`: the runtime benchmark's `chained_spawn` on the one-worker runtime: a chain of N
//!   tasks, each spawning the next and dropping its handle (per operation: a spawn from a
//!   worker, a poll, a completion; no join).
//!
//! A third argument `off` builds both runtimes with the long-poll detector off
//! (`long_poll_threshold(None)`: no per-poll record, no monitor thread), to compare; `quiet`
//! keeps the per-poll record but sets a 10 s threshold, so that the monitor thread (which
//! callgrind counts too, and which wakes every 5 ms by default) hardly runs: `quiet` minus
//! `off` is the workers' own cost.
//!
//! Run it with two values of N and divide the difference in instructions by the difference in
//! N: start-up and shutdown cancel out.

async fn spawn_await(n: u64) {
    for _ in 0..n {
        spindle::spawn(async {}).await.unwrap();
    }
}

/// One ping-pong: spawn a partner, send it a reply channel, await its reply.
async fn ping() {
    use spindle::sync::oneshot;
    let (to_partner, from_pinger) = oneshot::channel::<oneshot::Sender<()>>();
    drop(spindle::spawn(async move {
        let reply = from_pinger.await.expect("the pinger sends a reply channel");
        reply.send(()).expect("the pinger awaits the reply");
    }));
    let (reply_tx, reply_rx) = oneshot::channel();
    to_partner
        .send(reply_tx)
        .unwrap_or_else(|_| panic!("the partner is waiting"));
    reply_rx.await.expect("the partner replies");
}

/// Link `left` of a chain: spawns the next link, or signals the end.
fn link(left: u64, done: spindle::sync::oneshot::Sender<()>) {
    if left == 0 {
        done.send(()).expect("the chain's end is awaited");
    } else {
        drop(spindle::spawn(async move { link(left - 1, done) }));
    }
}

async fn yield_n(n: u64) {
    for _ in 0..n {
        spindle::task::yield_now().await;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "spawn".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let threshold = match args.next().as_deref() {
        Some("off") => None,
        Some("quiet") => Some(std::time::Duration::from_secs(10)),
        _ => Some(std::time::Duration::from_millis(10)),
    };
    let current = spindle::Builder::new_current_thread()
        .long_poll_threshold(threshold)
        .build()
        .unwrap();
    let multi = spindle::Builder::new_multi_thread()
        .worker_threads(1)
        .long_poll_threshold(threshold)
        .build()
        .unwrap();
    match mode.as_str() {
        "spawn" => current.block_on(spawn_await(n)),
        "yield" => current.block_on(async move { spindle::spawn(yield_n(n)).await.unwrap() }),
        "spawn-mt" => multi.block_on(async move { spindle::spawn(spawn_await(n)).await.unwrap() }),
        "yield-mt" => multi.block_on(async move { spindle::spawn(yield_n(n)).await.unwrap() }),
        "spawn-remote" => multi.block_on(async move {
            let tasks: Vec<_> = (0..n).map(|_| spindle::spawn(async {})).collect();
            for task in tasks {
                task.await.expect("an empty task cannot fail");
            }
        }),
        "ping" => multi.block_on(async move {
            let pingers: Vec<_> = (0..n).map(|_| spindle::spawn(ping())).collect();
            for pinger in pingers {
                pinger.await.expect("a pinger cannot fail");
            }
        }),
        "chain" => multi.block_on(async move {
            let (done, finished) = spindle::sync::oneshot::channel();
            link(n, done);
            finished.await.expect("the last link signals");
        }),
        other => panic!(
            "unknown mode {other}: spawn, yield, spawn-mt, yield-mt, spawn-remote, ping or chain"
        ),
    }
    println!("{mode} {n}: done");
}

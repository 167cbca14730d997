//! The seven runtime workloads, written once and instantiated for spindle and for tokio.
//!
//! The `workloads!` macro holds the only copy of each workload's code. It is expanded twice:
//! in [`on_spindle`] and in [`on_tokio`]. Each of those modules first brings the same six names
//! into scope — `Runtime`, `spawn`, `spawn_blocking`, `yield_now`, `oneshot`, `sleep` — from its
//! own runtime, so the two expansions are the same text calling different runtimes. That is the
//! whole trick: no trait, no boxing, nothing in the hot path that one runtime has and the other
//! has not. `runtime_bench` (the neighbour that times these) sees each side as a list of
//! `(name, fn(&Runtime))` in [`WORKLOADS`] order.
//!
//! Invariants:
//! - each workload runs to completion inside the call (every task it spawned has finished, or
//!   has signalled its last observable step), so the time of the call is the time of the work;
//! - a workload never asserts on time; it panics only if a runtime loses a task or a message,
//!   which would make the number meaningless.

/// Names of the workloads, in the order both sides list them (and the report prints them).
pub(crate) const WORKLOADS: [&str; 7] = [
    "spawn_many_local",
    "spawn_many_remote_idle",
    "yield_many",
    "ping_pong",
    "chained_spawn",
    "spawn_blocking",
    "timers",
];

/// Tasks spawned by `spawn_many_local` and `spawn_many_remote_idle`.
const NUM_SPAWN: usize = 10_000;
/// Tasks in `yield_many`.
const NUM_YIELDERS: usize = 100;
/// `yield_now` calls per task in `yield_many`.
const YIELDS_PER_TASK: usize = 1_000;
/// Pinger tasks in `ping_pong` (each spawns one partner).
const NUM_PINGS: usize = 1_000;
/// Length of the spawn chain in `chained_spawn`.
const CHAIN_LEN: usize = 1_000;
/// Closures in `spawn_blocking`.
const NUM_BLOCKING: usize = 1_000;
/// Sleeping tasks in `timers`.
const NUM_TIMERS: usize = 10_000;

/// The sleep of timer task `i`: a deterministic pseudo-random 100..=999 µs.
///
/// Deterministic so both runtimes (and every iteration) sleep exactly the same set of
/// durations; computed from `i` alone (splitmix64's finalizer) so tasks share no generator.
pub(crate) fn timer_duration(i: usize) -> std::time::Duration {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    std::time::Duration::from_micros(100 + z % 900)
}

/// Expands to the seven workload functions plus `ALL`, the list `runtime_bench` iterates.
///
/// The invoking module must have in scope: a `Runtime` type with `block_on(&self, F)` and
/// `handle().spawn(F)`; free functions `spawn`, `spawn_blocking`, `yield_now`, `sleep`; and a
/// `oneshot` module with `channel()`. Join handles must be futures of `Result<T, E: Debug>`.
macro_rules! workloads {
    () => {
        /// Every workload of this runtime, in [`super::WORKLOADS`] order.
        pub(crate) const ALL: [(&str, fn(&Runtime)); 7] = [
            ("spawn_many_local", spawn_many_local),
            ("spawn_many_remote_idle", spawn_many_remote_idle),
            ("yield_many", yield_many),
            ("ping_pong", ping_pong),
            ("chained_spawn", chained_spawn),
            ("spawn_blocking", spawn_blocking_many),
            ("timers", timers),
        ];

        /// 10,000 spawns from inside `block_on`; each task decrements a shared counter and the
        /// task that brings it to zero sends on a oneshot, which `block_on` awaits.
        ///
        /// Measures: spawning from a future that is not on a worker (`block_on` runs on the calling
        /// thread, so every spawn goes through the injector while the workers run the tasks), and
        /// running tiny tasks.
        fn spawn_many_local(rt: &Runtime) {
            use std::sync::atomic::{AtomicUsize, Ordering};
            use std::sync::{Arc, Mutex};

            /// What every task shares: how many are left, and the way to say "all done".
            struct Countdown {
                /// Tasks that have not run yet; the one that takes it from 1 to 0 signals.
                remaining: AtomicUsize,
                /// Taken exactly once, by the last task.
                done: Mutex<Option<oneshot::Sender<()>>>,
            }

            rt.block_on(async {
                let (done_tx, done_rx) = oneshot::channel();
                let countdown = Arc::new(Countdown {
                    remaining: AtomicUsize::new(NUM_SPAWN),
                    done: Mutex::new(Some(done_tx)),
                });
                for _ in 0..NUM_SPAWN {
                    let countdown = countdown.clone();
                    // The handle is dropped: the task runs detached, like a fire-and-forget spawn.
                    drop(spawn(async move {
                        // AcqRel: the decrement that reaches zero must see every earlier one; no
                        // other memory is published through this counter.
                        if countdown.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                            // unwrap: only the task that saw 1 gets here, exactly once, so the
                            // mutex is not poisoned and the sender is still there.
                            let tx = countdown.done.lock().unwrap().take().unwrap();
                            tx.send(()).expect("block_on is awaiting the signal");
                        }
                    }));
                }
                done_rx.await.expect("the last task sends the signal");
            });
        }

        /// 10,000 spawns from the bench thread (outside any runtime, through `handle().spawn`),
        /// then one `block_on` that awaits every join handle.
        ///
        /// Measures: the remote-spawn path (global injector, waking an idle worker) and join handles.
        fn spawn_many_remote_idle(rt: &Runtime) {
            let handles: Vec<_> = (0..NUM_SPAWN)
                .map(|_| rt.handle().spawn(async {}))
                .collect();
            rt.block_on(async {
                for handle in handles {
                    handle.await.expect("an empty task cannot fail");
                }
            });
        }

        /// 100 tasks, each calling `yield_now` 1,000 times; `block_on` awaits them all.
        ///
        /// Measures: re-scheduling a task that woke itself (the run-queue round trip).
        fn yield_many(rt: &Runtime) {
            rt.block_on(async {
                let handles: Vec<_> = (0..NUM_YIELDERS)
                    .map(|_| {
                        spawn(async {
                            for _ in 0..YIELDS_PER_TASK {
                                yield_now().await;
                            }
                        })
                    })
                    .collect();
                for handle in handles {
                    handle.await.expect("a yielding task cannot fail");
                }
            });
        }

        /// 1,000 pinger tasks. Each spawns a partner, sends it a oneshot sender through another
        /// oneshot, and waits for the partner's reply on that sender. `block_on` awaits every pinger.
        ///
        /// Measures: cross-task wake-ups (a waker firing for a task on this or the other worker).
        fn ping_pong(rt: &Runtime) {
            rt.block_on(async {
                let pingers: Vec<_> = (0..NUM_PINGS)
                    .map(|_| {
                        spawn(async {
                            // The partner learns where to reply through `to_partner`.
                            let (to_partner, from_pinger) =
                                oneshot::channel::<oneshot::Sender<()>>();
                            // The partner's handle is dropped: its reply proves it ran.
                            drop(spawn(async move {
                                let reply =
                                    from_pinger.await.expect("the pinger sends a reply channel");
                                reply.send(()).expect("the pinger awaits the reply");
                            }));
                            let (reply_tx, reply_rx) = oneshot::channel();
                            // The partner holds its receiver until it has a message, so this cannot fail.
                            to_partner
                                .send(reply_tx)
                                .unwrap_or_else(|_| panic!("the partner is waiting"));
                            reply_rx.await.expect("the partner replies");
                        })
                    })
                    .collect();
                for pinger in pingers {
                    pinger.await.expect("a pinger cannot fail");
                }
            });
        }

        /// A chain of 1,000 tasks: each spawns the next; the last sends on a oneshot that
        /// `block_on` awaits.
        ///
        /// Measures: spawn latency when there is never more than one task ready (no batching).
        fn chained_spawn(rt: &Runtime) {
            /// Spawns link number `left` of the chain; link 0 signals instead.
            fn link(left: usize, done: oneshot::Sender<()>) {
                if left == 0 {
                    done.send(()).expect("block_on is awaiting the signal");
                } else {
                    drop(spawn(async move { link(left - 1, done) }));
                }
            }

            rt.block_on(async {
                let (done_tx, done_rx) = oneshot::channel();
                link(CHAIN_LEN, done_tx);
                done_rx.await.expect("the last link sends the signal");
            });
        }

        /// 1,000 trivial `spawn_blocking` closures; `block_on` awaits them all.
        ///
        /// Measures: the hand-off to the blocking pool and back (pool threads stay warm between
        /// iterations because the runtime is reused).
        fn spawn_blocking_many(rt: &Runtime) {
            rt.block_on(async {
                let handles: Vec<_> = (0..NUM_BLOCKING)
                    .map(|i| spawn_blocking(move || std::hint::black_box(i)))
                    .collect();
                for (i, handle) in handles.into_iter().enumerate() {
                    let got = handle.await.expect("a trivial closure cannot panic");
                    assert_eq!(got, i, "each handle returns its own closure's value");
                }
            });
        }

        /// 10,000 tasks, each sleeping a deterministic pseudo-random 100..=999 µs
        /// ([`super::timer_duration`]); `block_on` awaits them all.
        ///
        /// Measures: inserting, firing and waking many timers, plus timer resolution (both
        /// runtimes round to whole milliseconds, so the floor is about 1–2 ms).
        fn timers(rt: &Runtime) {
            rt.block_on(async {
                let handles: Vec<_> = (0..NUM_TIMERS)
                    .map(|i| spawn(sleep(super::timer_duration(i))))
                    .collect();
                for handle in handles {
                    handle.await.expect("a sleeping task cannot fail");
                }
            });
        }
    };
}

/// The workloads on spindle: a multi-thread runtime with 2 workers.
pub(crate) mod on_spindle {
    use super::{
        CHAIN_LEN, NUM_BLOCKING, NUM_PINGS, NUM_SPAWN, NUM_TIMERS, NUM_YIELDERS, YIELDS_PER_TASK,
    };
    use spindle::spawn;
    use spindle::sync::oneshot;
    use spindle::task::{spawn_blocking, yield_now};
    use spindle::time::sleep;
    pub(crate) use spindle::Runtime;

    /// Builds the runtime every spindle workload runs on.
    pub(crate) fn build() -> Runtime {
        spindle::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("building a spindle runtime")
    }

    workloads!();
}

/// The workloads on tokio: a multi-thread runtime with 2 workers.
pub(crate) mod on_tokio {
    use super::{
        CHAIN_LEN, NUM_BLOCKING, NUM_PINGS, NUM_SPAWN, NUM_TIMERS, NUM_YIELDERS, YIELDS_PER_TASK,
    };
    pub(crate) use tokio::runtime::Runtime;
    use tokio::spawn;
    use tokio::sync::oneshot;
    use tokio::task::{spawn_blocking, yield_now};
    use tokio::time::sleep;

    /// Builds the runtime every tokio workload runs on.
    pub(crate) fn build() -> Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("building a tokio runtime")
    }

    workloads!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both expansions list the workloads under the names and in the order of `WORKLOADS`.
    #[test]
    fn both_sides_list_the_same_workloads() {
        let spindle: Vec<_> = on_spindle::ALL.iter().map(|(n, _)| *n).collect();
        let tokio: Vec<_> = on_tokio::ALL.iter().map(|(n, _)| *n).collect();
        assert_eq!(spindle, WORKLOADS);
        assert_eq!(tokio, WORKLOADS);
    }

    /// Every workload runs to completion once on each runtime (no lost task or message):
    /// each side runs on its own thread and must finish within a generous 60 s.
    #[test]
    fn every_workload_completes_on_both_runtimes() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spindle_tx = done_tx.clone();
        std::thread::spawn(move || {
            let rt = on_spindle::build();
            for (name, workload) in on_spindle::ALL {
                workload(&rt);
                spindle_tx.send(format!("spindle/{name}")).unwrap();
            }
        });
        std::thread::spawn(move || {
            let rt = on_tokio::build();
            for (name, workload) in on_tokio::ALL {
                workload(&rt);
                done_tx.send(format!("tokio/{name}")).unwrap();
            }
        });
        let mut finished = Vec::new();
        for _ in 0..2 * WORKLOADS.len() {
            match done_rx.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(name) => finished.push(name),
                Err(e) => panic!("a workload hung or panicked ({e}); finished: {finished:?}"),
            }
        }
        finished.sort();
        let mut expected: Vec<String> = WORKLOADS
            .iter()
            .flat_map(|w| [format!("spindle/{w}"), format!("tokio/{w}")])
            .collect();
        expected.sort();
        assert_eq!(finished, expected);
    }

    /// Timer durations stay inside 100..=999 µs and are not all the same.
    #[test]
    fn timer_durations_are_in_range_and_spread() {
        let micros: Vec<u128> = (0..NUM_TIMERS)
            .map(|i| timer_duration(i).as_micros())
            .collect();
        assert!(micros.iter().all(|m| (100..=999).contains(m)));
        assert!(micros.iter().any(|&m| m < 300));
        assert!(micros.iter().any(|&m| m > 800));
    }
}

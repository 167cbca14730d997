//! # spindle: an async runtime written to be read
//!
//! spindle runs Rust futures on a pool of worker threads, the way asyncio's event loop runs
//! coroutines, except that there are N loops that steal work from each other. It is built from
//! parts you can read one at a time:
//!
//! | module | what it is | the asyncio idea |
//! |---|---|---|
//! | [`task`] | one heap cell per spawned future, its state word, wakers, [`JoinHandle`] | `asyncio.Task` |
//! | `executor` | worker threads, local deques, the global injector, work stealing, parking | the event loop |
//! | `reactor` | a `mio::Poll` that turns OS readiness into task wake-ups | the selector |
//! | [`time`] | a timing wheel behind [`time::sleep`], [`time::timeout`], [`time::interval`] | `asyncio.sleep` |
//! | `blocking` | a thread pool for closures that block: [`task::spawn_blocking`] | `run_in_executor` |
//! | [`net`] | non-blocking [`net::TcpListener`] and [`net::TcpStream`] | `asyncio.start_server` |
//! | [`io`] | [`io::AsyncRead`] / [`io::AsyncWrite`], `read_exact`, `write_all`, `copy`, buffered readers and writers, [`io::duplex`] | `StreamReader` / `StreamWriter` |
//! | [`sync`] | `oneshot`, `mpsc`, an async `Mutex`, `Semaphore`, `Notify` | `asyncio.Queue`, `Lock` |
//! | [`future`] | [`join!`], [`future::join_all`], [`future::select`] | `asyncio.gather` |
//! | [`signal`] | waiting for SIGINT / SIGTERM | `loop.add_signal_handler` |
//! | [`runtime`] | [`Runtime`], [`Builder`], [`Handle`]: how the parts are put together | `asyncio.run` |
//! | [`metrics`] | [`Handle::metrics`]: per-worker counters and histograms, as a snapshot | (seeing the loop work) |
//! | [`trace`] | a flight recorder per thread, dumped as a Perfetto trace: [`Handle::dump_trace`] | (watching the loop work) |
//! | [`report`] | the one hook through which the runtime (and spindle-http) report events; silent by default | `logging` |
//!
//! Start with `docs/runtime.md` in the repository for the reading order.
//!
//! ```
//! let rt = spindle::Runtime::new().unwrap();
//! let answer = rt.block_on(async {
//!     let handle = spindle::spawn(async { 6 * 7 });
//!     handle.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! ## Per-thread state
//!
//! No signature shows what a thread remembers between calls, so all of it is listed here, each
//! with the invariant that makes it correct:
//!
//! | thread-local | file | holds | invariant |
//! |---|---|---|---|
//! | `CURRENT` | `runtime/context.rs` | the [`Handle`] of the runtime this thread runs for (a worker, a blocking thread, or inside `block_on`) | set on entry and restored on exit by a guard, so nested entries unwind in order; [`spawn`] outside any runtime panics rather than guess |
//! | `IN_BLOCK_ON` | `runtime/handle.rs` | whether this thread is inside a `block_on` | set and cleared by a guard; a nested `block_on` panics (it would deadlock) |
//! | `WORKER` | `executor/multi_thread.rs` | a pointer to this worker's `WorkerContext` on its stack | non-null exactly while `run` executes on this thread, so the pointee is alive whenever it is read |
//! | `CURRENT` | `coop.rs` | the running poll's task id and cooperative budget, in one word (an atomic: the long-poll monitor reads a worker's word from its own thread) | set at the start of every poll and restored after it, by this thread only; task ids stay below 2^56; while a worker is registered with a long-poll record, the monitor may read it (the thread unregisters before it ends) |
//! | `CUT_SHORT` | `coop.rs` | polls this thread's budget refused since the worker last collected them | only added to by a refusal and only emptied by the worker's metrics, so none is counted twice |
//! | `BLOCK` | `task/id.rs` | a block of task ids this thread hands out | each block is taken whole from one global counter, so ids are unique across threads and never zero |
//! | `NEXT_SHARD` | `task/owned.rs` | where this thread's next spawn goes in the owned-task list | any value is correct (it only spreads lock traffic over the shards) |
//! | `REMOTE` | `metrics/stats.rs` | the sampling countdown for tasks this thread pushes onto the injector | any value is correct (it only decides which entries are timed for the schedule-latency histogram) |
//! | `RECORD` | `monitor/record.rs` | pointers to this worker's long-poll record and poll counter (null elsewhere, and with the detector off) | set and restored by a `RecordScope` guard that the worker loop (or `block_on`) holds while it runs, so the record and counter, which live in the runtime's shared state, outlive every use |
//! | `WRITER` | `trace/mod.rs` | this thread's trace writer (its batch of events and its ring), while its runtime traces | installed by a guard that puts the previous one back (a current-thread `block_on` inside a blocking job), so each ring has one writer; a blocking thread keeps its writer until it exits |
//! | `CURRENT_POOL` | `blocking/mod.rs` | the address of the blocking pool this thread belongs to (0 elsewhere) | set once when a pool thread starts, so a pool's `shutdown` called from its own job does not wait for itself |

#![warn(missing_docs)]

mod loom;

mod coop;
mod executor;
pub mod metrics;
pub(crate) mod monitor;
mod reactor;
#[cfg(test)]
mod test_util;

pub(crate) mod blocking;

pub mod future;
pub mod io;
pub mod net;
pub mod report;
pub mod runtime;
pub mod signal;
pub mod sync;
pub mod task;
pub mod time;
pub mod trace;

pub use runtime::{Builder, Handle, Runtime};
pub use task::{spawn, JoinError, JoinHandle};

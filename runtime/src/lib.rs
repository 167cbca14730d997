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

#![warn(missing_docs)]

mod loom;

mod coop;
mod executor;
pub mod metrics;
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

pub use runtime::{Builder, Handle, Runtime};
pub use task::{spawn, JoinError, JoinHandle};

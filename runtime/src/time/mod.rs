//! Timers: [`sleep()`], [`sleep_until`], [`timeout()`], [`interval()`], and the wheel behind them.
//!
//! A [`Sleep`] registers its deadline with its runtime's `TimeDriver`, which keeps every pending
//! deadline in a hierarchical timing wheel (six levels of 64 slots, one 250 µs tick per slot on
//! the lowest level). Nothing scans the wheel while timers wait: a worker that runs out of tasks
//! parks in the reactor with an epoll timeout that ends at the earliest deadline, and after it
//! wakes it calls `process_at(now)`, which wakes the tasks whose timers are due.
//!
//! ```text
//!  task: sleep(10ms).await ──register──▶ TimeDriver { Mutex<Wheel>, next_tick }
//!                                             │ next_deadline()      ▲ process_at(now)
//!                                             ▼                      │
//!  parked worker: epoll_wait(timeout = next_deadline - now) ─wakes───┘──▶ waker.wake()
//! ```
//!
//! Files: `wheel.rs` (the pure data structure), `driver.rs` (the wheel behind a mutex, the
//! clock, what the executor calls), `sleep.rs`, `timeout.rs`, `interval.rs` (the public futures).
//! `docs/time.md` in the repository walks through them.
//!
//! Invariants: a timer never fires before its deadline (deadlines round up to the next
//! tick, the clock rounds down); after the runtime shuts its timers down every sleep,
//! pending or new, completes at once.

mod driver;
mod interval;
mod sleep;
mod timeout;
mod wheel;

pub(crate) use driver::TimeDriver;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use std::time::{Duration, Instant};
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

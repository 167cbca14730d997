//! The executor: the part that decides which task runs next, on which thread.
//!
//! Two flavours, picked by [`Builder`](crate::Builder):
//! - [`multi_thread`]: N worker threads with local deques, a global injector, and work stealing
//!   (`Builder::new_multi_thread`, the default of `Runtime::new`).
//! - [`current_thread`]: everything on the thread that calls `block_on`, like asyncio's loop
//!   (`Builder::new_current_thread`).
//!
//! Both park idle threads with [`park::Parker`], on the reactor when they can get it.
//! Reading order: `park.rs`, `idle.rs`, `multi_thread.rs`, `current_thread.rs`.

pub(crate) mod current_thread;
pub(crate) mod idle;
pub(crate) mod multi_thread;
pub(crate) mod park;

/// The scheduler of one runtime.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per runtime, never moved after creation
pub(crate) enum Scheduler {
    /// Work-stealing workers.
    MultiThread(multi_thread::MultiThread),
    /// The `block_on` thread does everything.
    CurrentThread(current_thread::CurrentThread),
}

impl Scheduler {
    /// The long-poll detector's state (`monitor/record.rs`).
    pub(crate) fn detector(&self) -> &crate::monitor::record::Detector {
        match self {
            Scheduler::MultiThread(mt) => mt.detector(),
            Scheduler::CurrentThread(ct) => ct.detector(),
        }
    }
}

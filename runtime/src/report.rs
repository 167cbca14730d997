//! Reports: how the runtime, and libraries built on it, tell the program that something happened
//! that it did not ask about, instead of printing to stderr themselves.
//!
//! A library that prints has made a choice for every program that uses it: where the text goes,
//! in what format, and whether it appears at all. spindle instead hands each such event to one
//! process-wide hook as a [`Report`]: a [`Kind`] to match on, the part that reported it
//! (`source`), and a one-line message. The program decides what to do with it.
//!
//! **By default nothing is printed**: until a program calls [`set_hook`], reports are dropped.
//! A program that wants them on stderr installs the printer this module provides,
//! [`stderr`], as the demo server (`src/main.rs`) does:
//!
//! ```
//! spindle::report::set_hook(spindle::report::stderr);
//! ```
//!
//! What reports today (each is an event the program could not otherwise see, none is per request):
//!
//! | kind | source | when |
//! |---|---|---|
//! | [`Kind::AcceptBackOff`] | `spindle::net` | `accept` ran out of descriptors or memory; the listener backs off (once per listener) |
//! | [`Kind::BlockingThreadFailed`] | `spindle::blocking` | the OS refused a new blocking-pool thread |
//! | [`Kind::ReactorFailed`] | `spindle::runtime` | `epoll_wait` failed (other than `EINTR`) |
//! | [`Kind::LongPoll`] | `spindle::runtime` | a task kept its worker inside one poll longer than the threshold (once when found, once when it returns) |
//! | [`Kind::AcceptFailed`] | `spindle_http::server` | one `accept` failed; the server carries on |
//! | [`Kind::ShutdownSignal`] | `spindle_http::server` | SIGINT / SIGTERM arrived: graceful shutdown begins |
//! | [`Kind::TraceWriteFailed`] | `spindle::trace` | the trace file could not be written at shutdown |
//!
//! Further detectors report through the same hook with a kind of their own; [`Kind`] is
//! `#[non_exhaustive]` so that adding one breaks no program's `match`. The long-poll reports'
//! structured form is [`LongPoll`](crate::metrics::LongPoll), in
//! [`RuntimeMetrics::recent_long_polls`](crate::metrics::RuntimeMetrics::recent_long_polls).
//!
//! The hook is called on the thread that hit the event, often a worker thread in the middle of
//! its loop: it should be quick, must not block on the runtime, and should not panic (a panic
//! unwinds into the code that reported). Reports are rare (errors and lifecycle events), so the
//! hook sits behind a lock rather than anything cleverer.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// What happened. Match on it to decide what to do; the [`Report`]'s message says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// `accept` failed for lack of a resource (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`); the
    /// listener sleeps and retries with a growing delay. Reported once per listener.
    AcceptBackOff,
    /// One `accept` failed with an error that concerns only that connection; the server goes on.
    AcceptFailed,
    /// The OS refused to start a blocking-pool thread; jobs wait for the threads already running
    /// (or are cancelled, if there are none).
    BlockingThreadFailed,
    /// Polling the reactor (`epoll_wait`) failed; the worker carries on and polls again.
    ReactorFailed,
    /// A shutdown signal (SIGINT or SIGTERM) arrived and a graceful shutdown begins.
    ShutdownSignal,
    /// A task has kept its worker inside one poll for longer than the runtime's
    /// [`long_poll_threshold`](crate::Builder::long_poll_threshold): reported once when the
    /// monitor finds it ("has run for 12.1 ms so far") and once when the poll returns ("returned
    /// after 203.4 ms"). The message names the task's id, name, spawn site, route and worker.
    LongPoll,
    /// The scheduling trace could not be written to its file at shutdown (`SPINDLE_TRACE`,
    /// `Builder::trace_path`).
    TraceWriteFailed,
}

/// One event, as handed to the hook: what happened, who reported it, and a one-line message.
///
/// It borrows its message (`fmt::Arguments`), so reporting allocates nothing; a hook that keeps
/// reports formats them (`report.to_string()`). `Display` writes `source: message`.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// What happened.
    kind: Kind,
    /// The module that reported it, as a Rust path (`"spindle::net"`).
    source: &'static str,
    /// What happened, in words, on one line.
    message: fmt::Arguments<'a>,
}

impl<'a> Report<'a> {
    /// A report of `kind` from `source` (a module path such as `"spindle_http::server"`).
    /// Libraries built on spindle use this with [`emit`] to report through the same hook.
    pub fn new(kind: Kind, source: &'static str, message: fmt::Arguments<'a>) -> Report<'a> {
        Report {
            kind,
            source,
            message,
        }
    }

    /// What happened.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The module that reported it (`"spindle::net"`, `"spindle_http::server"`, ...).
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The message, without the source.
    pub fn message(&self) -> fmt::Arguments<'a> {
        self.message
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

/// The function every report goes to.
type Hook = Arc<dyn Fn(&Report<'_>) + Send + Sync>;

/// The installed hook; `None` drops reports (the default).
/// INVARIANT: read by [`emit`] only long enough to clone the `Arc`, so a hook may itself call
/// [`set_hook`] or [`emit`] without deadlocking.
static HOOK: RwLock<Option<Hook>> = RwLock::new(None);

/// Installs `hook` for every report from now on, in the whole process, replacing the previous
/// one. Reports already being delivered on other threads may still reach the previous hook.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use spindle::report::{self, Kind, Report};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// report::set_hook(move |r: &Report<'_>| log.lock().unwrap().push((r.kind(), r.to_string())));
///
/// // What spindle_http's server does when a signal arrives:
/// report::emit(&Report::new(
///     Kind::ShutdownSignal,
///     "spindle_http::server",
///     format_args!("received {:?}: shutting down gracefully", spindle::signal::Signal::Terminate),
/// ));
/// assert_eq!(
///     seen.lock().unwrap()[0],
///     (Kind::ShutdownSignal, "spindle_http::server: received Terminate: shutting down gracefully".to_string())
/// );
/// report::clear_hook();
/// ```
pub fn set_hook(hook: impl Fn(&Report<'_>) + Send + Sync + 'static) {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(hook));
}

/// Removes the hook: reports are dropped again, as before any [`set_hook`].
pub fn clear_hook() {
    *HOOK.write().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Hands `report` to the installed hook, if any. The runtime calls this; so may any library
/// built on spindle (`spindle_http` does), so that a program has one place to look.
pub fn emit(report: &Report<'_>) {
    // Clone the hook out of the lock (see `HOOK`'s INVARIANT); a poisoned lock still holds a
    // valid `Option`, as every write is a single assignment.
    let hook = HOOK.read().unwrap_or_else(PoisonError::into_inner).clone();
    if let Some(hook) = hook {
        hook(report);
    }
}

/// A ready-made hook that writes each report as one line on stderr (`source: message`).
/// Install it with `set_hook(spindle::report::stderr)`.
pub fn stderr(report: &Report<'_>) {
    use std::io::Write;
    // One `write_all` of a whole line, so lines from different threads do not interleave; a
    // closed stderr is not worth a panic in the reporting code.
    let line = format!("{report}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

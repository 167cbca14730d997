//! Batched standard output for the access log: each thread appends its lines to its own
//! buffer, and one writer thread writes each buffer out with a single `write`.
//!
//! Why: writing every access-log line as it is made costs one system call (and the stdout
//! lock) per request, which on a pipelined connection is more work than the request itself.
//! Here a request only appends its line to the buffer of the thread it ran on. The buffer goes
//! out in one `write` when either:
//! - the writer thread comes round, [`FLUSH_INTERVAL`] after the first line into a buffer
//!   that was empty (so a quiet server writes a line within that interval, and a busy one
//!   writes a batch per interval), or
//! - the buffer passes [`FLUSH_BYTES`]: the thread that filled it writes it there and then,
//!   so a log that cannot keep up slows the requests (back-pressure) rather than growing.
//!
//! [`flush`] writes everything buffered; [`AccessLog`](crate::AccessLog) calls it when it is
//! dropped (at the end of a server), so no line is lost on a graceful shutdown.
//!
//! Invariants: a buffer is only ever appended to by its own thread, under its lock; whoever
//! writes a buffer out takes its contents under that lock and writes after releasing it, so
//! lines are never split and each thread's lines appear in the order they were made. Lines
//! of different threads interleave batch by batch, not strictly by time.

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// How long the writer thread waits, after a line arrives in an empty buffer, before writing.
pub(crate) const FLUSH_INTERVAL: Duration = Duration::from_millis(50);

/// A buffer this large is written out at once by the thread that filled it.
pub(crate) const FLUSH_BYTES: usize = 64 * 1024;

/// One thread's pending lines.
type Buffer = Arc<Mutex<Vec<u8>>>;

/// Every thread's buffer, and the writer thread's wake-up.
struct Batches {
    /// The buffers of every thread that has logged (a thread that ends leaves its buffer
    /// here, empty after the next flush; threads are few and long-lived: workers).
    buffers: Mutex<Vec<Buffer>>,
    /// True when some buffer went from empty to non-empty since the writer last looked.
    pending: Mutex<bool>,
    /// Signalled with `pending` set.
    wake: Condvar,
}

/// The one set of buffers, with its writer thread started on first use.
fn batches() -> &'static Batches {
    static BATCHES: OnceLock<Batches> = OnceLock::new();
    BATCHES.get_or_init(|| {
        // A writer thread that cannot start leaves the lines to the size trigger and `flush`.
        let _ = std::thread::Builder::new()
            .name("spindle-access-log".into())
            .spawn(writer);
        Batches {
            buffers: Mutex::new(Vec::new()),
            pending: Mutex::new(false),
            wake: Condvar::new(),
        }
    })
}

thread_local! {
    /// This thread's buffer, registered in [`Batches::buffers`] on first use.
    static LOCAL: Buffer = {
        let buffer = Buffer::default();
        lock(&batches().buffers).push(buffer.clone());
        buffer
    };
}

/// Locks `m`, going on if a thread panicked while holding it (a log buffer stays usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Appends `line` and a line end to this thread's buffer (see the module docs for when it is
/// written).
pub(crate) fn append(line: &str) {
    let full = LOCAL.with(|buffer| {
        let mut pending = lock(buffer);
        let was_empty = pending.is_empty();
        pending.extend_from_slice(line.as_bytes());
        pending.push(b'\n');
        if pending.len() >= FLUSH_BYTES {
            return Some(std::mem::take(&mut *pending));
        }
        drop(pending);
        if was_empty {
            let b = batches();
            *lock(&b.pending) = true;
            b.wake.notify_one();
        }
        None
    });
    if let Some(bytes) = full {
        write_out(&bytes);
    }
}

/// Writes every buffer's pending lines now.
pub(crate) fn flush() {
    let buffers: Vec<Buffer> = lock(&batches().buffers).clone();
    for buffer in buffers {
        let bytes = std::mem::take(&mut *lock(&buffer));
        if !bytes.is_empty() {
            write_out(&bytes);
        }
    }
}

/// One `write_all` of whole lines to standard output. A closed or failing stdout is not a
/// reason to fail requests: the lines are dropped.
fn write_out(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// The writer thread: sleeps until a line arrives, lets a batch collect, writes it, repeats.
fn writer() {
    let b = batches();
    loop {
        {
            let mut pending = lock(&b.pending);
            while !*pending {
                pending = b.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
            }
            *pending = false;
        }
        std::thread::sleep(FLUSH_INTERVAL);
        flush();
    }
}

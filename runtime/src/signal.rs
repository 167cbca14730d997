//! Waiting for SIGINT (Ctrl-C) and SIGTERM (`kill`), the signals a server shuts down on.
//!
//! A signal handler may only call async-signal-safe functions, so ours does one thing: it
//! writes the signal number into a pipe (the self-pipe trick). A small thread named
//! `spindle-signal` blocks reading that pipe and, for each byte, bumps a counter and wakes every
//! task waiting in [`shutdown_signal`]. The handlers are installed once per process, on first use.
//!
//! Invariant: `WRITE_FD` is set before the handlers are installed and never closed afterwards,
//! so the handler always writes to a valid descriptor.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM: the polite `kill`, what service managers send.
    Terminate,
}

/// The write end of the self-pipe, for the handler. -1 until installed.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

/// What the reader thread shares with the waiting futures.
#[derive(Debug, Default)]
struct Shared {
    /// Signals received so far.
    count: AtomicU64,
    /// The most recent signal number.
    last: AtomicI32,
    /// Futures waiting for the next signal.
    waiters: Mutex<Vec<Waker>>,
}

static SHARED: OnceLock<Result<Arc<Shared>, String>> = OnceLock::new();

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot; saving and restoring it keeps
    // the interrupted code's errno intact, as a signal handler must.
    let saved = unsafe { *libc::__errno_location() };
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) is async-signal-safe; `fd` is a valid pipe (see the module invariant)
        // and `byte` lives for the call. A full pipe (EAGAIN) just drops this notification.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

fn install() -> Result<Arc<Shared>, String> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    let (read_fd, write_fd) = (fds[0], fds[1]);
    // The handler must never block: make the write end non-blocking.
    // SAFETY: fcntl on a descriptor we own, with valid flags.
    unsafe {
        let flags = libc::fcntl(write_fd, libc::F_GETFL);
        libc::fcntl(write_fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    WRITE_FD.store(write_fd, Ordering::SeqCst);

    let shared = Arc::new(Shared::default());
    let reader = shared.clone();
    std::thread::Builder::new()
        .name("spindle-signal".into())
        .spawn(move || loop {
            let mut byte = 0u8;
            // SAFETY: reading one byte into a live local from a descriptor this thread owns.
            let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                reader.last.store(i32::from(byte), Ordering::SeqCst);
                reader.count.fetch_add(1, Ordering::SeqCst);
                let waiters =
                    std::mem::take(&mut *reader.waiters.lock().unwrap_or_else(|p| p.into_inner()));
                waiters.into_iter().for_each(Waker::wake);
            } else if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            } else {
                return;
            }
        })
        .map_err(|e| e.to_string())?;

    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid starting point; we set the handler (a plain
        // `extern "C" fn(c_int)`, hence no SA_SIGINFO) and restart interrupted syscalls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(sig, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error().to_string());
            }
        }
    }
    Ok(shared)
}

/// Completes when the process next receives SIGINT or SIGTERM, with which one.
///
/// The first call installs the handlers (from then on these signals no longer kill the
/// process by default: the program decides). Works from any thread and any runtime.
///
/// ```no_run
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let sig = spindle::signal::shutdown_signal().unwrap().await;
///     println!("got {sig:?}, shutting down");
/// });
/// ```
pub fn shutdown_signal() -> io::Result<ShutdownSignal> {
    match SHARED.get_or_init(install) {
        Ok(shared) => Ok(ShutdownSignal {
            start: shared.count.load(Ordering::SeqCst),
            shared: shared.clone(),
        }),
        Err(e) => Err(io::Error::other(format!(
            "installing signal handlers failed: {e}"
        ))),
    }
}

/// The future returned by [`shutdown_signal`].
#[derive(Debug)]
pub struct ShutdownSignal {
    /// The signal count when the future was made; any later signal completes it.
    start: u64,
    /// The reader thread's state.
    shared: Arc<Shared>,
}

impl Future for ShutdownSignal {
    type Output = Signal;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Signal> {
        let ready = |s: &Shared| {
            (s.count.load(Ordering::SeqCst) > self.start).then(|| {
                match s.last.load(Ordering::SeqCst) {
                    libc::SIGTERM => Signal::Terminate,
                    _ => Signal::Interrupt,
                }
            })
        };
        if let Some(sig) = ready(&self.shared) {
            return Poll::Ready(sig);
        }
        self.shared
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cx.waker().clone());
        // Re-check after registering, so a signal between the check and the push is not missed.
        match ready(&self.shared) {
            Some(sig) => Poll::Ready(sig),
            None => Poll::Pending,
        }
    }
}

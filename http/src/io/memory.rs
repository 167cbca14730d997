//! The in-memory [`Transport`](super::Transport): the server's end of a [`spindle::io::duplex`]
//! pipe, made usable through a shared reference the way a `TcpStream` is. Compiled only in test
//! builds and with the `fuzzing` feature (the `connection` fuzz target runs the connection loop
//! over it; `conn.rs`'s tests check that it answers byte for byte what TCP answers).
//!
//! A `DuplexStream` reads and writes through `Pin<&mut Self>`, while the connection and the
//! request body share their stream through an `Arc` and call `&self` methods. So the pipe sits
//! behind a small mutex, held only for the duration of one poll (never across an `await`).
//!
//! What differs from a socket, and how it is bridged:
//! - **Readiness.** A socket can say "readable" without reading; a pipe cannot. So
//!   [`MemoryStream::poll_read_ready`] reads what is there into `ahead`, and the next read
//!   returns those bytes first.
//! - **Non-waiting calls.** `try_read` / `try_write` poll the pipe with a waker that does
//!   nothing, and turn `Pending` into `WouldBlock`. That waker replaces whichever one the pipe
//!   held for this direction; this is harmless because each direction has one user at a time
//!   (the connection, or the body it lent the read side to, both on the connection's task) and
//!   every `WouldBlock` is followed by a waiting call, which registers the real waker again
//!   before the task sleeps.
//! - **Closing.** `shutdown(Write)` (or `Both`) closes the pipe towards the peer: it reads end
//!   of stream after the bytes already written, as after a TCP FIN. `shutdown(Read)` does
//!   nothing (the server never uses it). When the peer drops its end, reads here see end of
//!   stream after what it sent, and writes fail with `BrokenPipe`, as a TCP write to a closed
//!   peer fails with `EPIPE` or `ECONNRESET`. Unlike TCP, closing never discards bytes
//!   already sent (no reset), so a test can demand every byte.

use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use spindle::io::{AsyncRead, AsyncWrite, DuplexStream};

/// Most bytes [`MemoryStream::poll_read_ready`] reads ahead at once.
const READ_AHEAD: usize = 16 * 1024;

/// One end of an in-memory pipe, shareable like a socket (see the module docs).
#[derive(Debug)]
pub(crate) struct MemoryStream {
    /// The pipe and the bytes read ahead of the reader.
    inner: Mutex<Inner>,
}

/// What the mutex guards.
#[derive(Debug)]
struct Inner {
    /// The server's end of the pipe.
    pipe: DuplexStream,
    /// Bytes taken from the pipe by a readiness check and not yet read; handed out before
    /// anything new is read from the pipe.
    ahead: Vec<u8>,
}

/// A waker that does nothing, for the non-waiting calls. `Waker::noop` allocates nothing: an
/// earlier version kept an `Arc` of a zero-sized type in a static, whose waker pointed just past
/// its 16-byte allocation, so LeakSanitizer saw that allocation unreferenced and reported it as
/// a leak at the first non-waiting call (`docs/fuzzing.md`, "Leak checking").
fn noop_waker() -> &'static Waker {
    Waker::noop()
}

/// `Pending` becomes `WouldBlock`: the answer of a call that must not wait.
fn now_or_would_block<T>(p: Poll<io::Result<T>>) -> io::Result<T> {
    match p {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

impl MemoryStream {
    /// Wraps the server's end of a pipe.
    pub(crate) fn new(pipe: DuplexStream) -> MemoryStream {
        MemoryStream {
            inner: Mutex::new(Inner {
                pipe,
                ahead: Vec::new(),
            }),
        }
    }

    /// The pipe, locked. A panic while it was held cannot leave it inconsistent (every
    /// critical section is one call into the pipe), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads into `buf`: the bytes read ahead first, else from the pipe (registering `cx` if it
    /// is empty). `Ok(0)` at end of stream.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.lock();
        if !inner.ahead.is_empty() {
            let n = buf.len().min(inner.ahead.len());
            buf[..n].copy_from_slice(&inner.ahead[..n]);
            inner.ahead.drain(..n);
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut inner.pipe).poll_read(cx, buf)
    }

    /// [`MemoryStream::poll_read`] without waiting.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        now_or_would_block(self.poll_read(&mut Context::from_waker(noop_waker()), buf))
    }

    /// Ready once a read would not wait: bytes are read ahead (kept for the next read), or the
    /// peer has closed (end of stream, which the next read reports again).
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        if !inner.ahead.is_empty() {
            return Poll::Ready(Ok(()));
        }
        let mut chunk = [0u8; READ_AHEAD];
        match Pin::new(&mut inner.pipe).poll_read(cx, &mut chunk) {
            Poll::Ready(Ok(n)) => {
                inner.ahead.extend_from_slice(&chunk[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes some of `buf` into the pipe, waiting (registering `cx`) while it is full.
    /// `BrokenPipe` once the peer has dropped its end, or after our own `shutdown(Write)`.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.lock().pipe).poll_write(cx, buf)
    }

    /// [`MemoryStream::poll_write`] without waiting.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        now_or_would_block(self.poll_write(&mut Context::from_waker(noop_waker()), buf))
    }

    /// `Write` or `Both`: the peer reads end of stream after what was written. `Read`: nothing.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        if how == std::net::Shutdown::Read {
            return Ok(());
        }
        // A pipe's shutdown never waits (nothing is buffered on the writing side).
        let mut cx = Context::from_waker(noop_waker());
        now_or_would_block(Pin::new(&mut self.lock().pipe).poll_shutdown(&mut cx))
    }
}

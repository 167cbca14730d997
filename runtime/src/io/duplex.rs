//! [`duplex`]: an in-memory, bounded, two-way byte pipe whose ends implement [`AsyncRead`] and
//! [`AsyncWrite`], so a protocol (an HTTP connection, a client) can be driven in a test or a fuzzer
//! without sockets, with the same back-pressure and end-of-stream behaviour as TCP.
//!
//! Talks to: `crate::loom` (the shared pipes), `crate::coop` (each read or write spends budget,
//! like a socket's, so two tasks ping-ponging over a pipe still yield to others).
//!
//! Each direction is one [`Pipe`] behind a mutex, shared by the end that writes it and the end
//! that reads it. The wake-up handshake is plain: a side that must wait stores its waker *under the
//! same lock* under which it found the pipe empty (or full), and the other side takes that waker
//! under the lock after changing the pipe, then wakes it after unlocking. Because the check and the
//! store happen in one critical section, a change cannot slip in between them unseen, so no
//! wake-up is lost.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use crate::coop;
use crate::loom::{Arc, Mutex};

use super::{AsyncRead, AsyncWrite};

/// Creates a connected pair of in-memory streams. Bytes written to one end are read from the
/// other; each direction buffers at most `max_buf_size` bytes (at least 1), after which writes
/// wait for the reader. Dropping or shutting down an end makes the other end read end of stream;
/// writing towards a dropped end fails with `BrokenPipe`.
///
/// # Example
/// ```
/// use spindle::io::{AsyncReadExt, AsyncWriteExt};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let (mut client, mut server) = spindle::io::duplex(16);
///     let echo = spindle::spawn(async move {
///         let mut buf = [0u8; 5];
///         server.read_exact(&mut buf).await?;
///         server.write_all(&buf).await
///     });
///     client.write_all(b"hello").await?;
///     let mut back = [0u8; 5];
///     client.read_exact(&mut back).await?;
///     assert_eq!(&back, b"hello");
///     echo.await.unwrap()
/// })
/// .unwrap();
/// ```
pub fn duplex(max_buf_size: usize) -> (DuplexStream, DuplexStream) {
    let one = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    let two = Arc::new(Mutex::new(Pipe::new(max_buf_size)));
    (
        DuplexStream {
            read: one.clone(),
            write: two.clone(),
        },
        DuplexStream {
            read: two,
            write: one,
        },
    )
}

/// One end of a [`duplex`] pair.
#[derive(Debug)]
pub struct DuplexStream {
    /// The pipe this end reads from (the other end writes it).
    read: Arc<Mutex<Pipe>>,
    /// The pipe this end writes to (the other end reads it).
    write: Arc<Mutex<Pipe>>,
}

/// One direction of a duplex pair.
#[derive(Debug)]
struct Pipe {
    /// Bytes written and not yet read. INVARIANT: `buf.len() <= max`.
    buf: VecDeque<u8>,
    /// The bound on `buf`.
    max: usize,
    /// The writing end shut down or was dropped: once `buf` is empty, reads return end of stream.
    write_closed: bool,
    /// The reading end was dropped: writes fail with `BrokenPipe`.
    read_closed: bool,
    /// The reader waiting for bytes (stored when it found `buf` empty).
    read_waker: Option<Waker>,
    /// The writer waiting for room (stored when it found `buf` full).
    write_waker: Option<Waker>,
}

impl Pipe {
    /// An empty, open pipe holding at most `max` bytes.
    fn new(max: usize) -> Pipe {
        Pipe {
            buf: VecDeque::new(),
            max: max.max(1),
            write_closed: false,
            read_closed: false,
            read_waker: None,
            write_waker: None,
        }
    }
}

/// Stores `cx`'s waker in `slot` unless the same task is already there.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Wakes `waker` if there is one (called after the pipe's lock is released).
fn wake(waker: Option<Waker>) {
    if let Some(w) = waker {
        w.wake();
    }
}

impl AsyncRead for DuplexStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(coop::poll_proceed(cx));
        let mut pipe = self.read.lock();
        if pipe.buf.is_empty() {
            if pipe.write_closed {
                return Poll::Ready(Ok(0));
            }
            register(&mut pipe.read_waker, cx);
            return Poll::Pending;
        }
        let n = out.len().min(pipe.buf.len());
        for (dst, src) in out.iter_mut().zip(pipe.buf.drain(..n)) {
            *dst = src;
        }
        let writer = pipe.write_waker.take();
        drop(pipe);
        wake(writer); // there is room now
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for DuplexStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(coop::poll_proceed(cx));
        let mut pipe = self.write.lock();
        if pipe.read_closed || pipe.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                if pipe.read_closed {
                    "the other end of the duplex pipe was dropped"
                } else {
                    "this end of the duplex pipe was shut down"
                },
            )));
        }
        let room = pipe.max - pipe.buf.len();
        if room == 0 {
            register(&mut pipe.write_waker, cx);
            return Poll::Pending;
        }
        let n = room.min(data.len());
        pipe.buf.extend(&data[..n]);
        let reader = pipe.read_waker.take();
        drop(pipe);
        wake(reader); // there are bytes now
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written bytes are in the pipe at once: nothing is held back.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut pipe = self.write.lock();
        pipe.write_closed = true;
        let reader = pipe.read_waker.take();
        drop(pipe);
        wake(reader); // it can now see end of stream
        Poll::Ready(Ok(()))
    }
}

impl Drop for DuplexStream {
    fn drop(&mut self) {
        // The other end reads end of stream from our write pipe, and fails writing to our read pipe.
        let mut pipe = self.write.lock();
        pipe.write_closed = true;
        let reader = pipe.read_waker.take();
        drop(pipe);
        wake(reader);
        let mut pipe = self.read.lock();
        pipe.read_closed = true;
        let writer = pipe.write_waker.take();
        drop(pipe);
        wake(writer);
    }
}

//! Byte streams as a tokio user expects them: the poll-based [`AsyncRead`] / [`AsyncWrite`] /
//! [`AsyncBufRead`] traits, the `async` methods people reach for ([`AsyncReadExt::read_exact`],
//! [`AsyncWriteExt::write_all`], [`AsyncBufReadExt::read_line`], ...), [`copy`] and
//! [`copy_bidirectional`], [`BufReader`] / [`BufWriter`], and an in-memory [`duplex`] pipe.
//!
//! Talks to: `crate::net` (a [`TcpStream`](crate::net::TcpStream) implements the traits on top of
//! the reactor's readiness), `crate::coop` (the duplex pipe spends cooperative budget like a
//! socket), `crate::loom` (the duplex pipe's shared state).
//!
//! # The contract of a `poll_*` method
//!
//! A `poll_read` either makes progress now (`Ready(Ok(n))`, where `n == 0` means end of stream
//! for a non-empty buffer), fails (`Ready(Err(e))`), or returns `Pending` *after* arranging for
//! `cx`'s waker to be woken when trying again may make progress. That last clause is the whole
//! protocol: for a socket it means "the reactor has our waker for the read direction"
//! (see `docs/reactor.md`, section "AsyncRead and AsyncWrite"); for a [`duplex`] pipe it means
//! "the waker is stored in the shared pipe, and the other end wakes it when it writes".
//! A `Pending` without a registered waker would hang the task forever.
//!
//! Writes are symmetric; `poll_flush` pushes out anything buffered inside the writer (a
//! [`BufWriter`]; a socket has nothing to flush), and `poll_shutdown` flushes and then closes the
//! write direction, so the peer reads end of stream.
//!
//! Invariant shared by every type here: no method ever blocks the thread.
//!
//! ```
//! use spindle::io::{AsyncReadExt, AsyncWriteExt};
//!
//! spindle::Runtime::new().unwrap().block_on(async {
//!     let (mut client, mut server) = spindle::io::duplex(64);
//!     client.write_all(b"ping").await?;
//!     let mut buf = [0u8; 4];
//!     server.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"ping");
//!     Ok::<_, std::io::Error>(())
//! })
//! .unwrap();
//! ```

use std::io;
use std::io::IoSlice;
use std::ops::DerefMut;
use std::pin::Pin;
use std::task::{Context, Poll};

mod buf_reader;
mod buf_writer;
mod copy;
mod duplex;
mod ext;

pub use buf_reader::BufReader;
pub use buf_writer::BufWriter;
pub use copy::{copy, copy_bidirectional};
pub use duplex::{duplex, DuplexStream};
pub use ext::{
    AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, Flush, Lines, ReadExact, ReadLine, ReadSome,
    ReadToEnd, ReadToString, ReadUntil, Shutdown, WriteAll, WriteSome,
};

/// Reads bytes from a source without blocking the thread (tokio's `AsyncRead`, with a plain
/// `&mut [u8]` instead of a `ReadBuf`: simpler to read and to implement, at the price of callers
/// zeroing new buffer space once).
///
/// Most code calls the `async` methods of [`AsyncReadExt`] instead of `poll_read`.
pub trait AsyncRead {
    /// Reads some bytes into `buf`: `Ready(Ok(n))` with `1 <= n <= buf.len()`, or `Ready(Ok(0))` at
    /// end of stream (or when `buf` is empty); `Pending` after registering `cx`'s waker to be woken
    /// when data may have arrived.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;
}

/// Writes bytes to a sink without blocking the thread (tokio's `AsyncWrite`).
///
/// Most code calls the `async` methods of [`AsyncWriteExt`] instead.
pub trait AsyncWrite {
    /// Writes some of `buf`: `Ready(Ok(n))` with `n` bytes taken (`0` only if `buf` is empty or the
    /// sink can take no more ever); `Pending` after registering `cx`'s waker for when there is room.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>>;

    /// Pushes out whatever the writer buffers internally; `Ready(Ok(()))` once all of it is with
    /// the underlying sink.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Flushes and then closes the write direction: the peer reads end of stream. Writing after
    /// a shutdown is an error.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Writes from several buffers in order. The default writes the first non-empty one; a socket
    /// overrides it with one `writev(2)`.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let buf = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        self.poll_write(cx, buf)
    }
}

/// A reader with an internal buffer that can be inspected before it is consumed, which is what
/// line-oriented reading needs (tokio's `AsyncBufRead`).
pub trait AsyncBufRead: AsyncRead {
    /// Returns the buffered bytes, reading more from the source first if none are buffered. An
    /// empty slice means end of stream.
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>>;

    /// Marks `amt` bytes of the buffer returned by `poll_fill_buf` as used.
    fn consume(self: Pin<&mut Self>, amt: usize);
}

// Forwarding impls: a `&mut R`, a `Box<R>` and a `Pin<P>` read and write like the `R` they
// point at, so the extension methods can take `&mut self` and still drive any reader.

/// Forwards `AsyncRead` of a pointer (`&mut R`, `Box<R>`) to the `R` it points at.
macro_rules! forward_read {
    () => {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self.get_mut()).poll_read(cx, buf)
        }
    };
}

impl<R: AsyncRead + Unpin + ?Sized> AsyncRead for &mut R {
    forward_read!();
}

impl<R: AsyncRead + Unpin + ?Sized> AsyncRead for Box<R> {
    forward_read!();
}

impl<P> AsyncRead for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncRead,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_read(cx, buf)
    }
}

/// Forwards every `AsyncWrite` method of a pointer (`&mut W`, `Box<W>`) to the `W` it points at.
macro_rules! forward_write {
    () => {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self.get_mut()).poll_write(cx, buf)
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut **self.get_mut()).poll_flush(cx)
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut **self.get_mut()).poll_shutdown(cx)
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut **self.get_mut()).poll_write_vectored(cx, bufs)
        }
    };
}

impl<W: AsyncWrite + Unpin + ?Sized> AsyncWrite for &mut W {
    forward_write!();
}

impl<W: AsyncWrite + Unpin + ?Sized> AsyncWrite for Box<W> {
    forward_write!();
}

impl<P> AsyncWrite for Pin<P>
where
    P: DerefMut + Unpin,
    P::Target: AsyncWrite,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().as_mut().poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().as_mut().poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().as_mut().poll_write_vectored(cx, bufs)
    }
}

impl<R: AsyncBufRead + Unpin + ?Sized> AsyncBufRead for &mut R {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut **self.get_mut()).poll_fill_buf(cx)
    }
    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut **self.get_mut()).consume(amt)
    }
}

impl<R: AsyncBufRead + Unpin + ?Sized> AsyncBufRead for Box<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut **self.get_mut()).poll_fill_buf(cx)
    }
    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut **self.get_mut()).consume(amt)
    }
}

/// A byte slice reads like a stream that is already complete: handy in tests and for [`copy`].
impl AsyncRead for &[u8] {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = this.len().min(buf.len());
        buf[..n].copy_from_slice(&this[..n]);
        *this = &this[n..];
        Poll::Ready(Ok(n))
    }
}

/// A vector is a sink that takes every byte at once.
impl AsyncWrite for Vec<u8> {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

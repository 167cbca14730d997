//! [`BufReader`]: reads from its source in large chunks and hands them out in small pieces, which
//! is what line-by-line reading ([`AsyncBufReadExt`](super::AsyncBufReadExt)) needs.
//!
//! Talks to: the wrapped [`AsyncRead`]; forwards [`AsyncWrite`] untouched, so a `BufReader` around
//! a socket still writes to it.
//!
//! Invariant: `buf[pos..filled]` are bytes read from the source and not yet handed out;
//! `pos <= filled <= buf.len()`.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncBufRead, AsyncRead, AsyncWrite};

/// Default buffer size, as std's and tokio's.
const DEFAULT_CAPACITY: usize = 8 * 1024;

/// Adds a read buffer to any [`AsyncRead`].
///
/// ```
/// use spindle::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let (mut a, b) = spindle::io::duplex(64);
///     spindle::spawn(async move { a.write_all(b"one\ntwo\n").await });
///     let mut lines = BufReader::new(b).lines();
///     while let Some(line) = lines.next_line().await? {
///         println!("{line}");
///     }
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct BufReader<R> {
    /// The source.
    inner: R,
    /// The buffer; its length is the capacity (zeroed once, then reused).
    buf: Box<[u8]>,
    /// Start of the unread bytes.
    pos: usize,
    /// End of the unread bytes.
    filled: usize,
}

impl<R: AsyncRead> BufReader<R> {
    /// A reader with an 8 KiB buffer.
    pub fn new(inner: R) -> BufReader<R> {
        BufReader::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A reader with a buffer of `capacity` bytes (at least 1).
    pub fn with_capacity(capacity: usize, inner: R) -> BufReader<R> {
        BufReader {
            inner,
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
        }
    }
}

impl<R> BufReader<R> {
    /// The wrapped source.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The wrapped source, mutably (reading from it directly skips the buffered bytes).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The bytes buffered and not yet read.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// The source back; buffered bytes are lost (read [`BufReader::buffer`] first if they matter).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for BufReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A read at least as large as our buffer, with nothing buffered, goes straight through:
        // copying it via the buffer would only cost time.
        if this.pos == this.filled && out.len() >= this.buf.len() {
            return Pin::new(&mut this.inner).poll_read(cx, out);
        }
        let available = ready!(Pin::new(&mut *this).poll_fill_buf(cx))?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        Pin::new(this).consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead + Unpin> AsyncBufRead for BufReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.pos == this.filled {
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.buf))?;
            this.pos = 0;
            this.filled = n;
        }
        Poll::Ready(Ok(&this.buf[this.pos..this.filled]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.filled);
    }
}

impl<R: AsyncWrite + Unpin> AsyncWrite for BufReader<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

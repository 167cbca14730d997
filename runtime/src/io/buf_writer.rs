//! [`BufWriter`]: collects small writes in a buffer and hands them to its sink in large ones,
//! so that many tiny `write_all` calls cost few syscalls. Call `flush` (or `shutdown`) at the end:
//! dropping a `BufWriter` with buffered bytes loses them, because a drop cannot wait.
//!
//! Talks to: the wrapped [`AsyncWrite`]; forwards [`AsyncRead`] untouched.
//!
//! Invariant: `buf[written..]` are bytes accepted from the caller and not yet taken by the sink;
//! `buf.len() <= capacity` except transiently inside `poll_write`, which never lets it grow past.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncRead, AsyncWrite};

/// Default buffer size, as std's and tokio's.
const DEFAULT_CAPACITY: usize = 8 * 1024;

/// Adds a write buffer to any [`AsyncWrite`].
///
/// ```
/// use spindle::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let (a, mut b) = spindle::io::duplex(64);
///     let mut w = BufWriter::new(a);
///     for word in ["a", "b", "c"] {
///         w.write_all(word.as_bytes()).await?; // stays in the buffer
///     }
///     w.flush().await?; // now the peer can read "abc"
///     let mut got = [0u8; 3];
///     b.read_exact(&mut got).await?;
///     assert_eq!(&got, b"abc");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct BufWriter<W> {
    /// The sink.
    inner: W,
    /// The buffered bytes (`buf[written..]` are still to go).
    buf: Vec<u8>,
    /// How many bytes at the front of `buf` the sink already took during a partial flush.
    written: usize,
    /// When the buffer is full it is flushed; writes this large or larger skip it.
    capacity: usize,
}

impl<W: AsyncWrite> BufWriter<W> {
    /// A writer with an 8 KiB buffer.
    pub fn new(inner: W) -> BufWriter<W> {
        BufWriter::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A writer with a buffer of `capacity` bytes.
    pub fn with_capacity(capacity: usize, inner: W) -> BufWriter<W> {
        BufWriter {
            inner,
            buf: Vec::with_capacity(capacity),
            written: 0,
            capacity,
        }
    }
}

impl<W> BufWriter<W> {
    /// The wrapped sink.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The wrapped sink, mutably (writing to it directly jumps ahead of the buffered bytes).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The bytes buffered and not yet written to the sink.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.written..]
    }

    /// The sink back; buffered bytes are lost (flush first).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: AsyncWrite + Unpin> BufWriter<W> {
    /// Hands the buffered bytes to the sink until the buffer is empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the sink took no bytes while flushing a BufWriter",
                )));
            }
            self.written += n;
        }
        self.buf.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for BufWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // 1. No room: empty the buffer first.
        if this.buf.len() + data.len() > this.capacity {
            ready!(this.poll_drain(cx))?;
        }
        // 2. A write as large as the whole buffer goes straight to the sink.
        if data.len() >= this.capacity {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        // 3. Otherwise it is buffered; it always fits now.
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<W: AsyncRead + Unpin> AsyncRead for BufWriter<W> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

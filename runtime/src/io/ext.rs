//! The `async` methods on top of the poll traits: [`AsyncReadExt`], [`AsyncWriteExt`],
//! [`AsyncBufReadExt`], each returning a small named future (so it is `Send` whenever the reader is,
//! and can be stored in a struct), and the [`Lines`] stream.
//!
//! Talks to: the traits in `super`; nothing else. Every future here only borrows the reader and
//! re-polls it; none holds a lock or spawns anything.
//!
//! Cancel safety (dropping a future before it finishes): `read`, `write`, `flush`, `fill`-style
//! reads lose nothing; `read_exact` and `write_all` may have moved part of the bytes; `read_to_end`
//! and `read_until` keep what they appended to the caller's `Vec`; `read_to_string` and
//! `read_line` hold bytes in the future until they are checked as UTF-8, so those bytes are lost.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncBufRead, AsyncRead, AsyncWrite};

/// Most bytes [`AsyncReadExt::read_to_end`] asks for in one read (the spare space it zeroes first).
const MAX_READ_WINDOW: usize = 64 * 1024;
/// Least spare space [`AsyncReadExt::read_to_end`] keeps before each read.
const MIN_READ_WINDOW: usize = 32;

/// `async` reading methods for every [`AsyncRead`] (import the trait to use them).
///
/// ```
/// use spindle::io::{AsyncReadExt, AsyncWriteExt};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let (mut a, mut b) = spindle::io::duplex(1024);
///     a.write_all(b"hello world").await?;
///     a.shutdown().await?;
///     let mut first = [0u8; 5];
///     b.read_exact(&mut first).await?;
///     let mut rest = String::new();
///     b.read_to_string(&mut rest).await?;
///     assert_eq!((&first, rest.as_str()), (b"hello", " world"));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub trait AsyncReadExt: AsyncRead {
    /// Reads some bytes into `buf`; `Ok(0)` at end of stream.
    fn read<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadSome<'a, Self>
    where
        Self: Unpin,
    {
        ReadSome { reader: self, buf }
    }

    /// Reads exactly `buf.len()` bytes; end of stream first is an `UnexpectedEof` error.
    fn read_exact<'a>(&'a mut self, buf: &'a mut [u8]) -> ReadExact<'a, Self>
    where
        Self: Unpin,
    {
        ReadExact {
            reader: self,
            buf,
            filled: 0,
        }
    }

    /// Reads until end of stream, appending to `buf`; returns how many bytes were appended.
    fn read_to_end<'a>(&'a mut self, buf: &'a mut Vec<u8>) -> ReadToEnd<'a, Self>
    where
        Self: Unpin,
    {
        ReadToEnd {
            reader: self,
            buf,
            appended: 0,
        }
    }

    /// Reads until end of stream and appends the bytes to `buf` if they are UTF-8 (an
    /// `InvalidData` error leaves `buf` unchanged); returns how many bytes were appended.
    fn read_to_string<'a>(&'a mut self, buf: &'a mut String) -> ReadToString<'a, Self>
    where
        Self: Unpin,
    {
        ReadToString {
            reader: self,
            out: buf,
            bytes: Vec::new(),
        }
    }
}

impl<R: AsyncRead + ?Sized> AsyncReadExt for R {}

/// `async` writing methods for every [`AsyncWrite`] (import the trait to use them).
///
/// ```
/// use spindle::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let (a, mut b) = spindle::io::duplex(1024);
///     let mut w = BufWriter::new(a);
///     w.write_all(b"buffered, then flushed").await?;
///     w.flush().await?;
///     w.shutdown().await?;
///     let mut got = Vec::new();
///     b.read_to_end(&mut got).await?;
///     assert_eq!(got, b"buffered, then flushed");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub trait AsyncWriteExt: AsyncWrite {
    /// Writes some of `buf`; returns how many bytes were taken.
    fn write<'a>(&'a mut self, buf: &'a [u8]) -> WriteSome<'a, Self>
    where
        Self: Unpin,
    {
        WriteSome { writer: self, buf }
    }

    /// Writes all of `buf`; a writer that takes 0 bytes is a `WriteZero` error.
    fn write_all<'a>(&'a mut self, buf: &'a [u8]) -> WriteAll<'a, Self>
    where
        Self: Unpin,
    {
        WriteAll { writer: self, buf }
    }

    /// Pushes out anything the writer buffers.
    fn flush(&mut self) -> Flush<'_, Self>
    where
        Self: Unpin,
    {
        Flush { writer: self }
    }

    /// Flushes, then closes the write direction (the peer reads end of stream).
    ///
    /// On a [`TcpStream`](crate::net::TcpStream) the inherent `shutdown(how)` (std's, synchronous)
    /// is found first by method syntax; call this one as `AsyncWriteExt::shutdown(&mut stream)`.
    fn shutdown(&mut self) -> Shutdown<'_, Self>
    where
        Self: Unpin,
    {
        Shutdown { writer: self }
    }
}

impl<W: AsyncWrite + ?Sized> AsyncWriteExt for W {}

/// `async` line-oriented methods for every [`AsyncBufRead`] (such as a [`BufReader`](super::BufReader)).
///
/// ```
/// use spindle::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let (mut a, b) = spindle::io::duplex(1024);
///     a.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await?;
///     drop(a); // end of stream
///     let mut reader = BufReader::new(b);
///     let mut first = String::new();
///     reader.read_line(&mut first).await?;
///     assert_eq!(first, "GET / HTTP/1.1\r\n");
///     let mut lines = reader.lines();
///     assert_eq!(lines.next_line().await?.as_deref(), Some("host: x"));
///     assert_eq!(lines.next_line().await?, None);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub trait AsyncBufReadExt: AsyncBufRead {
    /// Reads into `buf` up to and including the first `byte` (or to end of stream); returns how
    /// many bytes were appended (0 at end of stream).
    fn read_until<'a>(&'a mut self, byte: u8, buf: &'a mut Vec<u8>) -> ReadUntil<'a, Self>
    where
        Self: Unpin,
    {
        ReadUntil {
            reader: self,
            byte,
            buf,
            appended: 0,
        }
    }

    /// Reads one line, `\n` included, and appends it to `buf`; returns how many bytes were
    /// appended (0 at end of stream). Bytes that are not UTF-8 are an `InvalidData` error.
    fn read_line<'a>(&'a mut self, buf: &'a mut String) -> ReadLine<'a, Self>
    where
        Self: Unpin,
    {
        ReadLine {
            reader: self,
            out: buf,
            bytes: Vec::new(),
        }
    }

    /// The lines of the stream, without their `\n` or `\r\n`.
    fn lines(self) -> Lines<Self>
    where
        Self: Sized,
    {
        Lines {
            reader: self,
            bytes: Vec::new(),
        }
    }
}

impl<R: AsyncBufRead + ?Sized> AsyncBufReadExt for R {}

/// Future of [`AsyncReadExt::read`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadSome<'a, R: ?Sized> {
    /// The source.
    reader: &'a mut R,
    /// Where the bytes go.
    buf: &'a mut [u8],
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadSome<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut *this.reader).poll_read(cx, this.buf)
    }
}

/// Future of [`AsyncReadExt::read_exact`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadExact<'a, R: ?Sized> {
    /// The source.
    reader: &'a mut R,
    /// Where the bytes go.
    buf: &'a mut [u8],
    /// INVARIANT: `buf[..filled]` already holds bytes read.
    filled: usize,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadExact<'_, R> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while this.filled < this.buf.len() {
            let n =
                ready!(Pin::new(&mut *this.reader).poll_read(cx, &mut this.buf[this.filled..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "end of stream after {} of {} bytes",
                        this.filled,
                        this.buf.len()
                    ),
                )));
            }
            this.filled += n;
        }
        Poll::Ready(Ok(()))
    }
}

/// Future of [`AsyncReadExt::read_to_end`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadToEnd<'a, R: ?Sized> {
    /// The source.
    reader: &'a mut R,
    /// The caller's vector; only ever holds real bytes between polls (no zero padding).
    buf: &'a mut Vec<u8>,
    /// Bytes appended so far.
    appended: usize,
}

/// Reads from `reader` until end of stream, appending to `buf` and counting in `appended`. The
/// spare space is zeroed before each read (the trait takes `&mut [u8]`) and trimmed off again
/// before returning, so `buf` never shows bytes that were not read.
fn poll_read_to_end<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
    appended: &mut usize,
) -> Poll<io::Result<usize>> {
    loop {
        if buf.capacity() - buf.len() < MIN_READ_WINDOW {
            // Doubling growth keeps the number of reallocations logarithmic in the total size.
            buf.reserve(buf.len().max(MIN_READ_WINDOW));
        }
        let len = buf.len();
        let window = (buf.capacity() - len).min(MAX_READ_WINDOW);
        buf.resize(len + window, 0);
        let result = Pin::new(&mut *reader).poll_read(cx, &mut buf[len..]);
        let n = match &result {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(len + n);
        match result {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(*appended)),
            Poll::Ready(Ok(n)) => *appended += n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToEnd<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_read_to_end(this.reader, cx, this.buf, &mut this.appended)
    }
}

/// Future of [`AsyncReadExt::read_to_string`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadToString<'a, R: ?Sized> {
    /// The source.
    reader: &'a mut R,
    /// The caller's string, appended to only once all bytes are in and checked.
    out: &'a mut String,
    /// The bytes read so far.
    bytes: Vec<u8>,
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToString<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut appended = this.bytes.len();
        let n = ready!(poll_read_to_end(
            this.reader,
            cx,
            &mut this.bytes,
            &mut appended
        ))?;
        Poll::Ready(append_utf8(this.out, std::mem::take(&mut this.bytes)).map(|()| n))
    }
}

/// Appends `bytes` to `out` if they are UTF-8; otherwise an `InvalidData` error and `out` unchanged.
fn append_utf8(out: &mut String, bytes: Vec<u8>) -> io::Result<()> {
    match String::from_utf8(bytes) {
        Ok(s) => {
            out.push_str(&s);
            Ok(())
        }
        Err(_) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )),
    }
}

/// Moves bytes from `reader`'s buffer into `buf` up to and including `byte`, or to end of
/// stream; counts them in `appended`.
fn poll_read_until<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
    cx: &mut Context<'_>,
    byte: u8,
    buf: &mut Vec<u8>,
    appended: &mut usize,
) -> Poll<io::Result<usize>> {
    loop {
        let (found, used) = {
            let available = ready!(Pin::new(&mut *reader).poll_fill_buf(cx))?;
            match available.iter().position(|&b| b == byte) {
                Some(i) => {
                    buf.extend_from_slice(&available[..=i]);
                    (true, i + 1)
                }
                None => {
                    buf.extend_from_slice(available);
                    (available.is_empty(), available.len())
                }
            }
        };
        Pin::new(&mut *reader).consume(used);
        *appended += used;
        if found {
            return Poll::Ready(Ok(std::mem::take(appended)));
        }
    }
}

/// Future of [`AsyncBufReadExt::read_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadUntil<'a, R: ?Sized> {
    /// The source.
    reader: &'a mut R,
    /// The delimiter.
    byte: u8,
    /// The caller's vector.
    buf: &'a mut Vec<u8>,
    /// Bytes appended so far.
    appended: usize,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadUntil<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        poll_read_until(this.reader, cx, this.byte, this.buf, &mut this.appended)
    }
}

/// Future of [`AsyncBufReadExt::read_line`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct ReadLine<'a, R: ?Sized> {
    /// The source.
    reader: &'a mut R,
    /// The caller's string, appended to once the line is complete and checked.
    out: &'a mut String,
    /// The line's bytes so far.
    bytes: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin + ?Sized> Future for ReadLine<'_, R> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut appended = this.bytes.len();
        let n = ready!(poll_read_until(
            this.reader,
            cx,
            b'\n',
            &mut this.bytes,
            &mut appended
        ))?;
        Poll::Ready(append_utf8(this.out, std::mem::take(&mut this.bytes)).map(|()| n))
    }
}

/// The lines of a buffered reader, from [`AsyncBufReadExt::lines`].
#[derive(Debug)]
pub struct Lines<R> {
    /// The source.
    reader: R,
    /// The current line's bytes so far (kept across `Pending`, so `next_line` is cancel safe).
    bytes: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> Lines<R> {
    /// The next line without its `\n` / `\r\n`, or `None` at end of stream. A line that is not
    /// UTF-8 is an `InvalidData` error.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        std::future::poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// The poll form of [`Lines::next_line`].
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        let mut appended = self.bytes.len();
        let n = ready!(poll_read_until(
            &mut self.reader,
            cx,
            b'\n',
            &mut self.bytes,
            &mut appended
        ))?;
        if n == 0 && self.bytes.is_empty() {
            return Poll::Ready(Ok(None));
        }
        let mut bytes = std::mem::take(&mut self.bytes);
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        let mut line = String::new();
        append_utf8(&mut line, bytes)?;
        Poll::Ready(Ok(Some(line)))
    }

    /// The reader back (with whatever it still buffers).
    pub fn into_inner(self) -> R {
        self.reader
    }
}

/// Future of [`AsyncWriteExt::write`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct WriteSome<'a, W: ?Sized> {
    /// The sink.
    writer: &'a mut W,
    /// The bytes offered.
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteSome<'_, W> {
    type Output = io::Result<usize>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut *this.writer).poll_write(cx, this.buf)
    }
}

/// Future of [`AsyncWriteExt::write_all`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct WriteAll<'a, W: ?Sized> {
    /// The sink.
    writer: &'a mut W,
    /// The bytes not yet taken.
    buf: &'a [u8],
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for WriteAll<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        while !this.buf.is_empty() {
            let n = ready!(Pin::new(&mut *this.writer).poll_write(cx, this.buf))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            this.buf = &this.buf[n..];
        }
        Poll::Ready(Ok(()))
    }
}

/// Future of [`AsyncWriteExt::flush`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Flush<'a, W: ?Sized> {
    /// The sink.
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Flush<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.get_mut().writer).poll_flush(cx)
    }
}

/// Future of [`AsyncWriteExt::shutdown`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Shutdown<'a, W: ?Sized> {
    /// The sink.
    writer: &'a mut W,
}

impl<W: AsyncWrite + Unpin + ?Sized> Future for Shutdown<'_, W> {
    type Output = io::Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.get_mut().writer).poll_shutdown(cx)
    }
}

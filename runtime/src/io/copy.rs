//! [`copy`] and [`copy_bidirectional`]: move bytes from readers to writers until end of stream,
//! the core of every proxy.
//!
//! Talks to: the traits in `super`. One [`CopyBuffer`] state machine does one direction; the
//! bidirectional copy polls two of them in the same task, so no task is spawned.
//!
//! Invariant (of a `CopyBuffer`): `buf[pos..cap]` were read and not yet written; a new read
//! happens only once they are all written (`pos == cap`).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::{AsyncRead, AsyncWrite};

/// Size of each direction's buffer.
const COPY_BUFFER: usize = 8 * 1024;

/// One direction of a copy: read into `buf`, write it all out, repeat until end of stream, then
/// flush.
#[derive(Debug)]
struct CopyBuffer {
    /// The bytes in transit.
    buf: Box<[u8]>,
    /// Start of the bytes not yet written.
    pos: usize,
    /// End of the bytes read.
    cap: usize,
    /// The reader reached end of stream.
    read_done: bool,
    /// Bytes were written since the last flush.
    need_flush: bool,
    /// Bytes copied in total.
    amount: u64,
}

impl CopyBuffer {
    /// A fresh, empty buffer.
    fn new() -> CopyBuffer {
        CopyBuffer {
            buf: vec![0; COPY_BUFFER].into_boxed_slice(),
            pos: 0,
            cap: 0,
            read_done: false,
            need_flush: false,
            amount: 0,
        }
    }

    /// Copies until `reader` ends and everything is written and flushed; returns the total.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            // 1. Buffer empty: read more. If the reader has nothing now, flush what we wrote so
            //    far (a buffered writer would otherwise sit on it while we wait), then wait.
            if self.pos == self.cap && !self.read_done {
                match reader.as_mut().poll_read(cx, &mut self.buf) {
                    Poll::Ready(Ok(0)) => self.read_done = true,
                    Poll::Ready(Ok(n)) => {
                        self.pos = 0;
                        self.cap = n;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        if self.need_flush {
                            ready!(writer.as_mut().poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            // 2. Write out everything that was read.
            while self.pos < self.cap {
                let n = ready!(writer
                    .as_mut()
                    .poll_write(cx, &self.buf[self.pos..self.cap]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the writer took no bytes during a copy",
                    )));
                }
                self.pos += n;
                self.amount += n as u64;
                self.need_flush = true;
            }
            // 3. End of stream and nothing left: flush and report.
            if self.read_done {
                ready!(writer.as_mut().poll_flush(cx))?;
                self.need_flush = false;
                return Poll::Ready(Ok(self.amount));
            }
        }
    }
}

/// Copies everything from `reader` to `writer` until `reader` reaches end of stream, then
/// flushes `writer`; returns how many bytes were copied. The writer is not shut down.
///
/// ```
/// use spindle::io::{AsyncReadExt, AsyncWriteExt};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let mut source: &[u8] = b"copied bytes";
///     let (mut a, mut b) = spindle::io::duplex(4); // a tiny pipe: the copy waits for the reader
///     let reader = spindle::spawn(async move {
///         let mut got = Vec::new();
///         b.read_to_end(&mut got).await.map(|_| got)
///     });
///     let n = spindle::io::copy(&mut source, &mut a).await?;
///     a.shutdown().await?;
///     assert_eq!(n, 12);
///     assert_eq!(reader.await.unwrap()?, b"copied bytes");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    let mut state = CopyBuffer::new();
    poll_fn(|cx| state.poll_copy(cx, Pin::new(&mut *reader), Pin::new(&mut *writer))).await
}

/// Where one direction of a bidirectional copy is.
#[derive(Debug)]
enum Direction {
    /// Still copying.
    Running(CopyBuffer),
    /// The source ended and everything was written: shutting the destination's write side.
    ShuttingDown(u64),
    /// Finished with this total.
    Done(u64),
}

/// Advances one direction: copy, then shut down the destination so its peer sees end of stream.
fn poll_direction<R, W>(
    state: &mut Direction,
    cx: &mut Context<'_>,
    mut reader: Pin<&mut R>,
    mut writer: Pin<&mut W>,
) -> Poll<io::Result<u64>>
where
    R: AsyncRead + ?Sized,
    W: AsyncWrite + ?Sized,
{
    loop {
        match state {
            Direction::Running(buf) => {
                let n = ready!(buf.poll_copy(cx, reader.as_mut(), writer.as_mut()))?;
                *state = Direction::ShuttingDown(n);
            }
            Direction::ShuttingDown(n) => {
                ready!(writer.as_mut().poll_shutdown(cx))?;
                *state = Direction::Done(*n);
            }
            Direction::Done(n) => return Poll::Ready(Ok(*n)),
        }
    }
}

/// Copies `a` to `b` and `b` to `a` at the same time, in this one task, until both reach end of
/// stream. When one side's reading ends, the other side's writing is shut down, so half-closes
/// pass through (the proxy's job). Returns `(bytes a→b, bytes b→a)`; the first error ends both.
///
/// ```
/// use spindle::io::{AsyncReadExt, AsyncWriteExt};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     // client <-> (proxy_a | proxy_b) <-> server
///     let (mut client, mut proxy_a) = spindle::io::duplex(64);
///     let (mut proxy_b, mut server) = spindle::io::duplex(64);
///     let proxy = spindle::spawn(async move {
///         spindle::io::copy_bidirectional(&mut proxy_a, &mut proxy_b).await
///     });
///     client.write_all(b"hi").await?;
///     client.shutdown().await?;
///     let mut got = Vec::new();
///     server.read_to_end(&mut got).await?; // ends because the proxy passed the shutdown on
///     server.write_all(b"bye").await?;
///     drop(server);
///     let mut reply = Vec::new();
///     client.read_to_end(&mut reply).await?;
///     assert_eq!((got.as_slice(), reply.as_slice()), (&b"hi"[..], &b"bye"[..]));
///     assert_eq!(proxy.await.unwrap()?, (2, 3));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut a_to_b = Direction::Running(CopyBuffer::new());
    let mut b_to_a = Direction::Running(CopyBuffer::new());
    poll_fn(|cx| {
        let forward = poll_direction(&mut a_to_b, cx, Pin::new(&mut *a), Pin::new(&mut *b))?;
        let backward = poll_direction(&mut b_to_a, cx, Pin::new(&mut *b), Pin::new(&mut *a))?;
        match (forward, backward) {
            (Poll::Ready(x), Poll::Ready(y)) => Poll::Ready(Ok((x, y))),
            _ => Poll::Pending,
        }
    })
    .await
}

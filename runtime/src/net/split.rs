//! Splitting a [`TcpStream`] into a read half and a write half, so that one task can read while
//! another writes (or one `copy` per direction runs in one task): borrowed halves from
//! [`TcpStream::split`], owned halves (movable into two tasks) from [`TcpStream::into_split`].
//!
//! Talks to: [`TcpStream`]'s `&self` I/O methods. No lock is needed: the reactor keeps a separate
//! waiter per direction (see `stream.rs`), so the two halves never wait on each other.

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::io::{AsyncRead, AsyncWrite};
use crate::loom::Arc;

use super::TcpStream;

/// The reading half of a [`TcpStream`], borrowed from [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(
    /// The whole stream; only its read methods are reached through this half.
    &'a TcpStream,
);

/// The writing half of a [`TcpStream`], borrowed from [`TcpStream::split`]. Its `poll_shutdown`
/// shuts down the write direction.
#[derive(Debug)]
pub struct WriteHalf<'a>(
    /// The whole stream; only its write methods are reached through this half.
    &'a TcpStream,
);

/// The reading half of a [`TcpStream`], owned, from [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    /// Shared with the write half; the socket closes when both halves are dropped.
    stream: Arc<TcpStream>,
}

/// The writing half of a [`TcpStream`], owned, from [`TcpStream::into_split`]. Dropping it shuts
/// down the write direction (the peer reads end of stream), as tokio's does.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    /// Shared with the read half.
    stream: Arc<TcpStream>,
}

impl TcpStream {
    /// Borrows the stream as a read half and a write half, usable at the same time (for example by
    /// two futures joined in one task).
    ///
    /// ```no_run
    /// use spindle::io::AsyncWriteExt;
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let mut stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// let (mut reader, mut writer) = stream.split();
    /// let mut upper = Vec::new();
    /// let (sent, read) = spindle::join!(
    ///     async { writer.write_all(b"ping").await?; writer.shutdown().await },
    ///     spindle::io::copy(&mut reader, &mut upper),
    /// );
    /// sent?;
    /// println!("{} bytes back", read?);
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits the stream into halves that can move into different tasks.
    ///
    /// ```no_run
    /// use spindle::io::{AsyncReadExt, AsyncWriteExt};
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// let (mut reader, mut writer) = stream.into_split();
    /// let sender = spindle::spawn(async move { writer.write_all(b"hello").await });
    /// let mut reply = Vec::new();
    /// reader.read_to_end(&mut reply).await?;
    /// sender.await.unwrap()?;
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let stream = Arc::new(self);
        (
            OwnedReadHalf {
                stream: stream.clone(),
            },
            OwnedWriteHalf { stream },
        )
    }
}

impl ReadHalf<'_> {
    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl WriteHalf<'_> {
    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}

impl OwnedReadHalf {
    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }
}

impl OwnedWriteHalf {
    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }
}

impl AsyncRead for ReadHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_read(cx, buf)
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteHalf<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.shutdown(Shutdown::Write))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_vectored(cx, bufs)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown(Shutdown::Write))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write_vectored(cx, bufs)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        // The peer learns that no more bytes will come. An error here (the connection is already
        // gone) leaves nothing to do.
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

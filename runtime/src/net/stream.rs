//! [`TcpStream`]: a connected TCP socket whose reads and writes park the task, not the thread.
//!
//! Talks to: `crate::reactor::Registration` (readiness in both directions), `crate::coop` (through
//! the registration: every read or write spends budget), and mio for the non-blocking syscalls.
//!
//! Invariants: the socket is registered for both directions for its whole life, with one waiter
//! slot per direction, so a reader task and a writer task can share the stream (`&self` methods);
//! readiness is cleared only after a syscall proves it stale (`WouldBlock`) or after a short read
//! or write shows that the kernel buffer was drained or filled (see [`TcpStream::poll_read`]).

use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use mio::Interest;

use crate::coop;
use crate::io::{AsyncRead, AsyncWrite};
use crate::reactor::{Direction, ReadyEvent, Registration};

use super::addr::{self, ToSocketAddrs};

/// How many buffers [`TcpStream::write_all_vectored`] hands to one `writev(2)` call.
const MAX_IOVECS: usize = 64;

/// A TCP connection registered with the current runtime's reactor.
///
/// Made by [`TcpStream::connect`], by [`crate::net::TcpListener::accept`], or from a `std` stream
/// with [`TcpStream::from_std`]. Dropping it closes the connection.
///
/// ```no_run
/// use spindle::net::TcpStream;
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let stream = TcpStream::connect("127.0.0.1:8080").await?;
///     stream.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
///     let mut buf = vec![0u8; 4096];
///     let n = stream.read(&mut buf).await?;
///     println!("{}", String::from_utf8_lossy(&buf[..n]));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct TcpStream {
    /// The socket and its reactor slot (read and write interest).
    reg: Registration<mio::net::TcpStream>,
}

impl TcpStream {
    /// Registers an already non-blocking mio stream (from `accept` or `connect`).
    #[track_caller]
    pub(crate) fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        let reg = Registration::new(stream, Interest::READABLE | Interest::WRITABLE)?;
        Ok(TcpStream { reg })
    }

    /// Opens a connection to `addr`, trying each resolved address in turn, and waits (parking the
    /// task) until the handshake finishes. A refused or unreachable address is an `io::Error`.
    ///
    /// A host name is resolved on the blocking pool (see [`ToSocketAddrs`]); a literal is parsed
    /// in place.
    ///
    /// # Panics
    /// Outside a spindle runtime.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// println!("connected to {}", stream.peer_addr()?);
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last_err = None;
        for addr in addr::resolve(&addr).await? {
            match TcpStream::connect_one(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to nothing to connect to",
            )
        }))
    }

    /// Connects to one address: start a non-blocking connect, wait for write readiness, and ask the
    /// socket whether the handshake succeeded.
    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        // mio's connect returns at once (EINPROGRESS); the handshake finishes in the background.
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        poll_fn(|cx| stream.poll_connected(cx)).await?;
        Ok(stream)
    }

    /// Ready once a pending connect has finished, with its outcome.
    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // 1. The kernel signals the end of a handshake as write readiness (or an error/hang-up).
            let event = ready!(self.reg.poll_ready(cx, Direction::Write))?;
            // 2. A failed handshake leaves its reason in SO_ERROR (e.g. ECONNREFUSED).
            if let Some(e) = self.reg.io().take_error()? {
                return Poll::Ready(Err(e));
            }
            // 3. Connected iff the socket has a peer. `NotConnected` after a plain WRITABLE edge
            //    means the wake-up was early: clear it and wait for the next one.
            match self.reg.io().peer_addr() {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::NotConnected && !event.is_final() => {
                    self.reg.clear_readiness(event)
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Wraps a connected `std` stream, switching it to non-blocking.
    ///
    /// # Panics
    /// Outside a spindle runtime.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let std_stream = std::net::TcpStream::connect("127.0.0.1:8080")?;
    /// let stream = spindle::net::TcpStream::from_std(std_stream)?;
    /// # drop(stream); Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Polls one transfer in `dir`: waits for readiness, runs `op`, clears readiness on
    /// `WouldBlock`, and also after a *short* transfer (fewer than `len` bytes): the kernel just told
    /// us its buffer ran dry (read) or full (write), so the next call would only hit `WouldBlock`.
    /// Clearing is safe even then, because it is skipped if a newer event arrived meanwhile.
    fn poll_transfer(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        len: usize,
        mut op: impl FnMut(&mio::net::TcpStream) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        loop {
            let event = ready!(self.reg.poll_ready(cx, dir))?;
            match self.settle(event, len, op(self.reg.io())) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue, // wait for an edge
                result => return Poll::Ready(result),
            }
        }
    }

    /// The readiness bookkeeping after one transfer attempt of up to `len` bytes, shared by
    /// the waiting and the `try_*` forms: clear `event` on `WouldBlock` and after a short
    /// transfer (see [`TcpStream::poll_transfer`]); hand the result back unchanged.
    fn settle(
        &self,
        event: ReadyEvent,
        len: usize,
        result: io::Result<usize>,
    ) -> io::Result<usize> {
        let stale = match &result {
            Ok(n) => *n > 0 && *n < len,
            Err(e) => e.kind() == io::ErrorKind::WouldBlock,
        };
        if stale {
            self.reg.clear_readiness(event);
        }
        result
    }

    /// Reads some bytes into `buf`, waiting until at least one is available. `Ok(0)` means the
    /// peer closed its write side (end of stream), or `buf` is empty.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// let mut buf = [0u8; 1024];
    /// let n = stream.read(&mut buf).await?;
    /// if n == 0 {
    ///     println!("peer closed the connection");
    /// }
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    /// The poll form of [`TcpStream::read`]. Spends one unit of the task's cooperative budget.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_transfer(cx, Direction::Read, len, |mut s| s.read(buf))
    }

    /// Writes some of `buf`, waiting until the kernel accepts at least one byte; returns how many.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// let n = stream.write(b"hello").await?;
    /// println!("the kernel took {n} of 5 bytes");
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    /// The poll form of [`TcpStream::write`]. Spends one unit of the task's cooperative budget.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_transfer(cx, Direction::Write, buf.len(), |mut s| s.write(buf))
    }

    /// Writes all of `buf`, waiting as often as needed. Fails with `WriteZero` if the kernel stops
    /// taking bytes.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await?;
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Writes from several buffers with one `writev(2)`, in order; returns how many bytes were
    /// taken in total (possibly fewer than all of them).
    ///
    /// ```no_run
    /// use std::io::IoSlice;
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n";
    /// let n = stream.write_vectored(&[IoSlice::new(head), IoSlice::new(b"hello")]).await?;
    /// # let _ = n; Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write_vectored(cx, bufs)).await
    }

    /// The poll form of [`TcpStream::write_vectored`]. Spends one unit of cooperative budget.
    pub fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.poll_transfer(cx, Direction::Write, len, |mut s| s.write_vectored(bufs))
    }

    /// Writes every byte of every buffer in order, using `writev(2)` (up to 64 buffers a call) so a
    /// response head and body go out without being copied together first.
    ///
    /// ```no_run
    /// use std::io::IoSlice;
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// let body = vec![b'x'; 1 << 20];
    /// stream
    ///     .write_all_vectored(&[IoSlice::new(b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n"), IoSlice::new(&body)])
    ///     .await?;
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn write_all_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<()> {
        let mut cursor = IoCursor::new(bufs);
        let mut window = [IoSlice::new(&[]); MAX_IOVECS];
        loop {
            let count = cursor.fill(&mut window);
            if count == 0 {
                return Ok(());
            }
            match self.write_vectored(&window[..count]).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => cursor.advance(n),
            }
        }
    }

    /// Waits until the stream is readable (data, end of stream, or an error is pending). The
    /// readiness may be stale: follow with [`TcpStream::try_read`] and expect `WouldBlock` at times.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// let mut buf = [0u8; 1024];
    /// loop {
    ///     stream.readable().await?;
    ///     match stream.try_read(&mut buf) {
    ///         Ok(n) => { println!("read {n} bytes"); break; }
    ///         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.reg.ready(Direction::Read).await
    }

    /// Waits until the stream is writable (buffer space, a closed write side, or an error). The
    /// readiness may be stale: follow with [`TcpStream::try_write`].
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// stream.writable().await?;
    /// match stream.try_write(b"ping") {
    ///     Ok(n) => println!("wrote {n} bytes"),
    ///     Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => println!("not yet"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.reg.ready(Direction::Write).await
    }

    /// Reads without waiting: `WouldBlock` if the reactor has not reported the stream readable,
    /// or if it was but the data is gone (then the readiness is cleared). A short read clears the
    /// readiness too, as in [`TcpStream::read`], so the `try_read` after it answers `WouldBlock`
    /// without a syscall.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.try_transfer(Direction::Read, len, |mut s| s.read(buf))
    }

    /// Writes without waiting: `WouldBlock` if the stream is not known to be writable, or turned
    /// out not to be (then the readiness is cleared). A short write clears the readiness too.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_transfer(Direction::Write, buf.len(), |mut s| s.write(buf))
    }

    /// [`TcpStream::poll_transfer`] without waiting: one try if the reactor says the stream is
    /// ready for `dir`, with the same clearing on `WouldBlock` and on a short transfer.
    fn try_transfer(
        &self,
        dir: Direction,
        len: usize,
        op: impl FnOnce(&mio::net::TcpStream) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let Some(event) = self.reg.ready_now(dir)? else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        self.settle(event, len, op(self.reg.io()))
    }

    /// Shuts down the read side, the write side, or both (`shutdown(2)`). Shutting down the write
    /// side sends FIN: the peer reads end of stream, and can still send to us (a half-close).
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// stream.write_all(b"last request").await?;
    /// stream.shutdown(std::net::Shutdown::Write)?; // "no more from me"
    /// let mut reply = [0u8; 64];
    /// let n = stream.read(&mut reply).await?; // the peer can still answer
    /// # let _ = n; Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.reg.io().shutdown(how)
    }

    /// Sets `TCP_NODELAY`: send small writes at once instead of waiting to batch them (Nagle).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.reg.io().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.reg.io().nodelay()
    }

    /// Sets `SO_SNDBUF`: how many bytes the kernel buffers for sending. A bounded buffer
    /// makes writes to a peer that does not read wait (and meet their timeout) instead of
    /// being absorbed; Linux doubles the value for bookkeeping and turns off autotuning.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// # let stream = spindle::net::TcpStream::connect("127.0.0.1:8080").await?;
    /// stream.set_send_buffer_size(64 * 1024)?;
    /// assert!(stream.send_buffer_size()? >= 64 * 1024);
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        socket2::SockRef::from(self.reg.io()).set_send_buffer_size(size)
    }

    /// The `SO_SNDBUF` size the kernel reports.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        socket2::SockRef::from(self.reg.io()).send_buffer_size()
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.reg.io().peer_addr()
    }

    /// The address of this end.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reg.io().local_addr()
    }

    /// Takes the socket's pending error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.reg.io().take_error()
    }
}

/// A `TcpStream` is an [`AsyncRead`]: `poll_read` is the `&self` [`TcpStream::poll_read`] above,
/// which waits on the reactor's read readiness (see `docs/reactor.md`).
impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let stream: &TcpStream = &self;
        stream.poll_read(cx, buf)
    }
}

/// Reading through a shared reference works too: the reactor keeps one waiter per direction.
impl AsyncRead for &TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let stream: &TcpStream = &self;
        stream.poll_read(cx, buf)
    }
}

/// The `AsyncWrite` methods for a stream reached through `&TcpStream`: a socket buffers nothing
/// in user space, so `flush` has nothing to do, and `shutdown` closes the write direction.
macro_rules! tcp_write {
    () => {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let stream: &TcpStream = &self;
            stream.poll_write(cx, buf)
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let stream: &TcpStream = &self;
            Poll::Ready(stream.shutdown(Shutdown::Write))
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let stream: &TcpStream = &self;
            stream.poll_write_vectored(cx, bufs)
        }
    };
}

impl AsyncWrite for TcpStream {
    tcp_write!();
}

impl AsyncWrite for &TcpStream {
    tcp_write!();
}

/// A position inside a list of buffers, for writing them all over several `writev` calls.
/// (`IoSlice::advance_slices` does this in std, but needs a newer Rust than our minimum.)
#[derive(Debug)]
struct IoCursor<'a> {
    /// All the buffers.
    bufs: &'a [IoSlice<'a>],
    /// Index of the first buffer not completely written.
    index: usize,
    /// Bytes of `bufs[index]` already written.
    /// INVARIANT: `offset < bufs[index].len()` whenever `index < bufs.len()` (empty buffers are skipped).
    offset: usize,
}

impl<'a> IoCursor<'a> {
    /// A cursor at the start of `bufs`.
    fn new(bufs: &'a [IoSlice<'a>]) -> IoCursor<'a> {
        let mut cursor = IoCursor {
            bufs,
            index: 0,
            offset: 0,
        };
        cursor.skip_empty();
        cursor
    }

    /// Moves past empty buffers, restoring the `offset` invariant.
    fn skip_empty(&mut self) {
        while self.index < self.bufs.len() && self.offset == self.bufs[self.index].len() {
            self.index += 1;
            self.offset = 0;
        }
    }

    /// Fills `window` with the unwritten remainder (at most `window.len()` buffers); returns how many.
    fn fill(&self, window: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for (i, buf) in self.bufs[self.index..].iter().enumerate() {
            if count == window.len() {
                break;
            }
            let bytes: &'a [u8] = buf_bytes(buf);
            let bytes = if i == 0 { &bytes[self.offset..] } else { bytes };
            if !bytes.is_empty() {
                window[count] = IoSlice::new(bytes);
                count += 1;
            }
        }
        count
    }

    /// Records that `n` more bytes were written.
    fn advance(&mut self, mut n: usize) {
        while n > 0 && self.index < self.bufs.len() {
            let left = self.bufs[self.index].len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.index += 1;
            self.offset = 0;
        }
        self.skip_empty();
    }
}

/// The bytes of an `IoSlice` with the slice's own lifetime (`Deref` would tie them to the borrow of
/// the `IoSlice`).
fn buf_bytes<'a>(buf: &'a IoSlice<'a>) -> &'a [u8] {
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what a cursor would hand to `writev` next, as one byte string.
    fn pending(cursor: &IoCursor<'_>, window_len: usize) -> Vec<u8> {
        let mut window = vec![IoSlice::new(&[]); window_len];
        let count = cursor.fill(&mut window);
        window[..count]
            .iter()
            .flat_map(|b| b.iter().copied())
            .collect()
    }

    /// The cursor walks a buffer list through partial writes, skipping empty buffers, and the
    /// window limits how many buffers go into one call.
    #[test]
    fn io_cursor_table() {
        /// (buffers, window size, advances, expected pending bytes after each advance)
        type Case<'a> = (&'a [&'a [u8]], usize, &'a [usize], &'a [&'a [u8]]);
        let cases: &[Case<'_>] = &[
            (&[b"ab", b"cd"], 64, &[1, 2, 1], &[b"bcd", b"d", b""]),
            (
                &[b"", b"abc", b"", b"de"],
                64,
                &[3, 1, 1],
                &[b"de", b"e", b""],
            ),
            (&[b"abc"], 64, &[3], &[b""]),
            (&[b"ab", b"cd", b"ef"], 2, &[1, 3], &[b"bcd", b"ef"]),
            (&[], 64, &[], &[]),
        ];
        for (bufs, window, advances, expected) in cases {
            let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            let mut cursor = IoCursor::new(&slices);
            for (n, want) in advances.iter().zip(expected.iter()) {
                cursor.advance(*n);
                assert_eq!(
                    pending(&cursor, *window),
                    want.to_vec(),
                    "{bufs:?} after {n}"
                );
            }
        }
    }
}

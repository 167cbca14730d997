//! The connection's read buffer and the byte stream it fills from ([`Transport`]), shared by
//! the connection loop (which parses heads from it) and the request [`Body`](crate::Body)
//! (which decodes the body from it while the handler runs).
//!
//! Invariant: `data[start..end]` are received bytes not yet consumed; the buffer is dropped
//! entirely while a keep-alive connection is idle, so an idle connection costs no buffer memory.
//!
//! # Why `Transport` is an enum and not a type parameter
//!
//! The server runs every connection over a TCP socket. The `connection` fuzz target and the
//! in-memory unit tests run the *same* connection loop over an in-memory pipe
//! ([`spindle::io::duplex`]) instead, which is hundreds of times faster per input than a
//! loopback connection and has no kernel in between (no reset that eats a response's tail).
//! Making `Conn`, `Body` and `Request` generic over the stream would spread a type parameter
//! over public types and monomorphize the connection loop twice. Instead the loop talks to a
//! [`Transport`], an enum whose second variant, [`Transport::Memory`], exists only in test
//! builds and with the `fuzzing` feature. In a normal build it has one variant: it has
//! `TcpStream`'s layout (a one-variant enum is a newtype), every `match` is irrefutable, and
//! each method is the `TcpStream` call it wraps (`#[inline]`); the waiting ones return the
//! `TcpStream`'s own future, with no wrapper future around it (two `impl` blocks below, one per
//! build). docs/fuzzing.md has the instruction counts that show the TCP path did not change.
//!
//! The methods are the ones the connection and the body use, with `TcpStream`'s semantics:
//! `try_read`/`try_write` never wait (`WouldBlock` instead), `read`/`write_all` wait,
//! `readable` waits for input (or end of stream), `shutdown(Write)` half-closes.

#[cfg(any(test, feature = "fuzzing"))]
use std::future::poll_fn;
#[cfg(not(any(test, feature = "fuzzing")))]
use std::future::Future;
use std::io;
use std::sync::Arc;

use spindle::net::TcpStream;

#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod memory;

/// The byte stream under one connection: a TCP socket, or (tests and fuzzing only) one end of
/// an in-memory pipe. See the module docs for why this is an enum.
#[derive(Debug)]
pub(crate) enum Transport {
    /// An accepted TCP connection: the only variant in a normal build.
    Tcp(TcpStream),
    /// The server's end of a [`spindle::io::duplex`] pipe (`memory.rs`).
    #[cfg(any(test, feature = "fuzzing"))]
    Memory(memory::MemoryStream),
}

impl Transport {
    /// Reads what is there without waiting: `Ok(0)` at end of stream, `WouldBlock` if nothing
    /// has arrived (as [`TcpStream::try_read`]).
    #[inline]
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_read(buf),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(m) => m.try_read(buf),
        }
    }

    /// Writes some of `buf` without waiting: `WouldBlock` if no byte can be taken now (as
    /// [`TcpStream::try_write`]).
    #[inline]
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.try_write(buf),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(m) => m.try_write(buf),
        }
    }

    /// Shuts down a direction; `Write` half-closes (the peer reads end of stream).
    #[inline]
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.shutdown(how),
            #[cfg(any(test, feature = "fuzzing"))]
            Transport::Memory(m) => m.shutdown(how),
        }
    }
}

/// The waiting methods in a normal build: with one variant, each returns the `TcpStream`'s own
/// future, so the connection awaits exactly what it awaited before `Transport` existed. (An
/// `async fn` that matched and awaited would wrap each in a second state machine; callgrind
/// counted that at about 1.5% of a keep-alive request, see docs/fuzzing.md.)
#[cfg(not(any(test, feature = "fuzzing")))]
impl Transport {
    /// Reads at least one byte, waiting for it; `Ok(0)` at end of stream.
    #[inline]
    pub(crate) fn read<'a>(
        &'a self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + 'a {
        let Transport::Tcp(s) = self;
        s.read(buf)
    }

    /// Waits until a read would not wait (bytes, end of stream or an error). As with a socket's
    /// readiness, the `try_read` after it may still say `WouldBlock`.
    #[inline]
    pub(crate) fn readable(&self) -> impl Future<Output = io::Result<()>> + '_ {
        let Transport::Tcp(s) = self;
        s.readable()
    }

    /// Writes all of `buf`, waiting as often as needed.
    #[inline]
    pub(crate) fn write_all<'a>(
        &'a self,
        buf: &'a [u8],
    ) -> impl Future<Output = io::Result<()>> + 'a {
        let Transport::Tcp(s) = self;
        s.write_all(buf)
    }
}

/// The waiting methods with the in-memory variant (tests, fuzzing): the same contracts, over
/// either variant's poll methods.
#[cfg(any(test, feature = "fuzzing"))]
impl Transport {
    /// Reads at least one byte, waiting for it; `Ok(0)` at end of stream.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| match self {
            Transport::Tcp(s) => s.poll_read(cx, buf),
            Transport::Memory(m) => m.poll_read(cx, buf),
        })
        .await
    }

    /// Waits until a read would not wait (bytes, end of stream or an error). As with a socket's
    /// readiness, the `try_read` after it may still say `WouldBlock`.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.readable().await,
            Transport::Memory(m) => poll_fn(|cx| m.poll_read_ready(cx)).await,
        }
    }

    /// Writes all of `buf`, waiting as often as needed (the loop of [`TcpStream::write_all`]).
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let wrote = poll_fn(|cx| match self {
                Transport::Tcp(s) => s.poll_write(cx, buf),
                Transport::Memory(m) => m.poll_write(cx, buf),
            });
            match wrote.await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }
}

/// Read buffer growth step, and the size of the first allocation.
const READ_CHUNK: usize = 8 * 1024;

/// Most spare buffers a thread keeps for reuse.
const POOL_MAX: usize = 256;

thread_local! {
    /// Read buffers of idle connections, kept per worker thread so that a keep-alive
    /// connection going idle and waking up again costs no allocation (and no zeroing), while
    /// the idle connection itself holds no buffer. INVARIANT: every entry is `READ_CHUNK` long.
    static READ_POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The same for write buffers. INVARIANT: every entry is empty (capacity kept).
    static WRITE_POOL: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A write buffer from this thread's pool (or a new one).
pub(crate) fn take_write_buf() -> Vec<u8> {
    WRITE_POOL
        .try_with(|p| p.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Returns a write buffer to this thread's pool (dropped if it grew large or the pool is full).
pub(crate) fn give_write_buf(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > 64 * 1024 {
        return;
    }
    buf.clear();
    let _ = WRITE_POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_MAX {
            p.push(buf);
        }
    });
}

/// Bytes read from the socket and not yet consumed.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    /// Backing storage; its whole length is initialized, `end..` is free space.
    data: Vec<u8>,
    /// INVARIANT: `start <= end <= data.len()`; `data[start..end]` is unconsumed input.
    start: usize,
    /// End of the received bytes.
    end: usize,
}

impl ReadBuf {
    /// The unconsumed bytes.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Marks `n` leading bytes consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Gives the storage back to the thread's pool when nothing is buffered (idle keep-alive
    /// connections hold no buffer).
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() {
            let data = std::mem::take(&mut self.data);
            self.start = 0;
            self.end = 0;
            if data.len() == READ_CHUNK {
                let _ = READ_POOL.try_with(|p| {
                    let mut p = p.borrow_mut();
                    if p.len() < POOL_MAX {
                        p.push(data);
                    }
                });
            }
        }
    }

    /// Reads whatever the socket has right now without waiting. `Ok(0)`: the peer closed;
    /// `WouldBlock`: nothing there yet.
    pub(crate) fn try_read_from(
        &mut self,
        stream: &Transport,
        max_len: usize,
    ) -> io::Result<usize> {
        self.make_room(max_len);
        let n = stream.try_read(&mut self.data[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Reads once from `stream`, appending. `Ok(0)` means the peer closed its side.
    /// Never grows past `max_len` unconsumed bytes plus one read chunk.
    pub(crate) async fn read_from(
        &mut self,
        stream: &Transport,
        max_len: usize,
    ) -> io::Result<usize> {
        self.make_room(max_len);
        let n = stream.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Ensures free space after `end`: reuse a pooled buffer, move the unconsumed tail to the
    /// front, or grow.
    fn make_room(&mut self, max_len: usize) {
        if self.end < self.data.len() {
            return;
        }
        if self.data.is_empty() {
            self.data = READ_POOL
                .try_with(|p| p.borrow_mut().pop())
                .ok()
                .flatten()
                .unwrap_or_else(|| vec![0; READ_CHUNK]);
            return;
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end < self.data.len() {
                return;
            }
        }
        let grow = self
            .data
            .len()
            .min(max_len.saturating_sub(self.data.len()).max(READ_CHUNK));
        self.data.resize(self.data.len() + grow, 0);
    }
}

/// What a request body needs of its connection: the socket and the read buffer.
#[derive(Debug)]
pub(crate) struct ConnIo {
    /// The connection's socket (shared with the writer side of the connection).
    pub(crate) stream: Arc<Transport>,
    /// Received, unconsumed bytes.
    pub(crate) buf: ReadBuf,
}

//! The connection's read buffer and the socket it fills from, shared by the connection loop
//! (which parses heads from it) and the request [`Body`](crate::Body) (which decodes the body
//! from it while the handler runs).
//!
//! Invariant: `data[start..end]` are received bytes not yet consumed; the buffer is dropped
//! entirely while a keep-alive connection is idle, so an idle connection costs no buffer memory.

use std::io;
use std::sync::Arc;

use spindle::net::TcpStream;

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
        stream: &TcpStream,
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
        stream: &TcpStream,
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
    pub(crate) stream: Arc<TcpStream>,
    /// Received, unconsumed bytes.
    pub(crate) buf: ReadBuf,
}

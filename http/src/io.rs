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

    /// Frees the storage when nothing is buffered (idle keep-alive connections).
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.data = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `stream`, appending. `Ok(0)` means the peer closed its side.
    /// Never grows past `max_len` unconsumed bytes plus one read chunk.
    pub(crate) async fn read_from(&mut self, stream: &TcpStream, max_len: usize) -> io::Result<usize> {
        if self.end == self.data.len() {
            if self.start > 0 {
                // Move the unconsumed tail to the front instead of growing.
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.data.len() {
                let grow = if self.data.is_empty() {
                    READ_CHUNK
                } else {
                    self.data.len().min(max_len.saturating_sub(self.data.len()).max(READ_CHUNK))
                };
                self.data.resize(self.data.len() + grow, 0);
            }
        }
        let n = stream.read(&mut self.data[self.end..]).await?;
        self.end += n;
        Ok(n)
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

//! [`Conn`]: one client connection, its read buffer, and the two steps of an exchange on it:
//! write a request (knowing whether any byte left), read a response head (skipping 1xx).
//!
//! Talks to: `spindle::net::TcpStream`, `client::parse` (heads and bodies are parsed from
//! `buf`), `client::pool` (which stores idle `Conn`s), `client::mod` (which drives them).
//!
//! Invariant: `buf[start..end]` are received bytes not yet parsed; between responses on a
//! reusable connection `start == end` (a server that sent more than one response's worth is not
//! reused).

use std::io;
use std::net::SocketAddr;

use spindle::net::TcpStream;
use spindle::sync::OwnedSemaphorePermit;

use super::error::{Error, ParseError};
use super::parse::{parse_head, HeadLimits, ResponseHead};

/// First size of the read buffer, and the least spare room before each read.
const READ_CHUNK: usize = 16 * 1024;

/// Why an exchange failed, with what is needed to decide on a retry.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What to report if there is no retry.
    pub(crate) error: Error,
    /// No byte of the request reached the socket: nothing can have been processed.
    pub(crate) nothing_sent: bool,
    /// The whole request was sent, and the connection then closed (or reset) with no byte of
    /// response: the usual sign that the server closed an idle connection as we reused it.
    pub(crate) closed_unanswered: bool,
}

/// One connection to one host.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The socket.
    stream: TcpStream,
    /// Received bytes; `buf[start..end]` not yet parsed.
    pub(crate) buf: Vec<u8>,
    /// Start of the unparsed bytes.
    pub(crate) start: usize,
    /// End of the received bytes.
    pub(crate) end: usize,
    /// Whether this connection already carried a response (and came from the pool).
    pub(crate) reused: bool,
    /// The per-host limit's permit, held while the connection carries a request (an idle
    /// connection holds none: see `pool.rs`).
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

impl Conn {
    /// Wraps a freshly connected stream.
    pub(crate) fn new(stream: TcpStream, permit: Option<OwnedSemaphorePermit>) -> Conn {
        // Requests are written whole; waiting to batch them (Nagle) would only add latency.
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
            reused: false,
            permit,
        }
    }

    /// The server's address.
    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// Whether an idle connection can no longer be used: the server closed it (end of stream
    /// is readable), reset it, or sent bytes nobody asked for.
    pub(crate) fn is_stale(&self) -> bool {
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Writes `request` whole. The failure says whether any byte was accepted by the kernel.
    pub(crate) async fn send(&mut self, request: &[u8]) -> Result<(), Failure> {
        let mut sent = 0;
        while sent < request.len() {
            match self.stream.write(&request[sent..]).await {
                Ok(0) => return Err(failure(io::ErrorKind::WriteZero.into(), sent == 0, false)),
                Ok(n) => sent += n,
                Err(e) => return Err(failure(e, sent == 0, false)),
            }
        }
        Ok(())
    }

    /// Reads more bytes into `buf`; `Ok(0)` at end of stream.
    pub(crate) async fn read_more(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK / 4 {
            if self.start > 0 {
                // Move the unparsed bytes to the front instead of growing.
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < READ_CHUNK / 4 {
                let grown = (self.buf.len() * 2).max(READ_CHUNK);
                self.buf.resize(grown, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Reads until a final (non-1xx) response head is parsed, and consumes it from `buf`.
    pub(crate) async fn read_head(&mut self, limits: HeadLimits) -> Result<ResponseHead, Failure> {
        let mut got_any = self.start < self.end;
        loop {
            match parse_head(&self.buf[self.start..self.end], limits) {
                Ok(Some((head, len))) => {
                    self.start += len;
                    match head.status {
                        101 => return Err(parse_failure(ParseError::UnexpectedUpgrade)),
                        // 100 Continue, 103 Early Hints, ...: informational, the real one follows.
                        100..=199 => continue,
                        _ => return Ok(head),
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(parse_failure(e)),
            }
            match self.read_more().await {
                Ok(0) if !got_any => {
                    return Err(Failure {
                        error: Error::Closed,
                        nothing_sent: false,
                        closed_unanswered: true,
                    })
                }
                Ok(0) => return Err(failure_closed_mid_head()),
                Ok(_) => got_any = true,
                Err(e) => {
                    let reset = !got_any && is_reset(&e);
                    return Err(failure(e, false, reset));
                }
            }
        }
    }
}

/// A failure from an I/O error.
fn failure(e: io::Error, nothing_sent: bool, closed_unanswered: bool) -> Failure {
    Failure {
        error: Error::Io(e),
        nothing_sent,
        closed_unanswered,
    }
}

/// A failure from a malformed response.
fn parse_failure(e: ParseError) -> Failure {
    Failure {
        error: Error::Parse(e),
        nothing_sent: false,
        closed_unanswered: false,
    }
}

/// The connection ended after part of a head.
fn failure_closed_mid_head() -> Failure {
    Failure {
        error: Error::Closed,
        nothing_sent: false,
        closed_unanswered: false,
    }
}

/// Whether `e` says the peer reset or closed the connection.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

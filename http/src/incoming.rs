//! [`Body`]: the request body as the handler sees it, read lazily from the connection.
//!
//! The body is not read before the handler runs (ASGI's `receive`): the connection lends its
//! socket and read buffer ([`ConnIo`]) to the `Body`, which decodes `Content-Length` or chunked
//! framing as the handler asks for data. The first read answers `Expect: 100-continue`. When
//! the `Body` is dropped it hands the socket back through a shared slot, with a note of how far
//! it got, so the connection can drain what the handler did not read, or close.
//!
//! Invariant: at most one of the `Body` and the connection holds the [`ConnIo`] at any time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::body::BodyDecoder;
use crate::http_error::HttpError;
use crate::io::ConnIo;

/// Where a lent [`ConnIo`] comes back to the connection.
pub(crate) type ReturnSlot = Arc<Mutex<Option<Returned>>>;

/// What the connection gets back when the body is dropped.
#[derive(Debug)]
pub(crate) struct Returned {
    /// The socket and buffer.
    pub(crate) io: ConnIo,
    /// The decoder, positioned where the handler stopped reading.
    pub(crate) decoder: BodyDecoder,
    /// True once the whole body was consumed.
    pub(crate) done: bool,
    /// True if the body was malformed or a read failed: the connection must close.
    pub(crate) failed: bool,
    /// True if `100 Continue` is still owed (the client may not have sent the body at all).
    pub(crate) continue_owed: bool,
}

/// A request body: complete bytes, or a stream still being read from the connection.
///
/// ```
/// use spindle_http::Body;
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let mut body = Body::from("hello");
///     assert_eq!(body.bytes().await.unwrap(), b"hello");
/// });
/// ```
#[derive(Debug)]
pub struct Body {
    /// Which kind of body.
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Nothing (or already fully taken).
    Empty,
    /// Complete bytes, not yet handed out.
    Full(Vec<u8>),
    /// Being read from the connection.
    Incoming(Box<Incoming>),
}

/// The state of a body being read from the connection.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// The borrowed socket and buffer. INVARIANT: `Some` until the drop returns it.
    io: Option<ConnIo>,
    /// Framing state.
    decoder: BodyDecoder,
    /// `Expect: 100-continue` still to be answered before the first read.
    continue_owed: bool,
    /// How long one read may wait for bytes (the body-read timeout).
    read_timeout: Duration,
    /// Upper bound on the buffer while reading (the head limit plus a chunk).
    max_buffer: usize,
    /// Where `io` goes when this is dropped.
    slot: ReturnSlot,
    /// The first error seen; every later read repeats it.
    error: Option<HttpError>,
    /// The decoder reported the end.
    done: bool,
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// A body that will be read from the connection.
    pub(crate) fn incoming(
        io: ConnIo,
        decoder: BodyDecoder,
        continue_owed: bool,
        read_timeout: Duration,
        max_buffer: usize,
        slot: ReturnSlot,
    ) -> Body {
        Body {
            kind: Kind::Incoming(Box::new(Incoming {
                io: Some(io),
                decoder,
                continue_owed,
                read_timeout,
                max_buffer,
                slot,
                error: None,
                done: false,
            })),
        }
    }

    /// The next chunk of the body, `None` at its end. Errors carry the status to answer
    /// with: 400 (malformed chunked framing, or the client closed early), 408 (the body-read
    /// timeout passed), 413 (over the body limit).
    pub async fn chunk(&mut self) -> Option<Result<Vec<u8>, HttpError>> {
        match &mut self.kind {
            Kind::Empty => None,
            Kind::Full(_) => match std::mem::replace(&mut self.kind, Kind::Empty) {
                Kind::Full(b) if !b.is_empty() => Some(Ok(b)),
                _ => None,
            },
            Kind::Incoming(inc) => inc.next_chunk().await,
        }
    }

    /// The whole body (bounded by the server's body limit, 2 MiB by default).
    pub async fn bytes(&mut self) -> Result<Vec<u8>, HttpError> {
        if let Kind::Full(_) = self.kind {
            if let Kind::Full(b) = std::mem::replace(&mut self.kind, Kind::Empty) {
                return Ok(b);
            }
        }
        let mut all = Vec::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if all.is_empty() {
                all = chunk;
            } else {
                all.extend_from_slice(&chunk);
            }
        }
        Ok(all)
    }

    /// Whether the body is known to be empty without reading.
    pub fn is_empty_hint(&self) -> bool {
        matches!(self.kind, Kind::Empty)
    }
}

impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Body {
        Body { kind: Kind::Full(b) }
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes().to_vec())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl Incoming {
    /// 1. Repeat an earlier error, or report the end.
    /// 2. Answer `100 Continue` on the first read.
    /// 3. Decode what is buffered; return data as soon as there is some.
    /// 4. Otherwise read more from the socket, within the read timeout.
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, HttpError>> {
        // 1.
        if let Some(e) = &self.error {
            return Some(Err(e.clone()));
        }
        if self.done {
            return None;
        }
        let io = self.io.as_mut().expect("INVARIANT: io is present until drop");
        // 2.
        if self.continue_owed {
            self.continue_owed = false;
            let write = io.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            match spindle::time::timeout(self.read_timeout, write).await {
                Ok(Ok(())) => {}
                _ => return Some(Err(self.fail(HttpError::new(400, "could not send 100 Continue")))),
            }
        }
        loop {
            // 3.
            let io = self.io.as_mut().expect("INVARIANT: io is present until drop");
            let filled = io.buf.filled();
            match self.decoder.decode(filled) {
                Err(e) => return Some(Err(self.fail(HttpError::from(e)))),
                Ok(p) => {
                    let data = p.data.clone().map(|r| filled[r].to_vec());
                    io.buf.consume(p.consumed);
                    if p.done {
                        self.done = true;
                    }
                    if let Some(d) = data {
                        return Some(Ok(d));
                    }
                    if self.done {
                        return None;
                    }
                }
            }
            // 4.
            let read = io.buf.read_from(&io.stream, self.max_buffer);
            match spindle::time::timeout(self.read_timeout, read).await {
                Ok(Ok(0)) => {
                    return Some(Err(self.fail(HttpError::new(400, "the client closed the connection before the body ended"))))
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Some(Err(self.fail(HttpError::new(400, format!("reading the body failed: {e}"))))),
                Err(_) => return Some(Err(self.fail(HttpError::new(408, "timed out reading the request body")))),
            }
        }
    }

    fn fail(&mut self, e: HttpError) -> HttpError {
        self.error = Some(e.clone());
        e
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            let returned = Returned {
                io,
                decoder: self.decoder.clone(),
                done: self.done,
                failed: self.error.is_some(),
                continue_owed: self.continue_owed,
            };
            let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(returned);
        }
    }
}

//! [`Body`]: the request body as the handler sees it, read lazily from the connection.
//!
//! The body is not read before the handler runs (ASGI's `receive`): the connection lends its
//! socket and read buffer ([`ConnIo`]) to the `Body`, which decodes `Content-Length` or chunked
//! framing as the handler asks for data. The first read answers `Expect: 100-continue`.
//! Reads are paced ([`BodyPace`]): each read may wait `body_timeout`, the whole body must come
//! within `body_deadline` of the first read, and after a grace period it must keep up a least
//! average rate; failing any of them is 408 and the connection closes. When
//! the `Body` is dropped it hands the socket back through a shared slot, with a note of how far
//! it got, so the connection can drain what the handler did not read, or close.
//!
//! Invariant: at most one of the `Body` and the connection holds the [`ConnIo`] at any time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::app::http_error::HttpError;
use crate::body::BodyDecoder;
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

/// How fast a request body must arrive (made by [`crate::ServerConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyPace {
    /// How long one read may wait for bytes (`body_timeout`).
    pub(crate) read_timeout: Duration,
    /// How long the whole body may take from the first read (`body_deadline`).
    pub(crate) deadline: Option<Duration>,
    /// The least average rate after the grace period, bytes per second; 0: none.
    pub(crate) min_rate: u64,
    /// Waiting time allowed before the rate applies.
    pub(crate) grace: Duration,
}

/// Which limit bounds the read being awaited (for the 408's message).
#[derive(Debug, Clone, Copy)]
enum ReadLimit {
    /// `body_timeout`: this read waited too long.
    ReadTimeout,
    /// `body_deadline`: the whole body took too long.
    Deadline,
    /// The minimum rate: the body arrives too slowly.
    TooSlow,
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
    /// How fast the body must arrive.
    pace: BodyPace,
    /// When the handler first asked for the body: the start of `body_deadline`.
    started: Option<Instant>,
    /// Time spent waiting for the client's bytes so far: what the minimum rate is measured
    /// against (time the handler spends elsewhere is not the client's fault).
    waited: Duration,
    /// Body bytes (framing included) taken from the buffer so far.
    received: u64,
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
        pace: BodyPace,
        max_buffer: usize,
        slot: ReturnSlot,
    ) -> Body {
        Body {
            kind: Kind::Incoming(Box::new(Incoming {
                io: Some(io),
                decoder,
                continue_owed,
                pace,
                started: None,
                waited: Duration::ZERO,
                received: 0,
                max_buffer,
                slot,
                error: None,
                done: false,
            })),
        }
    }

    /// The next chunk of the body, `None` at its end. Errors carry the status to answer
    /// with: 400 (malformed chunked framing, or the client closed early), 408 (a read waited
    /// past the body-read timeout, the body passed its overall deadline, or it arrived slower
    /// than the minimum rate), 413 (over the body limit).
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
        Body {
            kind: Kind::Full(b),
        }
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
    /// 4. Otherwise read more from the socket, within the earliest of the read timeout, the
    ///    body deadline and the time the minimum rate allows ([`Incoming::read_limit`]).
    async fn next_chunk(&mut self) -> Option<Result<Vec<u8>, HttpError>> {
        // 1.
        if let Some(e) = &self.error {
            return Some(Err(e.clone()));
        }
        if self.done {
            return None;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let io = self
            .io
            .as_mut()
            .expect("INVARIANT: io is present until drop");
        // 2.
        if self.continue_owed {
            self.continue_owed = false;
            let write = io.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            match spindle::time::timeout(self.pace.read_timeout, write).await {
                Ok(Ok(())) => {}
                _ => {
                    return Some(Err(
                        self.fail(HttpError::new(400, "could not send 100 Continue"))
                    ))
                }
            }
        }
        loop {
            // 3.
            let io = self
                .io
                .as_mut()
                .expect("INVARIANT: io is present until drop");
            let filled = io.buf.filled();
            match self.decoder.decode(filled) {
                Err(e) => return Some(Err(self.fail(HttpError::from(e)))),
                Ok(p) => {
                    let data = p.data.clone().map(|r| filled[r].to_vec());
                    io.buf.consume(p.consumed);
                    self.received += p.consumed as u64;
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
            let waiting_from = Instant::now();
            let (until, limit) = self.read_limit(started, waiting_from);
            let io = self
                .io
                .as_mut()
                .expect("INVARIANT: io is present until drop");
            let read = io.buf.read_from(&io.stream, self.max_buffer);
            let outcome = spindle::time::timeout_at(until, read).await;
            self.waited += waiting_from.elapsed();
            match outcome {
                Ok(Ok(0)) => {
                    return Some(Err(self.fail(HttpError::new(
                        400,
                        "the client closed the connection before the body ended",
                    ))))
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Some(Err(
                        self.fail(HttpError::new(400, format!("reading the body failed: {e}")))
                    ))
                }
                Err(_) => {
                    let why = match limit {
                        ReadLimit::ReadTimeout => "timed out reading the request body",
                        ReadLimit::Deadline => "the request body did not arrive in time",
                        ReadLimit::TooSlow => "the request body arrived too slowly",
                    };
                    return Some(Err(self.fail(HttpError::new(408, why))));
                }
            }
        }
    }

    /// How long the read starting at `now` may wait, and which limit says so: the read
    /// timeout; the body deadline (counted from `started`, the first read); and the minimum
    /// rate, which after the grace period wants `rate` bytes per second of waiting, so the
    /// next byte is due once the waiting time reaches `grace + (received + 1) / rate`.
    /// Every sum saturates: a configured `Duration::MAX` means "never", not a panic.
    fn read_limit(&self, started: Instant, now: Instant) -> (Instant, ReadLimit) {
        let mut until = (later(now, self.pace.read_timeout), ReadLimit::ReadTimeout);
        if let Some(deadline) = self.pace.deadline {
            let at = later(started, deadline);
            if at < until.0 {
                until = (at, ReadLimit::Deadline);
            }
        }
        if self.pace.min_rate > 0 {
            let seconds = (self.received as f64 + 1.0) / self.pace.min_rate as f64;
            let due = self
                .pace
                .grace
                .saturating_add(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
            let at = later(now, due.saturating_sub(self.waited));
            if at < until.0 {
                until = (at, ReadLimit::TooSlow);
            }
        }
        until
    }

    fn fail(&mut self, e: HttpError) -> HttpError {
        self.error = Some(e.clone());
        e
    }
}

/// `from + d`, or a moment decades away if that does not fit in an `Instant`.
fn later(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .or_else(|| from.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(from)
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

//! Request body framing: given how the head says the body is delimited
//! ([`BodyFraming`]), find where the body's bytes are and where it ends.
//!
//! The connection makes one [`BodyDecoder`] per request from [`RequestHead::body_framing`]
//! and pushes its read buffer through [`BodyDecoder::decode`]. Decoders are pure push-style
//! state machines: they never read, never allocate, and never hold input bytes; they say which
//! bytes of what they were given are body data ([`Progress`]).
//!
//! Invariants: a decoder never reports more body bytes than [`Limits::max_body_bytes`]
//! (the head parser already refused a larger `Content-Length`; the chunked decoder refuses
//! chunk sizes that would add up to more); after [`Progress::done`] it consumes nothing more,
//! so whatever follows in the buffer is the next pipelined request.
//!
//! [`RequestHead::body_framing`]: crate::parse::RequestHead::body_framing

pub mod chunked;
pub mod length;

pub use chunked::ChunkedDecoder;
pub use length::LengthDecoder;

use crate::error::ParseError;
use crate::limits::Limits;
use crate::parse::BodyFraming;
use std::ops::Range;

/// What one call to a decoder did with its input.
///
/// If `data` is `None` and `done` is false, the decoder used all of its input and needs more.
/// If `data` is `Some`, call again with the input after `consumed`: there may be more.
///
/// ```
/// use spindle_http::body::LengthDecoder;
/// let mut body = LengthDecoder::new(3);
/// let p = body.decode(b"abcNEXT");
/// assert_eq!((p.consumed, p.data, p.done), (3, Some(0..3), true));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// How many leading bytes of the input the decoder used: framing it skipped and data it
    /// returned. The caller removes them from its buffer.
    pub consumed: usize,
    /// The body bytes found, as a range of the input inside `..consumed`. At most one range
    /// per call, so the caller can copy or forward it before calling again.
    pub data: Option<Range<usize>>,
    /// The body is complete; the input after `consumed` belongs to the next request.
    pub done: bool,
}

impl Progress {
    /// True when the decoder used all of its input without finishing or finding data: the
    /// caller should read more bytes before calling again.
    ///
    /// ```
    /// use spindle_http::body::ChunkedDecoder;
    /// let mut body = ChunkedDecoder::new(1024);
    /// assert!(body.decode(b"5\r").unwrap().needs_more());
    /// ```
    pub fn needs_more(&self) -> bool {
        self.data.is_none() && !self.done
    }
}

/// A decoder for whichever framing a request has.
///
/// ```
/// use spindle_http::body::BodyDecoder;
/// use spindle_http::{Limits, RequestParser};
///
/// let buf = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
/// let head = RequestParser::default().parse(buf).unwrap().unwrap();
/// let mut decoder = BodyDecoder::new(head.body_framing(), &Limits::default());
/// let mut rest = &buf[head.consumed()..];
/// let mut body = Vec::new();
/// loop {
///     let p = decoder.decode(rest).unwrap();
///     if let Some(r) = p.data.clone() {
///         body.extend_from_slice(&rest[r]);
///     }
///     rest = &rest[p.consumed..];
///     if p.done || p.needs_more() {
///         break;
///     }
/// }
/// assert_eq!(body, b"abc");
/// assert!(decoder.is_done());
/// ```
#[derive(Clone, Debug)]
pub enum BodyDecoder {
    /// `Content-Length` (or no body: length 0).
    Length(LengthDecoder),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
}

impl BodyDecoder {
    /// The decoder for `framing`, enforcing `limits` on chunked bodies.
    pub fn new(framing: BodyFraming, limits: &Limits) -> BodyDecoder {
        match framing {
            BodyFraming::None => BodyDecoder::Length(LengthDecoder::new(0)),
            BodyFraming::Length(n) => BodyDecoder::Length(LengthDecoder::new(n)),
            BodyFraming::Chunked => BodyDecoder::Chunked(ChunkedDecoder::with_limits(limits)),
        }
    }

    /// Push `input` through the decoder; see [`Progress`].
    pub fn decode(&mut self, input: &[u8]) -> Result<Progress, ParseError> {
        match self {
            BodyDecoder::Length(d) => Ok(d.decode(input)),
            BodyDecoder::Chunked(d) => d.decode(input),
        }
    }

    /// Whether the whole body has been seen.
    pub fn is_done(&self) -> bool {
        match self {
            BodyDecoder::Length(d) => d.is_done(),
            BodyDecoder::Chunked(d) => d.is_done(),
        }
    }
}

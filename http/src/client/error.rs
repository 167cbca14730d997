//! [`Error`], everything a client request can fail with, and [`ParseError`], the precise way in
//! which a server's response broke HTTP/1.1's grammar or framing rules.
//!
//! Talks to: every other client module returns these. Nothing here panics or allocates on the
//! hot path; `Display` says what happened in words a user can act on.

use std::fmt;
use std::io;

/// What went wrong with a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL could not be parsed (the text says why).
    InvalidUrl(String),
    /// The URL's scheme is not `http` (TLS, and so `https`, is out of scope for this client).
    UnsupportedScheme(String),
    /// A header name or value the caller gave cannot be sent (bad characters, or CR/LF in it).
    InvalidHeader(String),
    /// The TCP connection could not be made.
    Connect(io::Error),
    /// A deadline passed: see [`Phase`].
    Timeout(Phase),
    /// Sending the request or reading the response failed at the socket.
    Io(io::Error),
    /// The server closed the connection before a complete response head arrived. The request
    /// may or may not have been processed; it was retried only if that was safe (see
    /// `client/mod.rs`).
    Closed,
    /// The response broke the protocol; the connection was closed.
    Parse(ParseError),
    /// The response body is not the JSON the caller asked for.
    #[cfg(feature = "json")]
    Json(serde_json::Error),
}

/// Which deadline an [`Error::Timeout`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Making the TCP connection (`ClientBuilder::connect_timeout`).
    Connect,
    /// Sending the request and receiving the response head (`ClientBuilder::timeout`).
    Request,
    /// Waiting for the next piece of the response body (`ClientBuilder::timeout`, per read).
    Body,
}

impl Error {
    /// Whether a deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// Whether the connection could not be made.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect(_) | Error::Timeout(Phase::Connect))
    }

    /// Whether the server sent a malformed response.
    pub fn is_parse(&self) -> bool {
        matches!(self, Error::Parse(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Error::UnsupportedScheme(s) => {
                write!(
                    f,
                    "unsupported scheme {s:?}: only http:// is supported (no TLS)"
                )
            }
            Error::InvalidHeader(why) => write!(f, "invalid request header: {why}"),
            Error::Connect(e) => write!(f, "connect failed: {e}"),
            Error::Timeout(Phase::Connect) => f.write_str("timed out connecting"),
            Error::Timeout(Phase::Request) => f.write_str("timed out waiting for the response"),
            Error::Timeout(Phase::Body) => f.write_str("timed out reading the response body"),
            Error::Io(e) => write!(f, "connection error: {e}"),
            Error::Closed => f.write_str("the server closed the connection before responding"),
            Error::Parse(e) => write!(f, "malformed response: {e}"),
            #[cfg(feature = "json")]
            Error::Json(e) => write!(f, "response body is not the expected JSON: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(e) | Error::Io(e) => Some(e),
            Error::Parse(e) => Some(e),
            #[cfg(feature = "json")]
            Error::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::Parse(e)
    }
}

/// How a response broke the rules (RFC 9112). Each one closes the connection: after a framing
/// error nothing that follows on it can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The status line is not `HTTP/1.x SP 3DIGIT [SP reason]`.
    BadStatusLine,
    /// An HTTP version other than 1.0 or 1.1.
    UnsupportedVersion,
    /// The status code is not a three-digit number from 100 to 599.
    BadStatusCode,
    /// A field name is empty or has a character outside `token`, or whitespace before the colon.
    BadHeaderName,
    /// A field value holds a control character.
    BadHeaderValue,
    /// A field line starts with whitespace (obsolete line folding, RFC 9112 §5.2).
    ObsoleteFolding,
    /// A CR not followed by LF, or an LF without its CR, in the head or in chunk framing.
    BareCrOrLf,
    /// The head did not end within the size limit.
    HeadTooLarge,
    /// More header fields than the limit.
    TooManyHeaders,
    /// `Content-Length` is not a plain decimal number (or overflows).
    BadContentLength,
    /// Several `Content-Length` fields, or a list in one: a smuggling vector, refused.
    DuplicateContentLength,
    /// Both `Content-Length` and `Transfer-Encoding`: a smuggling vector, refused.
    ContentLengthWithTransferEncoding,
    /// A `Transfer-Encoding` other than exactly `chunked` (or any in an HTTP/1.0 response).
    UnsupportedTransferEncoding,
    /// A chunk size line is not hexadecimal digits (with optional extensions), or overflows.
    BadChunkSize,
    /// Chunk data was not followed by CRLF.
    BadChunkTerminator,
    /// The trailer section is malformed or too large.
    BadTrailer,
    /// `101 Switching Protocols`: this client does not upgrade connections.
    UnexpectedUpgrade,
    /// The connection ended inside the body (fewer bytes than `Content-Length`, or before the
    /// last chunk).
    Truncated,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::BadStatusLine => "bad status line",
            ParseError::UnsupportedVersion => "unsupported HTTP version",
            ParseError::BadStatusCode => "bad status code",
            ParseError::BadHeaderName => "bad header field name",
            ParseError::BadHeaderValue => "bad header field value",
            ParseError::ObsoleteFolding => "obsolete line folding in the head",
            ParseError::BareCrOrLf => "bare CR or LF",
            ParseError::HeadTooLarge => "response head too large",
            ParseError::TooManyHeaders => "too many header fields",
            ParseError::BadContentLength => "bad Content-Length",
            ParseError::DuplicateContentLength => "more than one Content-Length",
            ParseError::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            ParseError::UnsupportedTransferEncoding => "unsupported Transfer-Encoding",
            ParseError::BadChunkSize => "bad chunk size line",
            ParseError::BadChunkTerminator => "chunk data not followed by CRLF",
            ParseError::BadTrailer => "bad trailer section",
            ParseError::UnexpectedUpgrade => "unexpected 101 Switching Protocols",
            ParseError::Truncated => "connection closed inside the body",
        })
    }
}

impl std::error::Error for ParseError {}

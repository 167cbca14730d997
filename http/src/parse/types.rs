//! The small value types a request head is described with: [`Method`], [`Version`],
//! [`TargetForm`], [`BodyFraming`], and the 32-bit byte ranges ([`Span`], [`FieldSpan`]) the
//! parser records into a head's bytes.
//!
//! A leaf of `parse/`: the request-line, target and field parsers and [`RequestHead`]
//! (`head.rs`) all speak in these types, and this file imports none of them.
//!
//! [`RequestHead`]: super::RequestHead

use super::chars::is_token;

/// A byte range inside a head, in 32 bits to keep the per-field table small.
///
/// INVARIANT: `start <= end`, and both fit because the parser never looks past `u32::MAX` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    /// Offset of the first byte.
    pub(crate) start: u32,
    /// Offset one past the last byte.
    pub(crate) end: u32,
}

impl Span {
    /// The span `start..end` of a buffer no longer than `u32::MAX` bytes.
    pub(crate) fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end && end <= u32::MAX as usize);
        // The casts cannot truncate: the parser clamps its window to u32::MAX bytes.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The bytes of `buf` this span covers.
    pub(crate) fn of(self, buf: &[u8]) -> &[u8] {
        &buf[self.start as usize..self.end as usize]
    }
}

/// Where one header field's name and value lie in the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldSpan {
    /// The name as received (a token, so ASCII).
    pub(crate) name: Span,
    /// The value with surrounding optional whitespace removed.
    pub(crate) value: Span,
}

impl FieldSpan {
    /// The bytes one field takes in a head's field table: its four offsets as little-endian
    /// `u32`s.
    pub(crate) const ENCODED_LEN: usize = 16;

    /// The table entry for this field.
    pub(crate) fn encode(self) -> [u8; FieldSpan::ENCODED_LEN] {
        let mut entry = [0; FieldSpan::ENCODED_LEN];
        let offsets = [
            self.name.start,
            self.name.end,
            self.value.start,
            self.value.end,
        ];
        for (slot, offset) in entry.chunks_exact_mut(4).zip(offsets) {
            slot.copy_from_slice(&offset.to_le_bytes());
        }
        entry
    }

    /// The field a table entry (from [`FieldSpan::encode`]) describes.
    pub(crate) fn decode(entry: &[u8]) -> FieldSpan {
        debug_assert_eq!(entry.len(), FieldSpan::ENCODED_LEN);
        let offset =
            |i: usize| u32::from_le_bytes([entry[i], entry[i + 1], entry[i + 2], entry[i + 3]]);
        FieldSpan {
            name: Span {
                start: offset(0),
                end: offset(4),
            },
            value: Span {
                start: offset(8),
                end: offset(12),
            },
        }
    }
}

/// The request method. Methods are case-sensitive: `get` is an extension method, not `GET`.
///
/// ```
/// use spindle_http::Method;
/// assert_eq!(Method::from_token(b"GET"), Some(Method::Get));
/// assert_eq!(Method::from_token(b"PROPFIND"), Some(Method::Extension));
/// assert_eq!(Method::from_token(b"G T"), None);
/// assert_eq!(Method::Post.as_str(), Some("POST"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `CONNECT`: its target is `host:port` (authority-form).
    Connect,
    /// `OPTIONS`: the only method allowed the target `*`.
    Options,
    /// `TRACE`
    Trace,
    /// `PATCH`
    Patch,
    /// Any other token; [`RequestHead::method_str`](super::RequestHead::method_str) has its name.
    Extension,
}

impl Method {
    /// The method a token names, or `None` if `bytes` is not a token.
    pub fn from_token(bytes: &[u8]) -> Option<Method> {
        let method = match bytes {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"CONNECT" => Method::Connect,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"PATCH" => Method::Patch,
            other if is_token(other) => Method::Extension,
            _ => return None,
        };
        Some(method)
    }

    /// The name of a standard method; `None` for [`Method::Extension`].
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Connect => "CONNECT",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Patch => "PATCH",
            Method::Extension => return None,
        })
    }
}

/// The protocol version of a request. Other versions are answered with 505.
///
/// ```
/// use spindle_http::Version;
/// assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/1.0`: connections close after each response unless the client asks to keep alive.
    Http10,
    /// `HTTP/1.1`: connections stay open unless either side says `Connection: close`.
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Which of the four forms of RFC 9112 §3.2 the request-target had.
///
/// ```
/// use spindle_http::{RequestParser, TargetForm};
/// let head = RequestParser::default()
///     .parse(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().unwrap();
/// assert_eq!(head.target_form(), TargetForm::Asterisk);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetForm {
    /// `/path?query`: the usual form.
    Origin,
    /// `http://host/path?query`: the authority in the target overrides `Host`.
    Absolute,
    /// `host:port`, only with `CONNECT`.
    Authority,
    /// `*`, only with `OPTIONS`.
    Asterisk,
}

/// How the request body is delimited (RFC 9112 §6.3): this decides where the next request starts.
///
/// ```
/// use spindle_http::{BodyFraming, RequestParser};
/// let head = RequestParser::default()
///     .parse(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello").unwrap().unwrap();
/// assert_eq!(head.body_framing(), BodyFraming::Length(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyFraming {
    /// Neither `Content-Length` nor `Transfer-Encoding`: the request has no body.
    None,
    /// `Content-Length: n`: exactly `n` bytes follow the head (possibly 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`: decode with [`crate::body::ChunkedDecoder`].
    Chunked,
}

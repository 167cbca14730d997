//! The client's response parser: "is a whole head buffered?" and "parse it" ([`parse_head`]),
//! how the body is framed ([`Framing`], RFC 9112 §6.3), and the incremental [`BodyDecoder`] for
//! `Content-Length`, chunked (with trailers) and close-delimited bodies.
//!
//! Talks to: `client::conn` feeds it the bytes read from the socket; `client::error` holds its
//! errors. It never touches a socket, so every rule is tested on byte strings, split at every
//! offset.
//!
//! Strictness: CRLF line endings only; no obsolete line folding; no whitespace before a field's
//! colon; no control characters in values; exactly one `Content-Length` or exactly
//! `Transfer-Encoding: chunked`, never both. Invariant: no input makes these functions panic
//! (fuzzed by `fuzz/` target `client_response` where built, and by the tests below).

use std::ops::Range;

use super::error::ParseError;

mod fast;
pub use fast::{parse_head_summary, HeadSummary};

/// The most chunk-size hex digits accepted (16 digits fill a `u64`).
const MAX_CHUNK_SIZE_DIGITS: usize = 16;
/// Most bytes of chunk extensions on one size line, and of the whole trailer section.
const MAX_CHUNK_LINE_EXTRA: usize = 4096;

/// A response's header fields, in the order received (names as sent; lookups ignore case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// `(name, value)` pairs; a value is bytes because HTTP allows obs-text in values.
    fields: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// The first value of `name` as text, if present and UTF-8.
    ///
    /// ```
    /// let h = spindle_http::client::Headers::from_pairs([("Content-Type", "text/plain")]);
    /// assert_eq!(h.get("content-type"), Some("text/plain"));
    /// ```
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// How many fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Builds a set of fields (for tests and examples).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Headers {
        Headers {
            fields: pairs
                .into_iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    /// Whether the comma-separated list in `name` contains `token` (case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| trim_ows(t).eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

/// A parsed status line and header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The minor version: `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// The status code, 100 to 599.
    pub status: u16,
    /// The reason phrase (informational only; obs-text replaced with U+FFFD).
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
}

/// Limits on a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Most bytes from the status line through the blank line.
    pub max_head_bytes: usize,
    /// Most header fields.
    pub max_headers: usize,
}

impl Default for HeadLimits {
    fn default() -> HeadLimits {
        HeadLimits {
            max_head_bytes: 64 * 1024,
            max_headers: 100,
        }
    }
}

/// Parses a response head from the start of `buf`: `Ok(None)` if it is not complete yet,
/// `Ok(Some((head, len)))` with the head's length including the blank line, or the first rule
/// it breaks.
///
/// ```
/// use spindle_http::client::{parse_head, HeadLimits};
/// let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
/// let (head, len) = parse_head(raw, HeadLimits::default()).unwrap().unwrap();
/// assert_eq!((head.status, len), (200, raw.len() - 2));
/// assert!(parse_head(&raw[..10], HeadLimits::default()).unwrap().is_none());
/// ```
pub fn parse_head(
    buf: &[u8],
    limits: HeadLimits,
) -> Result<Option<(ResponseHead, usize)>, ParseError> {
    // 1. Is a whole head buffered? It ends at the first CRLF CRLF.
    let end = find(buf, b"\r\n\r\n");
    // 2. Faults visible in the first bytes are checked on the same bytes whether the head is
    //    complete or not, so that the error does not depend on how the bytes were split into
    //    reads (found by the `client_response` fuzz target). Each call rescans the buffer; a head
    //    is at most `max_head_bytes`, so this stays bounded.
    let region = end.map_or(buf.len(), |e| e + 4);
    check_prefix(&buf[..region.min(limits.max_head_bytes)])?;
    let Some(end) = end else {
        if buf.len() >= limits.max_head_bytes {
            return Err(ParseError::HeadTooLarge);
        }
        return Ok(None);
    };
    let len = end + 4;
    if len > limits.max_head_bytes {
        return Err(ParseError::HeadTooLarge);
    }
    // 3. Parse it: the status line, then one field per line.
    let head = &buf[..end];
    let mut lines = split_crlf(head);
    let status_line = lines.next().unwrap_or(&[]);
    let (minor_version, status, reason) = parse_status_line(status_line)?;
    let mut fields = Vec::new();
    for line in lines {
        if fields.len() == limits.max_headers {
            return Err(ParseError::TooManyHeaders);
        }
        fields.push(parse_field(line)?);
    }
    let head = ResponseHead {
        minor_version,
        status,
        reason,
        headers: Headers { fields },
    };
    Ok(Some((head, len)))
}

/// Refuses a head, complete or not, whose bytes already break the grammar: a start that cannot
/// become `HTTP/`, or a bare CR or LF (which a lenient parser would take as a line end; waiting
/// for a CRLF CRLF that never comes would only hang). A CR at the very end may still be followed
/// by its LF, so it passes.
fn check_prefix(buf: &[u8]) -> Result<(), ParseError> {
    let n = buf.len().min(5);
    if buf[..n] != b"HTTP/"[..n] {
        return Err(ParseError::BadStatusLine);
    }
    for (i, &b) in buf.iter().enumerate() {
        let lf_without_cr = b == b'\n' && (i == 0 || buf[i - 1] != b'\r');
        let cr_without_lf = b == b'\r' && buf.get(i + 1).is_some_and(|&next| next != b'\n');
        if lf_without_cr || cr_without_lf {
            return Err(ParseError::BareCrOrLf);
        }
    }
    Ok(())
}

/// The lines of `head` (which does not include the final CRLF CRLF), split at each CRLF.
fn split_crlf(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(head);
    std::iter::from_fn(move || {
        let r = rest?;
        match find(r, b"\r\n") {
            Some(i) => {
                rest = Some(&r[i + 2..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `HTTP/1.x SP 3DIGIT [SP reason-phrase]` (a missing reason, even without its space, is allowed:
/// RFC 9112 §4 asks clients to accept that).
fn parse_status_line(line: &[u8]) -> Result<(u8, u16, String), ParseError> {
    if line.contains(&b'\r') {
        return Err(ParseError::BareCrOrLf);
    }
    let rest = line
        .strip_prefix(b"HTTP/")
        .ok_or(ParseError::BadStatusLine)?;
    let (version, rest) = rest
        .split_at_checked_compat(3)
        .ok_or(ParseError::BadStatusLine)?;
    let minor = match version {
        b"1.1" => 1,
        b"1.0" => 0,
        [major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            return Err(ParseError::UnsupportedVersion)
        }
        _ => return Err(ParseError::BadStatusLine),
    };
    let rest = rest.strip_prefix(b" ").ok_or(ParseError::BadStatusLine)?;
    let (code, reason) = rest
        .split_at_checked_compat(3)
        .ok_or(ParseError::BadStatusCode)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadStatusCode);
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(ParseError::BadStatusCode);
    }
    let reason = match reason {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return Err(ParseError::BadStatusCode), // e.g. "2000" or "200x"
    };
    if !reason.iter().all(|&b| is_field_value_byte(b)) {
        return Err(ParseError::BadStatusLine);
    }
    Ok((minor, status, String::from_utf8_lossy(reason).into_owned()))
}

/// `field-name ":" OWS field-value OWS`.
fn parse_field(line: &[u8]) -> Result<(String, Vec<u8>), ParseError> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err(ParseError::ObsoleteFolding);
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ParseError::BadHeaderName)?;
    let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(ParseError::BadHeaderName);
    }
    if !value.iter().all(|&b| is_field_value_byte(b)) {
        return Err(ParseError::BadHeaderValue);
    }
    // The name is ASCII (tchar), so this conversion cannot fail.
    let name = String::from_utf8_lossy(name).into_owned();
    Ok((name, value.to_vec()))
}

/// `tchar` of RFC 9110 §5.6.2: the characters of a token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte allowed in a field value or reason phrase: HTAB, SP, VCHAR, obs-text.
fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// `s` without leading and trailing spaces and tabs.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Position of the first `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `split_at` that says `None` instead of panicking (std's `split_at_checked` needs Rust 1.80).
trait SplitAtCompat {
    /// `Some(split_at(mid))` if `mid <= len`.
    fn split_at_checked_compat(&self, mid: usize) -> Option<(&[u8], &[u8])>;
}

impl SplitAtCompat for [u8] {
    fn split_at_checked_compat(&self, mid: usize) -> Option<(&[u8], &[u8])> {
        (mid <= self.len()).then(|| self.split_at(mid))
    }
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: a response to HEAD, a 1xx, 204 or 304.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    CloseDelimited,
}

/// Decides how the body of `head` is framed; `request_was_head` is whether the request's method
/// was HEAD (whose response has no body, whatever its fields say).
///
/// ```
/// use spindle_http::client::{framing, parse_head, Framing, HeadLimits};
/// let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
/// let (head, _) = parse_head(raw, HeadLimits::default()).unwrap().unwrap();
/// assert_eq!(framing(&head, false), Ok(Framing::Chunked));
/// assert_eq!(framing(&head, true), Ok(Framing::Empty));
/// ```
pub fn framing(head: &ResponseHead, request_was_head: bool) -> Result<Framing, ParseError> {
    // 1. Responses that never have a body.
    if request_was_head || head.status < 200 || head.status == 204 || head.status == 304 {
        return Ok(Framing::Empty);
    }
    let has_te = head.headers.get_all("transfer-encoding").next().is_some();
    let mut lengths = head.headers.get_all("content-length");
    let length = lengths.next();
    // 2. Transfer-Encoding: only exactly `chunked`, only in HTTP/1.1, never with Content-Length.
    if has_te {
        if length.is_some() {
            return Err(ParseError::ContentLengthWithTransferEncoding);
        }
        let mut codings = head
            .headers
            .get_all("transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim_ows);
        let only_chunked = codings
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
            && codings.next().is_none();
        if !only_chunked || head.minor_version == 0 {
            return Err(ParseError::UnsupportedTransferEncoding);
        }
        return Ok(Framing::Chunked);
    }
    // 3. Content-Length: one field, one plain decimal number.
    if let Some(value) = length {
        if lengths.next().is_some() || value.contains(&b',') {
            return Err(ParseError::DuplicateContentLength);
        }
        return parse_decimal(value)
            .map(Framing::Length)
            .ok_or(ParseError::BadContentLength);
    }
    // 4. Neither: the body runs to the end of the connection.
    Ok(Framing::CloseDelimited)
}

/// `1*DIGIT` as a `u64`, refusing signs, spaces and overflow.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// What one call of [`BodyDecoder::decode`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes at `data` (a range of the input); `consumed` input bytes were used in total.
    Data {
        /// Input bytes used, framing included.
        consumed: usize,
        /// Where the body bytes are in the input.
        data: Range<usize>,
    },
    /// The body is complete; `consumed` input bytes were used (the rest belongs to the next
    /// response).
    Done {
        /// Input bytes used.
        consumed: usize,
    },
    /// All `consumed` input was framing; more bytes are needed.
    NeedMore {
        /// Input bytes used.
        consumed: usize,
    },
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunked {
    /// Reading the hex size; `digits` so far.
    Size { size: u64, digits: usize },
    /// After the size: skipping `;ext` up to CR, counting its bytes.
    Extension { size: u64, len: usize },
    /// Saw CR of the size line; LF must follow.
    SizeLf { size: u64 },
    /// Inside chunk data: `remaining` bytes left.
    Data { remaining: u64 },
    /// After chunk data: CR must follow.
    DataCr,
    /// After chunk data and CR: LF must follow.
    DataLf,
    /// After the last chunk: reading trailer lines; `line` holds the current one.
    Trailer { line: Vec<u8>, total: usize },
    /// Saw CR at the end of a trailer line; LF must follow.
    TrailerLf { line: Vec<u8>, total: usize },
    /// The final CRLF was read.
    Done,
}

/// Decodes a body incrementally, as bytes arrive.
///
/// ```
/// use spindle_http::client::{BodyDecoder, Decoded, Framing};
/// let mut d = BodyDecoder::new(Framing::Chunked);
/// let input = b"5\r\nhello\r\n0\r\n\r\n";
/// assert_eq!(d.decode(input), Ok(Decoded::Data { consumed: 8, data: 3..8 }));
/// assert_eq!(d.decode(&input[8..]), Ok(Decoded::Done { consumed: 7 }));
/// ```
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    /// The framing being decoded.
    kind: Kind,
    /// Trailer fields received after a chunked body.
    trailers: Headers,
}

/// The state of each framing.
#[derive(Debug, Clone)]
enum Kind {
    /// Nothing (left) to read.
    Empty,
    /// `Content-Length`: bytes left.
    Length(u64),
    /// Chunked, with its state.
    Chunked(Chunked),
    /// Close-delimited: every byte is body until end of stream.
    Close,
}

impl BodyDecoder {
    /// A decoder for `framing`.
    pub fn new(framing: Framing) -> BodyDecoder {
        let kind = match framing {
            Framing::Empty | Framing::Length(0) => Kind::Empty,
            Framing::Length(n) => Kind::Length(n),
            Framing::Chunked => Kind::Chunked(Chunked::Size { size: 0, digits: 0 }),
            Framing::CloseDelimited => Kind::Close,
        };
        BodyDecoder {
            kind,
            trailers: Headers::default(),
        }
    }

    /// Whether the body is complete.
    pub fn is_done(&self) -> bool {
        matches!(self.kind, Kind::Empty | Kind::Chunked(Chunked::Done))
    }

    /// The trailer fields (after a chunked body is done).
    pub fn trailers(&self) -> &Headers {
        &self.trailers
    }

    /// Decodes from `input`: returns at most one run of body bytes per call.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, ParseError> {
        match &mut self.kind {
            Kind::Empty => Ok(Decoded::Done { consumed: 0 }),
            Kind::Close if input.is_empty() => Ok(Decoded::NeedMore { consumed: 0 }),
            Kind::Close => Ok(Decoded::Data {
                consumed: input.len(),
                data: 0..input.len(),
            }),
            Kind::Length(left) => {
                let n = take(*left, input.len());
                *left -= n as u64;
                if *left == 0 {
                    self.kind = Kind::Empty;
                }
                Ok(if n == 0 {
                    Decoded::NeedMore { consumed: 0 }
                } else {
                    Decoded::Data {
                        consumed: n,
                        data: 0..n,
                    }
                })
            }
            Kind::Chunked(_) => self.decode_chunked(input),
        }
    }

    /// The end of the connection was reached: fine for a close-delimited body (which it
    /// completes), `Truncated` for a body that was still expecting bytes.
    pub fn finish_at_eof(&mut self) -> Result<(), ParseError> {
        match self.kind {
            Kind::Close => {
                self.kind = Kind::Empty;
                Ok(())
            }
            _ if self.is_done() => Ok(()),
            _ => Err(ParseError::Truncated),
        }
    }

    /// The chunked state machine: framing bytes one at a time, data in runs.
    fn decode_chunked(&mut self, input: &[u8]) -> Result<Decoded, ParseError> {
        let Kind::Chunked(state) = &mut self.kind else {
            unreachable!("decode_chunked is only called for a chunked body")
        };
        let mut i = 0;
        loop {
            if let Chunked::Done = state {
                return Ok(Decoded::Done { consumed: i });
            }
            if let Chunked::Data { remaining } = state {
                let n = take(*remaining, input.len() - i);
                if n == 0 {
                    return Ok(Decoded::NeedMore { consumed: i });
                }
                *remaining -= n as u64;
                if *remaining == 0 {
                    *state = Chunked::DataCr;
                }
                return Ok(Decoded::Data {
                    consumed: i + n,
                    data: i..i + n,
                });
            }
            let Some(&b) = input.get(i) else {
                return Ok(Decoded::NeedMore { consumed: i });
            };
            i += 1;
            *state = chunk_framing_byte(
                std::mem::replace(state, Chunked::Done),
                b,
                &mut self.trailers,
            )?;
        }
    }
}

/// At most `left` of `available`, as a `usize`.
fn take(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |l| l.min(available))
}

/// One byte of chunk framing (size line, data CRLF, trailers) moves the state on.
fn chunk_framing_byte(
    state: Chunked,
    b: u8,
    trailers: &mut Headers,
) -> Result<Chunked, ParseError> {
    Ok(match state {
        Chunked::Size { size, digits } => match (b as char).to_digit(16) {
            Some(d) if digits < MAX_CHUNK_SIZE_DIGITS => Chunked::Size {
                size: size << 4 | u64::from(d),
                digits: digits + 1,
            },
            Some(_) => return Err(ParseError::BadChunkSize),
            None if digits == 0 => return Err(ParseError::BadChunkSize),
            None => match b {
                b'\r' => Chunked::SizeLf { size },
                b'\n' => return Err(ParseError::BareCrOrLf),
                b';' | b' ' | b'\t' => Chunked::Extension { size, len: 1 },
                _ => return Err(ParseError::BadChunkSize),
            },
        },
        Chunked::Extension { size, len } => match b {
            b'\r' => Chunked::SizeLf { size },
            _ if len >= MAX_CHUNK_LINE_EXTRA => return Err(ParseError::BadChunkSize),
            b'\n' => return Err(ParseError::BareCrOrLf),
            _ if is_field_value_byte(b) => Chunked::Extension { size, len: len + 1 },
            _ => return Err(ParseError::BadChunkSize),
        },
        Chunked::SizeLf { size } => match b {
            b'\n' if size == 0 => Chunked::Trailer {
                line: Vec::new(),
                total: 0,
            },
            b'\n' => Chunked::Data { remaining: size },
            _ => return Err(ParseError::BareCrOrLf),
        },
        Chunked::Data { .. } => unreachable!("data is consumed in runs, not bytes"),
        Chunked::DataCr => match b {
            b'\r' => Chunked::DataLf,
            _ => return Err(ParseError::BadChunkTerminator),
        },
        Chunked::DataLf => match b {
            b'\n' => Chunked::Size { size: 0, digits: 0 },
            _ => return Err(ParseError::BadChunkTerminator),
        },
        Chunked::Trailer { mut line, total } => match b {
            b'\r' => Chunked::TrailerLf { line, total },
            b'\n' => return Err(ParseError::BareCrOrLf),
            _ if total >= MAX_CHUNK_LINE_EXTRA => return Err(ParseError::BadTrailer),
            _ => {
                line.push(b);
                Chunked::Trailer {
                    line,
                    total: total + 1,
                }
            }
        },
        Chunked::TrailerLf { line, total } => match b {
            b'\n' if line.is_empty() => Chunked::Done,
            b'\n' => {
                let field = parse_field(&line).map_err(|_| ParseError::BadTrailer)?;
                trailers.fields.push(field);
                Chunked::Trailer {
                    line: Vec::new(),
                    total,
                }
            }
            _ => return Err(ParseError::BareCrOrLf),
        },
        Chunked::Done => Chunked::Done,
    })
}

/// Whether a connection can carry another request after this response: HTTP/1.1 unless
/// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`; never after a
/// close-delimited body.
pub fn keep_alive(head: &ResponseHead, framing: Framing) -> bool {
    if framing == Framing::CloseDelimited || head.headers.has_token("connection", "close") {
        return false;
    }
    head.minor_version == 1 || head.headers.has_token("connection", "keep-alive")
}

#[cfg(test)]
mod tests;

//! The response-head fast path for callers that need only what frames the body (status code,
//! [`Framing`], keep-alive), such as `spindle-load`: one pass over the bytes, no `String` or
//! `Vec` per response. The strict parser beside it (`parse_head`, `framing`, `keep_alive`) stays
//! the reference and the code to read first.
//!
//! Talks to: its parent `client::parse` (it reuses `trim_ows` and `parse_decimal`) and the
//! request parser's byte-class table (`parse::chars`), whose `tchar` and field-value classes are
//! the parent's `is_tchar` and `is_field_value_byte`.
//!
//! Speed: field names are scanned with a 256-entry class table, field values and the reason
//! phrase eight bytes at a time while the bytes are printable text (`plain_word`), then byte by
//! byte; why, and what it saved, is in `docs/benchmarks.md`, section 3.
//!
//! Contract (tested in `fast_tests.rs` against the strict parser on the same inputs, whole, split
//! at every offset, and randomized): when [`parse_head_summary`] returns `Some((summary, len))`,
//! the strict `parse_head` returns `Ok(Some((head, len)))` with the same `len` and status, and
//! `framing(&head, ..)` and `keep_alive(&head, ..)` give `summary.framing` and
//! `summary.keep_alive`. Anything else — an incomplete head, any grammar fault, a 1xx, a
//! `Transfer-Encoding` other than exactly one `chunked`, a repeated or bad `Content-Length`,
//! a head over the limits — returns `None`: the caller asks the strict parser, which gives
//! the precise answer (need more bytes, or which rule broke).

use super::{parse_decimal, trim_ows, Framing, HeadLimits};

/// What frames a response, from its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadSummary {
    /// The status code, 200 to 599 (1xx answers are left to the strict parser).
    pub status: u16,
    /// How the body is delimited (as [`framing`](super::framing) decides).
    pub framing: Framing,
    /// Whether the connection may carry another request (as
    /// [`keep_alive`](super::keep_alive) decides).
    pub keep_alive: bool,
}

/// What the fields that matter for framing said, gathered while scanning.
#[derive(Default)]
struct Seen {
    /// `Content-Length` fields seen.
    lengths: u32,
    /// The value of the last `Content-Length`, if it was a plain decimal number.
    length: Option<u64>,
    /// `Transfer-Encoding` fields seen.
    encodings: u32,
    /// Whether the last `Transfer-Encoding` was exactly `chunked`.
    chunked: bool,
    /// A `Connection` field lists `close`.
    close: bool,
    /// A `Connection` field lists `keep-alive`.
    keep_alive_token: bool,
}

/// Parses the head at the start of `buf` into a [`HeadSummary`] and its length (blank line
/// included), or declines with `None` (see the module's contract): then call the strict
/// [`parse_head`](super::parse_head).
///
/// ```
/// use spindle_http::client::{parse_head_summary, Framing, HeadLimits};
/// let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi";
/// let (s, len) = parse_head_summary(raw, HeadLimits::default(), false).unwrap();
/// assert_eq!((s.status, s.framing, s.keep_alive, len), (200, Framing::Length(2), true, raw.len() - 2));
/// // Incomplete: declined (the strict parser says "need more bytes").
/// assert!(parse_head_summary(&raw[..20], HeadLimits::default(), false).is_none());
/// ```
pub fn parse_head_summary(
    buf: &[u8],
    limits: HeadLimits,
    request_was_head: bool,
) -> Option<(HeadSummary, usize)> {
    // 1. The status line: `HTTP/1.x SP 3DIGIT [SP reason] CRLF`.
    let (minor, status, mut i) = status_line(buf)?;
    // 2. Fields, one per line, until the blank line.
    let mut seen = Seen::default();
    let mut fields = 0;
    loop {
        if *buf.get(i)? == b'\r' {
            i = crlf(buf, i)?;
            break;
        }
        fields += 1;
        if fields > limits.max_headers {
            return None;
        }
        let name_start = i;
        i = skip(buf, i, TCHAR)?;
        if i == name_start || buf[i] != b':' {
            return None;
        }
        let name = &buf[name_start..i];
        let value_start = i + 1;
        i = value_end(buf, value_start)?;
        seen.note(name, trim_ows(&buf[value_start..i]));
        i = crlf(buf, i)?;
    }
    if i > limits.max_head_bytes {
        return None;
    }
    // 3. Framing and keep-alive, by the rules of `framing` and `keep_alive`.
    let framing = seen.framing(status, minor, request_was_head)?;
    let keep_alive =
        framing != Framing::CloseDelimited && !seen.close && (minor == 1 || seen.keep_alive_token);
    Some((
        HeadSummary {
            status,
            framing,
            keep_alive,
        },
        i,
    ))
}

/// The status line: the minor version, the status (200 to 599), and where the next line starts.
fn status_line(buf: &[u8]) -> Option<(u8, u16, usize)> {
    let minor = match buf.get(..9)? {
        b"HTTP/1.1 " => 1,
        b"HTTP/1.0 " => 0,
        _ => return None,
    };
    let code = buf.get(9..12)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if !(200..=599).contains(&status) {
        return None;
    }
    let end = match *buf.get(12)? {
        b'\r' => 12,
        b' ' => value_end(buf, 13)?,
        _ => return None,
    };
    Some((minor, status, crlf(buf, end)?))
}

/// The end of the field-value (or reason) bytes that start at `i`; the byte there must exist
/// (it is checked to be CR by [`crlf`]).
fn value_end(buf: &[u8], mut i: usize) -> Option<usize> {
    // Whole words of printable text first; the word that holds the CR (or a tab) ends this.
    while let Some(word) = buf.get(i..i + 8) {
        if !plain_word(word) {
            break;
        }
        i += 8;
    }
    skip(buf, i, VALUE)
}

/// The first index at or after `i` whose byte is not of `class`, or `None` if `buf` ends first.
fn skip(buf: &[u8], i: usize, class: u8) -> Option<usize> {
    let n = buf
        .get(i..)?
        .iter()
        .position(|&b| CLASSES[usize::from(b)] & class == 0)?;
    Some(i + n)
}

/// The byte classes: the request parser's table (`parse::chars`), whose `TCHAR` and `FIELD` bits
/// are the grammar of the parent's `is_tchar` and `is_field_value_byte` (`fast_tests.rs` checks
/// all 256 bytes against them).
use crate::parse::chars::{FIELD as VALUE, TABLE as CLASSES, TCHAR};

/// Whether all eight bytes of `word` are field-value bytes other than HTAB: none is below
/// 0x20 (a control byte, CR and LF among them) and none is DEL (0x7f). Each test is the
/// classic "does a byte of this word lie below n" bit trick, which is exact about whether
/// *some* byte does (it may misplace which), and that is all this needs. A `false` only sends
/// the caller to the byte-at-a-time loop, so HTAB, allowed but below 0x20, is still accepted.
fn plain_word(word: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut bytes = [0u8; 8];
    // `word` is eight bytes long: the caller takes it as `buf.get(i..i + 8)`.
    bytes.copy_from_slice(word);
    let x = u64::from_le_bytes(bytes);
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    let del = x ^ (ONES * 0x7f); // a DEL byte becomes zero
    let has_del = del.wrapping_sub(ONES) & !del & HIGHS;
    below_space | has_del == 0
}

/// `i` past the CRLF at `i`.
fn crlf(buf: &[u8], i: usize) -> Option<usize> {
    (buf.get(i..i + 2)? == b"\r\n").then_some(i + 2)
}

impl Seen {
    /// Notes one field if its name is one that frames the body or the connection.
    fn note(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(b"content-length") {
            self.lengths += 1;
            self.length = parse_decimal(value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.encodings += 1;
            self.chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim_ows) {
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }

    /// The framing, or `None` for the shapes left to the strict parser.
    fn framing(&self, status: u16, minor: u8, request_was_head: bool) -> Option<Framing> {
        if request_was_head || status == 204 || status == 304 {
            return Some(Framing::Empty);
        }
        match (self.encodings, self.lengths) {
            (0, 0) => Some(Framing::CloseDelimited),
            (0, 1) => self.length.map(Framing::Length),
            (1, 0) if self.chunked && minor == 1 => Some(Framing::Chunked),
            _ => None,
        }
    }
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;

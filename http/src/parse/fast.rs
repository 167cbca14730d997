//! The fast paths of the head parser, fenced off from the grammar: one entry point, [`line`],
//! that takes a line in the shape nearly every client sends, in one pass from its first byte,
//! or declines.
//!
//! The careful parser in the rest of `parse/` is the reference: it finds a line's end, then
//! parses the line by the grammar (`request_line.rs`, `fields.rs`) and names every error.
//! [`super::RequestParser`] offers each line it has not looked at yet to [`line`] first, in a
//! run from line to line; where [`line`] declines, the careful path starts that same line from
//! scratch and decides.
//!
//! The contract, proved by the tests at the end of this file (tables, and seeded random lines
//! compared with the careful path): [`line`] never rejects; whatever it takes, the careful path
//! takes too, with the same spans and the same next-line offset; every error, and every line
//! not all in the buffer yet, is left to the careful path. So this file can change, or go,
//! without changing a single verdict. Why the shapes below are fast is measured in
//! `docs/benchmarks.md`.

use super::chars::{is_ows, is_path, is_query, is_token, scan_escaped};
use super::request_line::RequestLine;
use super::scan::{find_byte, skip_field_bytes, word_at};
use super::target::Target;
use super::types::{FieldSpan, Method, Span, TargetForm, Version};

/// Which shape of line the parser offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    /// The request line.
    RequestLine,
    /// The head's first field line, right after the request line (so no `Host` seen yet),
    /// taken only if it is `Host: ` with the remembered value; any other line is declined,
    /// and the parser offers it again as a [`Expect::Field`].
    KnownHost,
    /// A field line, or the blank line that ends the head.
    Field,
}

/// A line the fast path took, with the offset where the next line starts (or, for the blank
/// line, where the head ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Line {
    /// A request line of the common shape.
    Request(RequestLine, usize),
    /// `Host: ` and exactly the remembered valid value ([`RecentHost`]): the parser notes it
    /// as the head's `Host` with no further check.
    KnownHost(FieldSpan, usize),
    /// A well-formed field line.
    Field(FieldSpan, usize),
    /// The blank line that ends the head.
    Blank(usize),
}

/// The one entry point: what the careful path would make of the line at `window[start..]`,
/// if it is of a common shape, all there and well-formed; `None` otherwise (then the careful
/// path decides). `recent_host` is the last `Host` value this parser found valid;
/// `max_target` the target limit, past which a target is left to the careful path's 414.
#[inline(always)] // each call site asks for one shape, so only that shape's code stays there
pub(super) fn line(
    window: &[u8],
    start: usize,
    expect: Expect,
    recent_host: &RecentHost,
    max_target: usize,
) -> Option<Line> {
    match expect {
        Expect::RequestLine => {
            let (line, next) = request_line(window, start, max_target)?;
            Some(Line::Request(line, next))
        }
        Expect::KnownHost => {
            let (field, next) = known_host_line(window, start, recent_host)?;
            Some(Line::KnownHost(field, next))
        }
        Expect::Field => field_line(window, start),
    }
}

/// The standard methods the common-shape fast path recognises, as (the name and its SP packed
/// into a little-endian word, a mask selecting those bytes, the method, the name's length).
/// `CONNECT` is absent: its target is never origin-form. The most frequent come first.
const COMMON_METHODS: [(u64, u64, Method, usize); 8] = [
    method_word(b"GET ", Method::Get),
    method_word(b"POST ", Method::Post),
    method_word(b"HEAD ", Method::Head),
    method_word(b"PUT ", Method::Put),
    method_word(b"DELETE ", Method::Delete),
    method_word(b"OPTIONS ", Method::Options),
    method_word(b"PATCH ", Method::Patch),
    method_word(b"TRACE ", Method::Trace),
];

/// `HTTP/1.1` as a little-endian word, as [`word_at`] loads it.
const HTTP_1_1: u64 = u64::from_le_bytes(*b"HTTP/1.1");

/// `HTTP/1.0` as a little-endian word, as [`word_at`] loads it.
const HTTP_1_0: u64 = u64::from_le_bytes(*b"HTTP/1.0");

/// One [`COMMON_METHODS`] entry for `name_sp` (a method name and its SP, at most 8 bytes).
const fn method_word(name_sp: &[u8], method: Method) -> (u64, u64, Method, usize) {
    let mut word = 0u64;
    let mut i = 0;
    while i < name_sp.len() {
        word |= (name_sp[i] as u64) << (8 * i);
        i += 1;
    }
    let mask = if name_sp.len() == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * name_sp.len())) - 1
    };
    (word, mask, method, name_sp.len() - 1)
}

/// The request line almost every client sends: a standard method (not `CONNECT`),
/// an origin-form target, `HTTP/1.1` or `HTTP/1.0`, CRLF, all present in `window` from
/// `start`. Validates the line in one pass as it goes and returns it with the offset just past
/// its LF. `None` means "not this shape, or not all here yet": the caller then runs the
/// careful path (`parse_request_line_with_spaces` after the line-end scan), which decides
/// every error. So this function never rejects anything.
///
/// Why it accepts only what the careful path accepts, with the same result:
/// - the method is a known name followed by SP, so the careful path's first SP is the same;
/// - the target is path bytes (and `%HH` escapes), then optionally `?` and query bytes, then
///   SP. Neither class holds SP, CR or LF, so that SP is the careful path's second SP, the
///   target is the same bytes, and the careful path's origin-form scan (the same
///   [`scan_escaped`] over the same classes) ends at the same `?` and the same end. An escape
///   cannot reach past the target: its two hex digits are not SP;
/// - the target length is checked against `max_target`, and a longer one is left to the
///   careful path, which answers 414;
/// - the version and CRLF are matched exactly right after the target, so the line holds no
///   other CR and its first LF is this one, as the careful path's line-end scan would find.
#[inline]
fn request_line(window: &[u8], start: usize, max_target: usize) -> Option<(RequestLine, usize)> {
    // 1. The method and its SP, compared a word at a time (past the end of the window the word
    //    holds zero bytes, which no name matches).
    if start >= window.len() {
        return None;
    }
    let first = word_at(window, start);
    let &(_, _, method, name_len) = COMMON_METHODS
        .iter()
        .find(|&&(word, mask, _, _)| first & mask == word)?;
    let target_start = start + name_len + 1;

    // 2. An origin-form target: `/`, path bytes, and optionally `?` and query bytes.
    if window.get(target_start) != Some(&b'/') {
        return None;
    }
    let path_end = scan_escaped(window, target_start, is_path);
    let (target_end, query) = match window.get(path_end) {
        Some(b'?') => {
            let end = scan_escaped(window, path_end + 1, is_query);
            (end, Some(Span::new(path_end + 1, end)))
        }
        _ => (path_end, None),
    };
    if window.get(target_end) != Some(&b' ') || target_end - target_start > max_target {
        return None;
    }

    // 3. The version and the line's CRLF: one word compared with the two versions, then the
    //    two bytes after it.
    let version_start = target_end + 1;
    let (version, crlf) = window.get(version_start..version_start + 10)?.split_at(8);
    let version = match word_at(version, 0) {
        HTTP_1_1 => Version::Http11,
        HTTP_1_0 => Version::Http10,
        _ => return None,
    };
    if crlf != b"\r\n" {
        return None;
    }
    let line = RequestLine {
        method,
        method_span: Span::new(start, start + name_len),
        target_span: Span::new(target_start, target_end),
        target: Target {
            form: TargetForm::Origin,
            path: Span::new(target_start, path_end),
            query,
            authority: None,
        },
        version,
    };
    Some((line, version_start + 10))
}

/// A field line that is all there and well-formed, judged in one pass from
/// its first byte at `start` (with no separate search for its end): `name:`, optional
/// whitespace, field bytes, CRLF. Also recognises the blank line. `None` means "not this
/// shape, or not all here yet": the caller then runs the careful path (the line-end search and
/// `parse_field_line`), which decides every error. So this
/// function never rejects anything.
///
/// Why it accepts only what the careful path accepts, with the same spans:
/// - the name is the bytes before the first colon, and must be a token, so it holds no
///   whitespace (no obs-fold, no space before the colon) and no CR or LF: the colon is on
///   this line, and it is the first one, where `parse_field_line` ends the name;
/// - after the optional whitespace, [`skip_field_bytes`] stops at the first byte that is not a
///   field byte, and that must be CR then LF. Tchars, whitespace and field bytes are never CR
///   or LF, so this LF is the first one after `start`, where the careful path's search ends,
///   and the careful path would see a line of field bytes only;
/// - the value is trimmed of whitespace on both sides, as `split_field` trims it; an
///   all-whitespace value becomes the empty span at the line's end, as there.
#[inline]
fn field_line(window: &[u8], start: usize) -> Option<Line> {
    // 1. The blank line.
    if window.get(start..start + 2)? == b"\r\n" {
        return Some(Line::Blank(start + 2));
    }
    // 2. The name: a token, then a colon, found a word at a time. A complete line without a
    //    colon sends the search on into later lines, but then the "name" holds CR LF and fails
    //    the token test, and the careful path refuses the line, ending the head: so the search
    //    looks past its own line at most once per head.
    let colon = find_byte(window, start, window.len(), b':')?;
    if !is_token(&window[start..colon]) {
        return None;
    }
    // 3. The value, its leading whitespace skipped first, then field bytes up to CR LF.
    let mut value_start = colon + 1;
    while window.get(value_start).copied().is_some_and(is_ows) {
        value_start += 1;
    }
    let cr = skip_field_bytes(window, value_start);
    if window.get(cr..cr + 2)? != b"\r\n" {
        return None;
    }
    // 4. Trailing whitespace is not part of the value.
    let mut value_end = cr;
    while value_end > value_start && is_ows(window[value_end - 1]) {
        value_end -= 1;
    }
    let field = FieldSpan {
        name: Span::new(start, colon),
        value: Span::new(value_start, value_end),
    };
    Some(Line::Field(field, cr + 2))
}

/// The longest `Host` value [`RecentHost`] remembers. At most 32, the most
/// [`RecentHost::holds`] compares in its four words.
const RECENT_HOST_CAPACITY: usize = 31;
const _: () = assert!(RECENT_HOST_CAPACITY <= 32);

/// `host: ` as a little-endian word, in its low six bytes (see [`known_host_line`]).
const HOST_COLON_SP: u64 = u64::from_le_bytes(*b"host: \0\0");

/// The last `Host` value a parser found valid, so that the next head on the connection, which
/// nearly always repeats it byte for byte, needs a comparison instead of the grammar check.
/// Whether a value is valid depends on its bytes alone, so a remembered value stays valid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecentHost {
    /// The value's length; 0 while none is remembered (an empty `Host` is never valid, so it
    /// can never be the remembered value). INVARIANT: at most [`RECENT_HOST_CAPACITY`].
    len: u8,
    /// The value, in `bytes[..len]`.
    bytes: [u8; RECENT_HOST_CAPACITY],
}

impl RecentHost {
    /// Is `value` the remembered valid value?
    #[inline(always)]
    pub(super) fn holds(&self, value: &[u8]) -> bool {
        let len = usize::from(self.len);
        if len == 0 || value.len() != len {
            return false;
        }
        let held = &self.bytes[..len];
        if len < 8 {
            return value == held;
        }
        // Eight bytes at a time, in words that may overlap: the first and the last eight bytes
        // cover any length up to 16, and with the eight after the first and the eight before
        // the last, any length up to 32.
        let word = |bytes: &[u8], at: usize| {
            let mut eight = [0; 8];
            eight.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(eight)
        };
        let differs = |at: usize| word(value, at) ^ word(held, at);
        let mut diff = differs(0) | differs(len - 8);
        if len > 16 {
            diff |= differs(8) | differs(len - 16);
        }
        diff == 0
    }

    /// Remember `value`, which passed the `Host` grammar (`valid_authority`), if it fits.
    pub(super) fn remember(&mut self, value: &[u8]) {
        debug_assert!(super::target::valid_authority(value, false));
        if let Some(slot) = self.bytes.get_mut(..value.len()) {
            slot.copy_from_slice(value);
            // Fits: `value` is no longer than RECENT_HOST_CAPACITY, which is below 256.
            self.len = value.len() as u8;
        }
    }
}

/// The field line nearly every request opens with (RFC 9110 §7.2 asks user agents to send
/// `Host` first), judged in one pass from its first byte at `start`: `Host: ` (the name in
/// any case), exactly the remembered valid value, CRLF. Offered only as the head's first
/// field line, so no `Host` has been seen in this head. Returns the field and the offset of
/// the next line; `None` means "not this line", and the parser offers it as a field line.
///
/// Why the careful path would give the same: the remembered value passed
/// the `Host` grammar, so it is one or more host bytes, never whitespace, CR or LF. So
/// the name is the four letters before the first colon, `host` ignoring case as
/// `Facts::observe` compares it; the value, trimmed of its one leading SP, is exactly
/// the remembered bytes, as `split_field` would trim it; the CRLF right after it is the
/// line's end; and `Facts::observe_host` would find no earlier `Host` and the value
/// remembered, and only note the span.
#[inline]
fn known_host_line(
    window: &[u8],
    start: usize,
    recent_host: &RecentHost,
) -> Option<(FieldSpan, usize)> {
    let len = usize::from(recent_host.len);
    if len == 0 {
        return None;
    }
    let value_start = start + 6;
    let value_end = value_start + len;
    // The line is at least nine bytes (`Host: `, one value byte, CRLF), so it holds one
    // word from its start: the name folded to lowercase by one OR on its four letters
    // (exact for letters, as `is_word_ignoring_case` in `fields.rs` explains), the colon and SP as they are.
    let line = window.get(start..value_end + 2)?;
    let word = u64::from_le_bytes(line[..8].try_into().ok()?);
    if (word | 0x2020_2020) & 0xFFFF_FFFF_FFFF != HOST_COLON_SP
        || !recent_host.holds(&line[6..6 + len])
        || line[6 + len..] != *b"\r\n"
    {
        return None;
    }
    let field = FieldSpan {
        name: Span::new(start, start + 4),
        value: Span::new(value_start, value_end),
    };
    Some((field, value_end + 2))
}

#[cfg(test)]
mod tests {
    use super::super::fields::{parse_field_line, Facts};
    use super::super::request_line::parse_request_line;
    use super::*;
    use crate::error::ParseError::{self, *};

    /// The entry point, asked for a request line.
    fn fast_request_line(
        window: &[u8],
        start: usize,
        max_target: usize,
    ) -> Option<(RequestLine, usize)> {
        let none = RecentHost::default();
        match line(window, start, Expect::RequestLine, &none, max_target)? {
            Line::Request(line, next) => Some((line, next)),
            other => panic!("not a request line: {other:?}"),
        }
    }

    /// The entry point, asked for a field line (or the blank line) after the first.
    fn fast_field_line(window: &[u8], start: usize) -> Option<Line> {
        line(
            window,
            start,
            Expect::Field,
            &RecentHost::default(),
            usize::MAX,
        )
    }

    /// What the parser's careful path makes of the line at `buf[start..]`: `None` while its LF
    /// has not arrived, else the line or the error (a bare LF included), and where the next
    /// line starts.
    fn careful_request_line(
        buf: &[u8],
        start: usize,
        max_target: usize,
    ) -> Option<Result<(RequestLine, usize), ParseError>> {
        let lf = start + buf[start..].iter().position(|&b| b == b'\n')?;
        if lf == start || buf[lf - 1] != b'\r' {
            return Some(Err(BareLf));
        }
        Some(parse_request_line(buf, start, lf - 1, max_target).map(|line| (line, lf + 1)))
    }

    /// The fast path takes the common lines, with the careful path's result, and declines
    /// (leaving the verdict to the careful path) every line of another shape, including the
    /// ones that are valid but rarer, and every line that is not all there.
    #[test]
    fn common_shape_fast_path() {
        // (bytes from the line's start, whether the fast path takes it); max_target is 16.
        let table: &[(&str, bool)] = &[
            ("GET / HTTP/1.1\r\n", true),
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
            ("POST /a/b?c=d&e HTTP/1.0\r\n", true),
            ("HEAD /%20x?%2F HTTP/1.1\r\n", true),
            ("PUT /? HTTP/1.1\r\n", true),
            ("DELETE /a?b?c HTTP/1.1\r\n", true),
            ("OPTIONS /x HTTP/1.1\r\n", true),
            ("PATCH //x HTTP/1.1\r\n", true),
            ("TRACE /:@!$&'()*+,;= HTTP/1.1\r\n", true),
            // exactly the target limit
            ("GET /0123456789abcde HTTP/1.1\r\n", true),
            // valid, but another shape: the careful path takes them
            ("PROPFIND / HTTP/1.1\r\n", false),
            ("get / HTTP/1.1\r\n", false),
            ("GETS / HTTP/1.1\r\n", false),
            ("CONNECT h:1 HTTP/1.1\r\n", false),
            ("OPTIONS * HTTP/1.1\r\n", false),
            ("GET http://h/ HTTP/1.1\r\n", false),
            // invalid: the careful path names the error
            ("GET /0123456789abcdef HTTP/1.1\r\n", false),
            ("GET  / HTTP/1.1\r\n", false),
            ("GET\t/ HTTP/1.1\r\n", false),
            ("GET /a#b HTTP/1.1\r\n", false),
            ("GET /%zz HTTP/1.1\r\n", false),
            ("GET /%2 HTTP/1.1\r\n", false),
            ("GET /a\x7f HTTP/1.1\r\n", false),
            ("GET /\u{e9} HTTP/1.1\r\n", false),
            ("GET / HTTP/1.2\r\n", false),
            ("GET / HTTP/1.1 \r\n", false),
            ("GET / HTTP/1.1\n", false),
            ("GET / HTTP/1.1\rx\r\n", false),
            ("GET /\r HTTP/1.1\r\n", false),
            // not all there yet
            ("GET / HTTP/1.1\r", false),
            ("GET / HTTP/1.1", false),
            ("GET /", false),
            ("GET", false),
            ("", false),
        ];
        for &(input, takes) in table {
            for start in [0, 3] {
                let mut buf = vec![b'x'; start];
                buf.extend_from_slice(input.as_bytes());
                let fast = fast_request_line(&buf, start, 16);
                assert_eq!(fast.is_some(), takes, "{input:?}");
                if let Some(fast) = fast {
                    assert_eq!(
                        careful_request_line(&buf, start, 16),
                        Some(Ok(fast)),
                        "{input:?}"
                    );
                }
            }
        }
    }

    /// Whatever the fast path takes, the careful path takes too, with the same line and the
    /// same next-line offset: 200,000 lines drawn by a seeded xorshift from pieces near the
    /// common shape (known and unknown methods, stray spaces and tabs, targets from a small
    /// alphabet holding every byte that matters, good and bad versions and line ends), cut
    /// short at a random point a quarter of the time.
    #[test]
    fn fast_path_agrees_with_careful_path() {
        // Each piece is drawn from a list whose first half is well-formed more often than not.
        let methods = [
            "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "get",
            "GETX", "PROPFIND", "",
        ];
        let spaces = [" ", " ", " ", " ", " ", " ", "  ", "\t", ""];
        let clean_target: &[u8] = b"/aZ9?:@-.";
        let noisy_target: &[u8] = b"/a?%%%2F#: @*\r\n\t\x7f\xc3";
        let versions = [
            "HTTP/1.1",
            "HTTP/1.1",
            "HTTP/1.0",
            "HTTP/1.1",
            "HTTP/2.0",
            "http/1.1",
            "HTTP/1.1 ",
            "HTTP/1.10",
        ];
        let ends = [
            "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "", "\r\r\n", "\rx\r\n",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut taken, mut declined_valid) = (0, 0);
        for _ in 0..200_000 {
            let start = next(3);
            let mut buf = vec![b'x'; start];
            buf.extend_from_slice(methods[next(methods.len())].as_bytes());
            buf.extend_from_slice(spaces[next(spaces.len())].as_bytes());
            let alphabet = if next(3) == 0 {
                noisy_target
            } else {
                clean_target
            };
            for i in 0..next(10) {
                buf.push(match (i, next(4)) {
                    (0, 0..=2) => b'/',
                    _ => alphabet[next(alphabet.len())],
                });
            }
            buf.extend_from_slice(spaces[next(spaces.len())].as_bytes());
            buf.extend_from_slice(versions[next(versions.len())].as_bytes());
            buf.extend_from_slice(ends[next(ends.len())].as_bytes());
            if next(4) == 0 {
                buf.truncate(start + next(buf.len() - start + 1));
            } else if next(2) == 0 {
                buf.extend_from_slice(b"Host: h\r\n");
            }
            let max_target = 5 + next(6);
            let slow = careful_request_line(&buf, start, max_target);
            match fast_request_line(&buf, start, max_target) {
                Some(fast) => {
                    taken += 1;
                    assert_eq!(slow, Some(Ok(fast)), "{:?}", String::from_utf8_lossy(&buf));
                }
                None => declined_valid += usize::from(matches!(slow, Some(Ok(_)))),
            }
        }
        // The draw must give the fast path work, and lines it leaves to the careful path.
        assert!(taken > 2_000, "{taken} taken");
        assert!(
            declined_valid > 500,
            "{declined_valid} valid lines declined"
        );
    }

    /// What the parser's careful path makes of the line at `buf[start..]`: `None` while its LF
    /// has not arrived, else the blank line, the field, or the error (a bare LF included).
    fn careful_field_line(buf: &[u8], start: usize) -> Option<Result<Line, ParseError>> {
        let lf = start + buf[start..].iter().position(|&b| b == b'\n')?;
        if lf == start || buf[lf - 1] != b'\r' {
            return Some(Err(BareLf));
        }
        if lf - 1 == start {
            return Some(Ok(Line::Blank(lf + 1)));
        }
        Some(parse_field_line(buf, start, lf - 1).map(|f| Line::Field(f, lf + 1)))
    }

    /// The fast path takes well-formed lines that are all there, with the careful path's
    /// spans, and declines every other line, leaving the verdict to the careful path.
    #[test]
    fn common_field_line_fast_path() {
        // (bytes from the line's start, whether the fast path takes it)
        let table: &[(&str, bool)] = &[
            ("Host: h\r\n", true),
            ("Host: h\r\n\r\n", true),
            ("\r\n", true),
            ("\r\nGET", true),
            ("Host:h\r\n", true),
            ("X:\r\n", true),
            ("X: \t \r\n", true),
            ("X:\t a\tb \t\r\n", true),
            ("X: a:b:c\r\n", true),
            ("X: caf\u{e9}\r\n", true),
            ("!#$%&'*+-.^_`|~09az: v\r\n", true),
            ("A-Very-Long-Field-Name-Of-Thirty: v\r\n", true),
            // valid, but left to the careful path: not all there yet
            ("Host: h\r", false),
            ("Host: h", false),
            ("Host", false),
            ("\r", false),
            ("", false),
            // invalid: the careful path names the error
            (" X: a\r\n", false),
            ("\tX: a\r\n", false),
            ("X : a\r\n", false),
            ("X\t: a\r\n", false),
            (": a\r\n", false),
            ("X\r\nY: b\r\n", false),
            ("X(y): a\r\n", false),
            ("X: a\rb\r\n", false),
            ("X: a\0b\r\n", false),
            ("X: a\x7f\r\n", false),
            ("X: a\n", false),
            ("X: a\r\r\n", false),
            ("\n", false),
            ("\r\r\n", false),
        ];
        for &(input, takes) in table {
            for start in [0, 5] {
                let mut buf = vec![b'x'; start];
                buf.extend_from_slice(input.as_bytes());
                let fast = fast_field_line(&buf, start);
                assert_eq!(fast.is_some(), takes, "{input:?}");
                if let Some(fast) = fast {
                    assert_eq!(careful_field_line(&buf, start), Some(Ok(fast)), "{input:?}");
                }
            }
        }
    }

    /// Whatever the fast path takes, the careful path takes too, with the same spans and the
    /// same next-line offset, and the reverse: 200,000 lines drawn by a seeded xorshift, each a name, a colon
    /// (usually), a value and a line end, from pieces holding every byte that matters (name
    /// bytes, whitespace, colons, controls, DEL, obs-text, CR, LF), sometimes cut short.
    #[test]
    fn common_field_line_agrees_with_careful_path() {
        let clean_name: &[u8] = b"aZ9-_";
        let noisy_name: &[u8] = b"aZ9- \t:(@\r\n\x80";
        let clean_value: &[u8] = b"a b\t:\x80\xff";
        let noisy_value: &[u8] = b"a \t:\x00\x7f\x1b\r\n\xff";
        let ends = ["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r", "", "\r\r\n"];
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut draw = |buf: &mut Vec<u8>, clean: &[u8], noisy: &[u8], max: usize| {
            let alphabet = if next(4) == 0 { noisy } else { clean };
            for _ in 0..next(max) {
                buf.push(alphabet[next(alphabet.len())]);
            }
        };
        let (mut taken, mut declined_valid) = (0, 0);
        for i in 0..200_000 {
            let start = i % 9;
            let mut buf = vec![b'x'; start];
            draw(&mut buf, clean_name, noisy_name, 12);
            if i % 8 != 0 {
                buf.push(b':');
            }
            draw(&mut buf, clean_value, noisy_value, 20);
            buf.extend_from_slice(ends[i % ends.len()].as_bytes());
            match i % 5 {
                0 => buf.truncate(start + (i / 5) % (buf.len() - start + 1)),
                1 => buf.extend_from_slice(b"Next: line\r\n"),
                _ => {}
            }
            let slow = careful_field_line(&buf, start);
            match fast_field_line(&buf, start) {
                Some(fast) => {
                    taken += 1;
                    assert_eq!(slow, Some(Ok(fast)), "{:?}", String::from_utf8_lossy(&buf));
                }
                None => declined_valid += usize::from(matches!(slow, Some(Ok(_)))),
            }
        }
        // The draw must give the fast path work. And it takes every complete line the careful
        // path accepts: field lines have one shape, so only errors and lines still arriving
        // are left to the careful path.
        assert!(taken > 20_000, "{taken} taken");
        assert_eq!(declined_valid, 0, "valid lines declined");
    }

    /// The remembered `Host` matches a value exactly when the bytes are equal, for every
    /// length it can hold (below, at and across the eight-byte words it compares) and a
    /// difference at every position; nothing is remembered from an empty or too long value.
    #[test]
    fn recent_host_holds_exactly_its_value() {
        let source: Vec<u8> = (0..40).map(|i| b'a' + (i % 26) as u8).collect();
        for len in 1..=RECENT_HOST_CAPACITY {
            let value = &source[..len];
            let mut recent = RecentHost::default();
            assert!(!recent.holds(value), "nothing remembered yet");
            recent.remember(value);
            assert!(recent.holds(value), "{len}");
            assert!(!recent.holds(&source[..len - 1]) && !recent.holds(&source[..len + 1]));
            for at in 0..len {
                let mut other = value.to_vec();
                other[at] = b'.';
                assert!(!recent.holds(&other), "{len}, differs at {at}");
            }
        }
        let mut recent = RecentHost::default();
        recent.remember(&source[..RECENT_HOST_CAPACITY + 1]);
        assert!(!recent.holds(&source[..RECENT_HOST_CAPACITY + 1]) && !recent.holds(b""));
    }

    /// The `Host` line fast path takes exactly the lines the careful path reads as the head's
    /// first `Host` with the remembered value, with the same field, the same next line and
    /// the same facts afterwards; it declines every other line (other names, other spacing,
    /// other values, lines not all there), leaving it to the other paths. Every combination of
    /// the pieces below is tried, at two offsets in the window. (The parser offers this shape
    /// only as the head's first field line, so a second `Host` never reaches it.)
    #[test]
    fn recent_host_line_agrees_with_careful_path() {
        let names = [
            "Host", "HOST", "hOsT", "Hosts", "Hos", "Jost", "Host ", " Host", "X",
        ];
        let colons = [": ", ":", ":  ", ":\t", ": \t", ":\0", "\x1a "];
        let remembered = ["127.0.0.1:18081", "h", "a-host-name-of-exactly-31-bytes"];
        let values = [
            "127.0.0.1:18081",
            "127.0.0.1:1808",
            "127.0.0.1:180811",
            "127.0.0.1:18082",
            "h",
            "H",
            "a-host-name-of-exactly-31-bytes",
            "a-host-name-of-exactly-31-bytez",
            "h ",
            "",
        ];
        let ends = ["\r\n", "\r\nX: y\r\n", "\n", "\r", "", "\rx\r\n", " \r\n"];
        let (mut taken, mut declined_valid) = (0, 0);
        for recent in remembered {
            let mut facts = Facts::default();
            facts.recent_host.remember(recent.as_bytes());
            for name in names {
                for colon in colons {
                    for value in values {
                        for end in ends {
                            for start in [0, 5] {
                                let text = format!("{name}{colon}{value}{end}");
                                let mut window = vec![b'x'; start];
                                window.extend_from_slice(text.as_bytes());
                                let fast = line(
                                    &window,
                                    start,
                                    Expect::KnownHost,
                                    &facts.recent_host,
                                    usize::MAX,
                                );
                                let slow = careful_observed(&facts, &window, start);
                                match fast {
                                    Some(Line::KnownHost(field, next)) => {
                                        taken += 1;
                                        let mut noted = facts.clone();
                                        noted.observe_recent_host(field);
                                        assert_eq!(
                                            slow,
                                            Some(Ok((field, next, noted))),
                                            "{text:?} remembering {recent:?}"
                                        );
                                    }
                                    Some(other) => panic!("{text:?}: {other:?}"),
                                    None => {
                                        declined_valid += usize::from(matches!(slow, Some(Ok(_))));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // The pieces must give the fast path work, and valid lines it leaves to the others
        // (other spacing, other values, and so on).
        assert!(taken >= 3 * 3 * 2 * 2, "{taken} taken");
        assert!(
            declined_valid > 100,
            "{declined_valid} valid lines declined"
        );
    }

    /// What the careful path makes of the field line at `window[start..]`, given the facts
    /// so far: `None` while its LF has not arrived, else the field, where the next line
    /// starts and the facts after it, or the error.
    fn careful_observed(
        facts: &Facts,
        window: &[u8],
        start: usize,
    ) -> Option<Result<(FieldSpan, usize, Facts), ParseError>> {
        let lf = start + window[start..].iter().position(|&b| b == b'\n')?;
        if lf == start || window[lf - 1] != b'\r' {
            return Some(Err(BareLf));
        }
        let mut facts = facts.clone();
        Some(parse_field_line(window, start, lf - 1).and_then(|field| {
            facts.observe(window, field)?;
            Ok((field, lf + 1, facts))
        }))
    }
}

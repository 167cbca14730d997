//! The request line, `method SP request-target SP HTTP-version` (RFC 9112 §3), parsed once its
//! CRLF has arrived.
//!
//! Two paths. [`super::RequestParser`] first offers a new line to
//! [`parse_common_request_line`], which recognises the shape nearly every client sends (a
//! standard method, an origin-form target, `HTTP/1.x`, CRLF) and validates it in one pass. If
//! that declines, the parser finds the line's end, noting its first two SPs on the way, and
//! calls the careful [`parse_request_line_with_spaces`]; the target itself is left to
//! [`super::target`].
//!
//! Invariants: the fast path never rejects, it only declines, and it accepts only lines the
//! careful path accepts, with the same result (the tests compare them on random lines); so
//! every error comes from the careful path. There the checks run in a fixed order, and the
//! first two, the method length and the target length, are the same checks the parser makes
//! on a still-incomplete line ([`method_too_long`] is shared by both). So a line that arrives a byte at a time is rejected with the same error as the same
//! line arriving whole.

use super::chars::{is_path, is_query, is_token, scan_escaped};
use super::head::{Method, Span, TargetForm, Version};
use super::scan::{find_byte, word_at};
use super::target::{parse_target, Target};
use crate::error::ParseError;

/// A parsed request line; spans index the whole head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestLine {
    /// The method, classified.
    pub(crate) method: Method,
    /// The method as received.
    pub(crate) method_span: Span,
    /// The whole request-target.
    pub(crate) target_span: Span,
    /// The parts of the target.
    pub(crate) target: Target,
    /// The version.
    pub(crate) version: Version,
}

/// [`parse_request_line_with_spaces`] for a line whose SPs are not known yet: the table tests
/// give whole lines. (The parser notes the SPs while it looks for the line end.)
#[cfg(test)]
pub(crate) fn parse_request_line(
    buf: &[u8],
    start: usize,
    end: usize,
    max_target: usize,
) -> Result<RequestLine, ParseError> {
    let line = &buf[start..end];
    let max_method = TEST_MAX_METHOD;
    let sp1 = line.iter().position(|&b| b == b' ');
    let sp2 = sp1.and_then(|sp1| {
        line[sp1 + 1..]
            .iter()
            .position(|&b| b == b' ')
            .map(|i| sp1 + 1 + i)
    });
    parse_request_line_with_spaces(buf, start, end, sp1, sp2, max_method, max_target)
}

/// The method limit the table tests use.
#[cfg(test)]
pub(crate) const TEST_MAX_METHOD: usize = 12;

/// RFC 9112 §3: "a server that receives a method longer than any that it implements SHOULD
/// respond with a 501". True if `line` (the bytes of the request line so far, from its first
/// byte) starts with more than `max_method` token bytes: a method too long to be one we
/// implement. Only the first `max_method + 1` bytes are looked at, so the verdict is the same
/// on a line still arriving and on the complete line; a first word that is not a token within
/// them is left to the method check (400).
pub(crate) fn method_too_long(line: &[u8], max_method: usize) -> bool {
    line.get(..=max_method).is_some_and(is_token)
}

/// Parse the request line `buf[start..end]` (without its CRLF), whose first SP is at offset
/// `sp1` of the line and the next SP at `sp2`, if any: the parser notes them while it looks
/// for the line's end, so the line is not searched again.
///
/// Single SPs only: RFC 9112 §3 lets a recipient split on any whitespace, but a server that
/// reads `GET  /` or a tab differently from the proxy in front of it is how request smuggling
/// starts, so we refuse them.
#[inline]
pub(crate) fn parse_request_line_with_spaces(
    buf: &[u8],
    start: usize,
    end: usize,
    sp1: Option<usize>,
    sp2: Option<usize>,
    max_method: usize,
    max_target: usize,
) -> Result<RequestLine, ParseError> {
    let line = &buf[start..end];
    debug_assert_eq!(sp1, line.iter().position(|&b| b == b' '));
    debug_assert_eq!(
        sp2,
        sp1.and_then(|sp1| line[sp1 + 1..]
            .iter()
            .position(|&b| b == b' ')
            .map(|i| sp1 + 1 + i))
    );

    // 1. The method's length, then the target's: the checks made on an incomplete line too.
    //    The target is what lies between the first SP and the next one (or the end).
    if method_too_long(&line[..sp1.unwrap_or(line.len())], max_method) {
        return Err(ParseError::MethodTooLong);
    }
    let Some(sp1) = sp1 else {
        return Err(ParseError::InvalidRequestLine);
    };
    let target_end = sp2.unwrap_or(line.len());
    if target_end - (sp1 + 1) > max_target {
        return Err(ParseError::TargetTooLong);
    }

    // 2. A CR anywhere in the line is a bare CR (the line's own CR was cut off by the caller).
    if find_byte(buf, start, end, b'\r').is_some() {
        return Err(ParseError::BareCr);
    }
    let Some(sp2) = sp2.filter(|&sp2| sp2 > sp1 + 1) else {
        // No second SP, or two SPs in a row (an empty target).
        return Err(ParseError::InvalidRequestLine);
    };

    // 3. Method, then version (a version we cannot speak makes the rest meaningless), then
    //    the target.
    let method = Method::from_token(&line[..sp1]).ok_or(ParseError::InvalidMethod)?;
    let version = parse_version(&line[sp2 + 1..])?;
    let target = &line[sp1 + 1..sp2];
    let parts = parse_target(method, target, start + sp1 + 1)?;
    Ok(RequestLine {
        method,
        method_span: Span::new(start, start + sp1),
        target_span: Span::new(start + sp1 + 1, start + sp2),
        target: parts,
        version,
    })
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

/// The fast path for the line almost every client sends: a standard method (not `CONNECT`),
/// an origin-form target, `HTTP/1.1` or `HTTP/1.0`, CRLF, all present in `window` from
/// `start`. Validates the line in one pass as it goes and returns it with the offset just past
/// its LF. `None` means "not this shape, or not all here yet": the caller then runs the
/// careful path ([`parse_request_line_with_spaces`] after the line-end scan), which decides
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
pub(crate) fn parse_common_request_line(
    window: &[u8],
    start: usize,
    max_target: usize,
) -> Option<(RequestLine, usize)> {
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
    //    two bytes after it (cheaper than comparing ten bytes against each of two literals).
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

/// `HTTP/1.0` or `HTTP/1.1`; any other `HTTP/d.d` is 505; anything else 400.
/// `HTTP` is case-sensitive (RFC 9112 §2.3).
fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    match v {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(ParseError::UnsupportedVersion)
        }
        _ => Err(ParseError::InvalidVersion),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParseError::*;

    fn parse(line: &str) -> Result<RequestLine, ParseError> {
        parse_request_line(line.as_bytes(), 0, line.len(), 16)
    }

    /// Valid lines give the method, target and version, with spans into the line.
    #[test]
    fn accepted_lines() {
        let table: &[(&str, Method, &str, Version, TargetForm)] = &[
            (
                "GET / HTTP/1.1",
                Method::Get,
                "/",
                Version::Http11,
                TargetForm::Origin,
            ),
            (
                "HEAD /x HTTP/1.0",
                Method::Head,
                "/x",
                Version::Http10,
                TargetForm::Origin,
            ),
            (
                "PROPFIND /d HTTP/1.1",
                Method::Extension,
                "/d",
                Version::Http11,
                TargetForm::Origin,
            ),
            (
                "get / HTTP/1.1",
                Method::Extension,
                "/",
                Version::Http11,
                TargetForm::Origin,
            ),
            (
                "OPTIONS * HTTP/1.1",
                Method::Options,
                "*",
                Version::Http11,
                TargetForm::Asterisk,
            ),
            (
                "CONNECT h:1 HTTP/1.1",
                Method::Connect,
                "h:1",
                Version::Http11,
                TargetForm::Authority,
            ),
            (
                "GET http://h/ HTTP/1.1",
                Method::Get,
                "http://h/",
                Version::Http11,
                TargetForm::Absolute,
            ),
            // exactly the method limit (12 in these tests) is accepted
            (
                "ABCDEFGHIJKL / HTTP/1.1",
                Method::Extension,
                "/",
                Version::Http11,
                TargetForm::Origin,
            ),
            // exactly the target limit (16 in these tests) is accepted
            (
                "GET /0123456789abcde HTTP/1.1",
                Method::Get,
                "/0123456789abcde",
                Version::Http11,
                TargetForm::Origin,
            ),
        ];
        for &(line, method, target, version, form) in table {
            let rl = parse(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(rl.method, method, "{line}");
            assert_eq!(
                rl.target_span.of(line.as_bytes()),
                target.as_bytes(),
                "{line}"
            );
            assert_eq!(rl.version, version, "{line}");
            assert_eq!(rl.target.form, form, "{line}");
            assert_eq!(
                rl.method_span.of(line.as_bytes()),
                line.split(' ').next().unwrap().as_bytes()
            );
        }
    }

    /// Each malformed line gets its own error; versions split into 400 and 505.
    #[test]
    fn rejected_lines() {
        let table: &[(&str, ParseError)] = &[
            ("GET", InvalidRequestLine),
            ("GET /", InvalidRequestLine),
            ("GET  / HTTP/1.1", InvalidRequestLine),
            ("GET / HTTP/1.1 ", InvalidVersion),
            // RFC 9112 §3: a method longer than any implemented (12 in these tests) is 501,
            // before the target length or anything else.
            ("ABCDEFGHIJKLM / HTTP/1.1", MethodTooLong),
            ("ABCDEFGHIJKLM /0123456789abcdef HTTP/1.1", MethodTooLong),
            ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", MethodTooLong),
            ("ABCDEFGHIJKLM\r / HTTP/1.1", MethodTooLong),
            // Not a token within its first 13 bytes: a bad method, not a long one.
            ("ABCDEFGHIJK@M / HTTP/1.1", InvalidMethod),
            ("GET /  HTTP/1.1", InvalidVersion),
            (" GET / HTTP/1.1", InvalidMethod),
            ("G@T / HTTP/1.1", InvalidMethod),
            ("GET\t/ HTTP/1.1", InvalidRequestLine),
            ("GE\tT / HTTP/1.1", InvalidMethod),
            ("GET /\tHTTP/1.1", InvalidRequestLine),
            ("GET / http/1.1", InvalidVersion),
            ("GET / HTTP/1", InvalidVersion),
            ("GET / HTTP/1.10", InvalidVersion),
            ("GET / HTTP/x.1", InvalidVersion),
            ("GET / HTTP/2.0", UnsupportedVersion),
            ("GET / HTTP/1.2", UnsupportedVersion),
            ("GET / HTTP/0.9", UnsupportedVersion),
            ("GET / HTTP/1.1\rx", BareCr),
            ("GET /\r HTTP/1.1", BareCr),
            ("GET /0123456789abcdef HTTP/1.1", TargetTooLong),
            ("G@T /0123456789abcdef HTTP/2.0", TargetTooLong),
            ("GET /0123456789abcdef", TargetTooLong),
            ("GET /a b HTTP/1.1", InvalidVersion),
        ];
        for &(line, err) in table {
            assert_eq!(parse(line).map(|_| ()), Err(err), "{line:?}");
        }
    }

    /// What the parser's careful path makes of the line at `buf[start..]`: `None` while its LF
    /// has not arrived, else the line or the error (a bare LF included), and where the next
    /// line starts.
    fn careful(
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
                let fast = parse_common_request_line(&buf, start, 16);
                assert_eq!(fast.is_some(), takes, "{input:?}");
                if let Some(fast) = fast {
                    assert_eq!(careful(&buf, start, 16), Some(Ok(fast)), "{input:?}");
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
            let slow = careful(&buf, start, max_target);
            match parse_common_request_line(&buf, start, max_target) {
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
}

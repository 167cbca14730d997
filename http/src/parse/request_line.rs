//! The request line, `method SP request-target SP HTTP-version` (RFC 9112 §3), parsed once its
//! CRLF has arrived.
//!
//! [`super::RequestParser`] finds the line's end, noting its first two SPs on the way, and
//! calls [`parse_request_line_with_spaces`]; the target itself is left to [`super::target`].
//! (The one-pass shape most clients send is tried first, in `fast.rs`, which only ever returns
//! what this file would.)
//!
//! Invariants: the checks run in a fixed order, and the first two, the method length and the
//! target length, are the same checks the parser makes on a still-incomplete line
//! ([`method_too_long`] is shared by both). So a line that arrives a byte at a time is
//! rejected with the same error as the same line arriving whole.

use super::chars::is_token;
use super::scan::find_byte;
use super::target::{parse_target, Target};
use super::types::{Method, Span, Version};
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
    use super::super::types::TargetForm;
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
}

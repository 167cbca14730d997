//! Header field lines (RFC 9112 §5) and the facts the server derives from them: the `Host`,
//! the body framing (`Content-Length`, `Transfer-Encoding`), keep-alive (`Connection`) and
//! `Expect: 100-continue`.
//!
//! The grammar, one function per rule: [`parse_field_line`] splits a complete line into name
//! and value; [`Facts::observe`] hands each field that matters to its rule (`observe_host`,
//! `observe_content_length`, ...); at the blank line [`Facts::finish`] gives the verdict. The
//! parser (`mod.rs`) calls them in that order; the one-pass shapes it tries first are in
//! `fast.rs`, which only ever returns what these functions would.
//!
//! Invariants: a field line is judged alone, when its LF has arrived; [`Facts`] holds only
//! what later lines or the version can still change (and, kept across heads, the last valid
//! `Host` value), so the whole head is never rescanned.
//! The framing rules are the ones RFC 9112 §6 lists to stop request smuggling: when two
//! readings of the body length are possible, the request is refused, never guessed.

use super::chars::{is_field_byte, is_ows, is_tchar, is_token, trim_ows, trim_ows_range};
use super::fast::RecentHost;
use super::target::valid_authority;
use super::types::{BodyFraming, FieldSpan, Span, Version};
use crate::error::ParseError;
use crate::limits::Limits;

/// `field-line = field-name ":" OWS field-value OWS` (RFC 9112 §5): parse the line
/// `buf[start..end]` (without its CRLF) into name and trimmed value.
pub(crate) fn parse_field_line(
    buf: &[u8],
    start: usize,
    end: usize,
) -> Result<FieldSpan, ParseError> {
    let line = &buf[start..end];
    let name_len = field_name(line)?;

    // 3. The value: VCHAR, obs-text, SP and HTAB only (`split_field` trims its OWS).
    if let Some(&bad) = line[name_len + 1..].iter().find(|&&b| !is_field_byte(b)) {
        return Err(if bad == b'\r' {
            ParseError::BareCr
        } else {
            ParseError::InvalidFieldValue
        });
    }
    Ok(split_field(line, start, name_len))
}

/// Steps 1 and 2 of a field line: the length of its name, which a `:` follows.
#[inline]
fn field_name(line: &[u8]) -> Result<usize, ParseError> {
    // 1. A line that starts with whitespace continues the previous one (obs-fold) or, right
    //    after the request line, hides a field from some parsers. RFC 9112 §5.2 and §2.2 let
    //    a server reject both with 400; we do.
    if line.first().copied().is_some_and(is_ows) {
        return Err(ParseError::ObsFold);
    }

    // 2. The name is a token ending at the colon. Whitespace before the colon MUST be
    //    rejected (RFC 9112 §5.1): `Transfer-Encoding : chunked` is ignored by some parsers
    //    and honoured by others.
    let name_len = line
        .iter()
        .position(|&b| !is_tchar(b))
        .unwrap_or(line.len());
    match line.get(name_len) {
        Some(b':') if name_len > 0 => Ok(name_len),
        Some(b' ' | b'\t') if name_len > 0 => {
            let after_ws = line[name_len..].iter().find(|&&b| !is_ows(b));
            Err(if after_ws == Some(&b':') {
                ParseError::WhitespaceBeforeColon
            } else {
                ParseError::InvalidFieldName
            })
        }
        Some(b'\r') => Err(ParseError::BareCr),
        _ => Err(ParseError::InvalidFieldName),
    }
}

/// The spans of a field line at offset `start` whose name is `name_len` bytes long, with the
/// value trimmed of OWS.
fn split_field(line: &[u8], start: usize, name_len: usize) -> FieldSpan {
    let value_start = name_len + 1;
    let (v_start, v_end) = trim_ows_range(&line[value_start..]);
    FieldSpan {
        name: Span::new(start, start + name_len),
        value: Span::new(start + value_start + v_start, start + value_start + v_end),
    }
}

/// Are the field bytes `bytes` (a name, a value or a piece of one) the word `known`
/// (lowercase letters, digits and `-`), ignoring case?
///
/// One OR per byte folds the case (rather than `eq_ignore_ascii_case`'s range test; measured:
/// docs/benchmarks.md, "Why the hot paths look the way they do"). Setting bit 0x20 maps `A..=Z` onto `a..=z` and leaves `a..=z`, digits and `-`
/// as they are; the only other bytes it maps onto one of those are controls (0x0D becomes
/// `-`, 0x10..=0x19 become digits), and field bytes hold no control but HTAB (which becomes
/// `)`), so for field bytes the answer is exact.
#[inline]
fn is_word_ignoring_case(bytes: &[u8], known: &[u8]) -> bool {
    debug_assert!(bytes.iter().all(|&b| is_field_byte(b)));
    debug_assert!(known
        .iter()
        .all(|&k| k.is_ascii_lowercase() || k.is_ascii_digit() || k == b'-'));
    bytes.len() == known.len()
        && bytes
            .iter()
            .zip(known)
            .fold(0, |diff, (&b, &k)| diff | ((b | 0x20) ^ k))
            == 0
}

/// The fields that decide framing, so far. Updated per field line; judged at the blank line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    /// The value of the one `Host` field line. INVARIANT: a second `Host` line is an error.
    pub(crate) host: Option<Span>,
    /// The `Content-Length`. INVARIANT: every `Content-Length` value seen equals it.
    content_length: Option<u64>,
    /// Whether any `Transfer-Encoding` field was seen.
    te_present: bool,
    /// How many times `chunked` appears in the combined `Transfer-Encoding` list.
    te_chunked: u32,
    /// Whether the last coding seen so far is `chunked`.
    te_last_chunked: bool,
    /// Whether a coding other than `chunked` appears.
    te_other: bool,
    /// `Connection` lists `close`.
    close: bool,
    /// `Connection` lists `keep-alive`.
    keep_alive: bool,
    /// `Expect` lists `100-continue`.
    expect_continue: bool,
    /// `Expect` lists a member other than `100-continue` (answered 417).
    expect_other: bool,
    /// Whether a field that [`Facts::finish`] must weigh (`Content-Length`,
    /// `Transfer-Encoding`, `Connection`, `Expect`) was seen at all. Nearly every `GET` has
    /// none, and then the verdict and the reset for the next head need not look at the
    /// fields above. INVARIANT: while false, every field above has its default value.
    framing_seen: bool,
    /// The last valid `Host` value, kept from one head to the next (see
    /// [`Facts::start_next_head`]): unlike the rest, it is not a fact about this head. A value
    /// found valid before needs no second run of the `Host` grammar, and the fast path takes a
    /// `Host` line holding it whole (`fast.rs`).
    pub(crate) recent_host: RecentHost,
}

/// What [`Facts::finish`] concludes about a complete head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Derived {
    /// How the body is delimited.
    pub(crate) framing: BodyFraming,
    /// Whether the connection may serve another request.
    pub(crate) keep_alive: bool,
    /// Whether the client waits for `100 Continue`.
    pub(crate) expect_continue: bool,
}

impl Facts {
    /// Forget this head's facts, for the next head on the connection; keep the remembered
    /// `Host` value.
    #[inline]
    pub(crate) fn start_next_head(&mut self) {
        // A head without framing fields changed nothing but `host` (see `framing_seen`).
        self.host = None;
        if self.framing_seen {
            *self = Facts {
                recent_host: self.recent_host,
                ..Facts::default()
            };
        }
    }

    /// Take note of one field line of `buf`.
    #[inline]
    pub(crate) fn observe(&mut self, buf: &[u8], field: FieldSpan) -> Result<(), ParseError> {
        let name = field.name.of(buf);
        let value = field.value.of(buf);
        // The five names that matter have five different lengths, so the length picks the
        // one candidate and most other fields are dismissed without comparing a byte.
        let is = |known: &[u8]| is_word_ignoring_case(name, known);
        match name.len() {
            4 if is(b"host") => self.observe_host(value, field.value),
            14 if is(b"content-length") => self.observe_content_length(value),
            17 if is(b"transfer-encoding") => self.observe_transfer_encoding(value),
            10 if is(b"connection") => self.observe_connection(value),
            6 if is(b"expect") => {
                self.observe_expect(value);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Take note of a `Host` line the fast path took as the remembered value
    /// (`fast::Line::KnownHost`), exactly as [`Facts::observe`] would: the head's `Host`
    /// value is its value.
    #[inline]
    pub(crate) fn observe_recent_host(&mut self, field: FieldSpan) {
        debug_assert!(self.host.is_none());
        self.host = Some(field.value);
    }

    /// RFC 9110 §10.1.1: we act on `100-continue`; any other member (an expectation we cannot
    /// meet, or a malformed one, `100-continue` with parameters included) is noted, and the
    /// head answered 417 at its end.
    fn observe_expect(&mut self, value: &[u8]) {
        self.framing_seen = true;
        for member in list(value) {
            if is_word_ignoring_case(member, b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        }
    }

    /// RFC 9110 §7.2 / RFC 9112 §3.2: one `Host`, and a valid one. An empty `Host` is refused
    /// too: it is only meant for URIs without an authority, and `http` URIs always have one.
    #[inline]
    fn observe_host(&mut self, value: &[u8], span: Span) -> Result<(), ParseError> {
        if self.host.is_some() {
            return Err(ParseError::MultipleHost);
        }
        // Validity depends on the bytes alone: a value found valid before needs no second
        // check, and a new valid one is remembered for the connection's next head.
        if !self.recent_host.holds(value) {
            if !valid_authority(value, false) {
                return Err(ParseError::InvalidHost);
            }
            self.recent_host.remember(value);
        }
        self.host = Some(span);
        Ok(())
    }

    /// RFC 9110 §8.6: `1*DIGIT`. A list of identical values (`5, 5`, or two lines saying 5)
    /// is accepted as that value, which the RFC allows; any difference is a conflict.
    fn observe_content_length(&mut self, value: &[u8]) -> Result<(), ParseError> {
        self.framing_seen = true;
        for element in value.split(|&b| b == b',') {
            let n = parse_decimal(trim_ows(element)).ok_or(ParseError::InvalidContentLength)?;
            match self.content_length {
                Some(prev) if prev != n => return Err(ParseError::ConflictingContentLength),
                _ => self.content_length = Some(n),
            }
        }
        Ok(())
    }

    /// RFC 9112 §6.1: a list of codings, combined across lines in order. Empty elements are
    /// refused (RFC 9110 §5.6.1 would skip them, but for the header that decides framing we
    /// take no reading another parser might not share); so are parameters on `chunked`.
    fn observe_transfer_encoding(&mut self, value: &[u8]) -> Result<(), ParseError> {
        self.framing_seen = true;
        self.te_present = true;
        for element in value.split(|&b| b == b',') {
            let element = trim_ows(element);
            let name_len = element
                .iter()
                .position(|&b| b == b';')
                .unwrap_or(element.len());
            let name = trim_ows(&element[..name_len]);
            if !is_token(name) {
                return Err(ParseError::InvalidTransferEncoding);
            }
            if is_word_ignoring_case(name, b"chunked") {
                if name_len != element.len() {
                    return Err(ParseError::InvalidTransferEncoding);
                }
                self.te_chunked += 1;
                self.te_last_chunked = true;
            } else {
                self.te_other = true;
                self.te_last_chunked = false;
            }
        }
        Ok(())
    }

    /// RFC 9110 §7.6.1: a list of tokens; we care about `close` and `keep-alive`.
    fn observe_connection(&mut self, value: &[u8]) -> Result<(), ParseError> {
        self.framing_seen = true;
        // The values nearly every client sends, a lone `keep-alive` or `close`, are lists of
        // one token: they need no list parsing to say what the loop below would say.
        if is_word_ignoring_case(value, b"keep-alive") {
            self.keep_alive = true;
            return Ok(());
        }
        if is_word_ignoring_case(value, b"close") {
            self.close = true;
            return Ok(());
        }
        for option in list(value) {
            if !is_token(option) {
                return Err(ParseError::InvalidConnection);
            }
            self.close |= is_word_ignoring_case(option, b"close");
            self.keep_alive |= is_word_ignoring_case(option, b"keep-alive");
        }
        Ok(())
    }

    /// Judge the complete head (RFC 9112 §3.2, §6.3, §9.3; RFC 9110 §10.1.1): the rules that
    /// need every field, or the version.
    #[inline]
    pub(crate) fn finish(&self, version: Version, limits: &Limits) -> Result<Derived, ParseError> {
        // 1. HTTP/1.1 requires Host (RFC 9112 §3.2).
        if version == Version::Http11 && self.host.is_none() {
            return Err(ParseError::MissingHost);
        }
        // A head with no framing field (nearly every `GET`): every fact the rules below weigh
        // has its default value (the INVARIANT of `framing_seen`), and they conclude this.
        if !self.framing_seen {
            return Ok(Derived {
                framing: BodyFraming::None,
                keep_alive: version == Version::Http11,
                expect_continue: false,
            });
        }
        // 2. Framing (RFC 9112 §6.1, §6.3). Transfer-Encoding wins over Content-Length in the
        //    RFC, but a request with both is exactly what smuggling attacks send, so it is
        //    refused. HTTP/1.0 predates Transfer-Encoding: an HTTP/1.0 message carrying it
        //    "MUST be treated as if the framing is faulty", so it is refused as well.
        let framing = if self.te_present {
            if version == Version::Http10 {
                return Err(ParseError::TransferEncodingInHttp10);
            }
            if self.content_length.is_some() {
                return Err(ParseError::ContentLengthWithTransferEncoding);
            }
            if !self.te_last_chunked {
                return Err(ParseError::ChunkedNotFinal);
            }
            if self.te_chunked > 1 {
                return Err(ParseError::ChunkedRepeated);
            }
            if self.te_other {
                // `gzip, chunked` is well framed, but we decode no coding except chunked.
                return Err(ParseError::UnsupportedTransferCoding);
            }
            BodyFraming::Chunked
        } else if let Some(n) = self.content_length {
            if n > limits.max_body_bytes {
                return Err(ParseError::BodyTooLarge);
            }
            BodyFraming::Length(n)
        } else {
            BodyFraming::None
        };
        // 3. Expect (RFC 9110 §10.1.1): an expectation other than `100-continue` cannot be met,
        //    so 417, in either version (a 1.0 `100-continue` is ignored, below).
        if self.expect_other {
            return Err(ParseError::UnsupportedExpectation);
        }
        // 4. Persistence (RFC 9112 §9.3) and `100-continue` (ignored for 1.0).
        let keep_alive = match version {
            Version::Http11 => !self.close,
            Version::Http10 => self.keep_alive && !self.close,
        };
        Ok(Derived {
            framing,
            keep_alive,
            expect_continue: version == Version::Http11 && self.expect_continue,
        })
    }
}

/// The non-empty, OWS-trimmed elements of a comma list (RFC 9110 §5.6.1).
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

/// A non-empty string of ASCII digits as `u64`; `None` on anything else or on overflow.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParseError::*;

    /// Names are split at the colon and values trimmed; malformed lines get precise errors.
    #[test]
    fn field_lines() {
        type Row = (
            &'static str,
            Result<(&'static str, &'static str), ParseError>,
        );
        let table: &[Row] = &[
            ("Host: a", Ok(("Host", "a"))),
            ("Host:a", Ok(("Host", "a"))),
            ("X:  \t a b \t ", Ok(("X", "a b"))),
            ("X:", Ok(("X", ""))),
            ("X: \t ", Ok(("X", ""))),
            ("X: a\tb", Ok(("X", "a\tb"))),
            ("X: caf\u{e9}", Ok(("X", "caf\u{e9}"))),
            ("!#$%&'*+-.^_`|~09az: v", Ok(("!#$%&'*+-.^_`|~09az", "v"))),
            ("X: a:b:c", Ok(("X", "a:b:c"))),
            (" X: a", Err(ObsFold)),
            ("\tX: a", Err(ObsFold)),
            ("X : a", Err(WhitespaceBeforeColon)),
            ("X\t: a", Err(WhitespaceBeforeColon)),
            ("X a: b", Err(InvalidFieldName)),
            (": a", Err(InvalidFieldName)),
            ("X", Err(InvalidFieldName)),
            ("X(y): a", Err(InvalidFieldName)),
            ("X\0: a", Err(InvalidFieldName)),
            ("X\r: a", Err(BareCr)),
            ("X: a\rb", Err(BareCr)),
            ("X: a\0b", Err(InvalidFieldValue)),
            ("X: a\x01", Err(InvalidFieldValue)),
            ("X: a\x7f", Err(InvalidFieldValue)),
            ("X: a\x1bb", Err(InvalidFieldValue)),
        ];
        for (line, expected) in table {
            let got = parse_field_line(line.as_bytes(), 0, line.len()).map(|f| {
                let text = |s: Span| std::str::from_utf8(s.of(line.as_bytes())).unwrap();
                (text(f.name), text(f.value))
            });
            assert_eq!(&got, expected, "{line:?}");
        }
    }

    /// Content-Length: digits only, no overflow, identical repeats accepted.
    #[test]
    fn content_length_values() {
        type Row = (&'static [&'static str], Result<Option<u64>, ParseError>);
        let table: &[Row] = &[
            (&["0"], Ok(Some(0))),
            (&["007"], Ok(Some(7))),
            (&["5, 5"], Ok(Some(5))),
            (&["5", "5"], Ok(Some(5))),
            (&["5", "05"], Ok(Some(5))),
            (&["18446744073709551615"], Ok(Some(u64::MAX))),
            (&["18446744073709551616"], Err(InvalidContentLength)),
            (&["99999999999999999999999"], Err(InvalidContentLength)),
            (&[""], Err(InvalidContentLength)),
            (&["+5"], Err(InvalidContentLength)),
            (&["-5"], Err(InvalidContentLength)),
            (&["5a"], Err(InvalidContentLength)),
            (&["0x5"], Err(InvalidContentLength)),
            (&["5 5"], Err(InvalidContentLength)),
            (&["5,"], Err(InvalidContentLength)),
            (&["5,,5"], Err(InvalidContentLength)),
            (&["1.5"], Err(InvalidContentLength)),
            (&["5, 6"], Err(ConflictingContentLength)),
            (&["5", "6"], Err(ConflictingContentLength)),
        ];
        for (values, expected) in table {
            let mut facts = Facts::default();
            let got = values
                .iter()
                .try_for_each(|v| facts.observe_content_length(v.as_bytes()))
                .map(|()| facts.content_length);
            assert_eq!(&got, expected, "{values:?}");
        }
    }

    /// Transfer-Encoding lists: syntax errors at once, framing verdicts at the end.
    #[test]
    fn transfer_encoding_values() {
        let limits = Limits::default();
        let table: &[(&[&str], Result<BodyFraming, ParseError>)] = &[
            (&["chunked"], Ok(BodyFraming::Chunked)),
            (&["CHUNKED"], Ok(BodyFraming::Chunked)),
            (&[" chunked "], Ok(BodyFraming::Chunked)),
            (&["gzip, chunked"], Err(UnsupportedTransferCoding)),
            (&["gzip", "chunked"], Err(UnsupportedTransferCoding)),
            (&["gzip;level=1, chunked"], Err(UnsupportedTransferCoding)),
            (&["chunked", "gzip"], Err(ChunkedNotFinal)),
            (&["chunked, identity"], Err(ChunkedNotFinal)),
            (&["gzip"], Err(ChunkedNotFinal)),
            (&["chunked, chunked"], Err(ChunkedRepeated)),
            (&["chunked", "chunked"], Err(ChunkedRepeated)),
            (&[""], Err(InvalidTransferEncoding)),
            (&[", chunked"], Err(InvalidTransferEncoding)),
            (&["chunked,"], Err(InvalidTransferEncoding)),
            (&["chunked;x=1"], Err(InvalidTransferEncoding)),
            (&["chu nked"], Err(InvalidTransferEncoding)),
            (&["\"chunked\""], Err(InvalidTransferEncoding)),
        ];
        for (values, expected) in table {
            let mut facts = Facts {
                host: Some(Span::new(0, 0)),
                ..Facts::default()
            };
            let got = values
                .iter()
                .try_for_each(|v| facts.observe_transfer_encoding(v.as_bytes()))
                .and_then(|()| facts.finish(Version::Http11, &limits))
                .map(|d| d.framing);
            assert_eq!(&got, expected, "{values:?}");
        }
    }

    /// Feed whole field lines (without CRLF) through `parse_field_line` and `observe`.
    fn observe_lines(lines: &[&str]) -> Result<Facts, ParseError> {
        let mut facts = Facts::default();
        for line in lines {
            let field = parse_field_line(line.as_bytes(), 0, line.len())?;
            facts.observe(line.as_bytes(), field)?;
        }
        Ok(facts)
    }

    /// Keep-alive follows the version default and the Connection tokens; Expect only on 1.1.
    #[test]
    fn persistence_and_expect() {
        let limits = Limits::default();
        // (version, field lines, keep_alive, expect_continue)
        let table: &[(Version, &[&str], bool, bool)] = &[
            (Version::Http11, &[], true, false),
            (Version::Http11, &["Connection: close"], false, false),
            (
                Version::Http11,
                &["connection: Keep-Alive, CLOSE"],
                false,
                false,
            ),
            (
                Version::Http11,
                &["Connection: upgrade", "Connection: close"],
                false,
                false,
            ),
            (
                Version::Http11,
                &["Connection: , ,keep-alive,", "Expect: 100-Continue"],
                true,
                true,
            ),
            (Version::Http11, &["EXPECT: 100-continue, ,"], true, true),
            (Version::Http11, &["Expect:"], true, false),
            (Version::Http10, &["Expect: 100-continue"], false, false),
            (Version::Http10, &["Connection: keep-alive"], true, false),
            (Version::Http10, &["Connection: Keep-Alive"], true, false),
            (
                Version::Http10,
                &["Connection: keep-alive, close"],
                false,
                false,
            ),
            (Version::Http10, &["Connection: te"], false, false),
            // single options (no list parsing), and the same words inside longer values
            (Version::Http11, &["Connection: CLOSE"], false, false),
            (Version::Http11, &["Connection: keep-alive"], true, false),
            (Version::Http10, &["Connection: KEEP-ALIVE"], true, false),
            (Version::Http10, &["Connection: keep-alive-x"], false, false),
            (Version::Http11, &["Connection: closed"], true, false),
            (Version::Http11, &["Connection: close,"], false, false),
        ];
        for &(version, lines, keep_alive, cont) in table {
            let mut with_host = vec!["Host: h"];
            with_host.extend_from_slice(lines);
            let d = observe_lines(&with_host)
                .unwrap()
                .finish(version, &limits)
                .unwrap();
            assert_eq!(
                (d.keep_alive, d.expect_continue),
                (keep_alive, cont),
                "{version:?} {lines:?}"
            );
        }
    }

    /// RFC 9110 §10.1.1: an `Expect` member other than `100-continue` is 417, in either
    /// version, whatever else the list holds.
    #[test]
    fn other_expectations_are_417() {
        let limits = Limits::default();
        for lines in [
            &["Expect: foo"][..],
            &["EXPECT: foo, 100-continue"],
            &["Expect: 100-continued"],
            &["Expect: 100-continue;x=1"],
            &["Expect: 100-continue", "Expect: 200-ok"],
        ] {
            for version in [Version::Http10, Version::Http11] {
                let mut with_host = vec!["Host: h"];
                with_host.extend_from_slice(lines);
                let got = observe_lines(&with_host).unwrap().finish(version, &limits);
                assert_eq!(
                    got,
                    Err(ParseError::UnsupportedExpectation),
                    "{lines:?} {version:?}"
                );
                assert_eq!(ParseError::UnsupportedExpectation.status(), 417);
            }
        }
    }

    /// Host: exactly one, and valid; missing only allowed for HTTP/1.0.
    #[test]
    fn host_rules() {
        let limits = Limits::default();
        let table: &[(Version, &[&str], Option<ParseError>)] = &[
            (Version::Http11, &["Host: h"], None),
            (Version::Http11, &[], Some(MissingHost)),
            (Version::Http10, &[], None),
            (Version::Http11, &["Host: a", "host: a"], Some(MultipleHost)),
            (Version::Http10, &["Host: a", "Host: b"], Some(MultipleHost)),
            (Version::Http11, &["Host:"], Some(InvalidHost)),
            (Version::Http11, &["Host: a b"], Some(InvalidHost)),
            (Version::Http11, &["Host: a, b"], Some(InvalidHost)),
            (Version::Http11, &["Host: user@a"], Some(InvalidHost)),
            (Version::Http10, &["Host: a/b"], Some(InvalidHost)),
        ];
        for &(version, lines, err) in table {
            let got = observe_lines(lines)
                .and_then(|f| f.finish(version, &limits))
                .err();
            assert_eq!(got, err, "{version:?} {lines:?}");
        }
    }

    /// The case-blind word test agrees with `eq_ignore_ascii_case` on field bytes: for every
    /// string that differs from a word the parser looks for in one byte (every field byte at
    /// every position, so every case, HTAB, SP and obs-text), compared with every such word,
    /// and for the words themselves in upper case, shortened and lengthened.
    #[test]
    fn word_test_matches_eq_ignore_ascii_case() {
        let known: [&[u8]; 9] = [
            b"host",
            b"expect",
            b"connection",
            b"content-length",
            b"transfer-encoding",
            b"chunked",
            b"close",
            b"keep-alive",
            b"100-continue",
        ];
        let (mut equal, mut compared) = (0, 0);
        for word in known {
            for b in (0..=255u8).filter(|&b| is_field_byte(b)) {
                for at in 0..word.len() {
                    let mut candidate = word.to_vec();
                    candidate[at] = b;
                    for other in known {
                        let expect = candidate.eq_ignore_ascii_case(other);
                        let got = is_word_ignoring_case(&candidate, other);
                        assert_eq!(got, expect, "{candidate:?} {other:?}");
                        equal += usize::from(expect);
                        compared += 1;
                    }
                }
            }
            let upper = word.to_ascii_uppercase();
            assert!(is_word_ignoring_case(&upper, word) && is_word_ignoring_case(word, word));
            let longer = [word, b"x"].concat();
            assert!(!is_word_ignoring_case(&word[1..], word));
            assert!(!is_word_ignoring_case(&longer, word));
        }
        assert!(equal > 100 && compared > 100_000, "{equal} of {compared}");
    }

    /// Connection values must be token lists.
    #[test]
    fn connection_syntax() {
        for bad in ["clo se", "close;x", "\"close\"", "a/b"] {
            let mut facts = Facts::default();
            assert_eq!(
                facts.observe_connection(bad.as_bytes()),
                Err(InvalidConnection),
                "{bad}"
            );
        }
    }

    /// The short verdict for heads without framing fields agrees with the full rules, and the
    /// short reset leaves the same facts as the full one, on 20,000 heads of up to five field
    /// lines drawn from `Host`, framing fields with good and bad values, and other fields, by
    /// a seeded xorshift (so every run checks the same heads), for both versions.
    #[test]
    fn fast_verdict_agrees_with_full_rules() {
        let lines: &[&str] = &[
            "Host: example.com",
            "host: 127.0.0.1:8080",
            "Host: a b",
            "Accept: */*",
            "User-Agent: x",
            "X-Content-Length: 5",
            "Content-Length: 5",
            "Content-Length: 99999999999",
            "Content-Length: x",
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: gzip",
            "Connection: close",
            "Connection: keep-alive",
            "Connection: upgrade",
            "Expect: 100-continue",
            "Expect: nothing",
        ];
        let limits = Limits {
            max_body_bytes: 1000,
            ..Limits::default()
        };
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut fast, mut full) = (0, 0);
        for _ in 0..20_000 {
            let count = next() % 6;
            let mut facts = Facts::default();
            // Some heads start with a `Host` remembered from an earlier head.
            if next() % 2 == 0 {
                facts.recent_host.remember(b"example.com");
            }
            let remembered = facts.recent_host;
            let mut observed = Ok(());
            for _ in 0..count {
                let line = lines[(next() % lines.len() as u64) as usize];
                observed = observed.and_then(|()| {
                    let field = parse_field_line(line.as_bytes(), 0, line.len())?;
                    facts.observe(line.as_bytes(), field)
                });
            }
            if observed.is_err() {
                continue;
            }
            if facts.framing_seen {
                full += 1;
            } else {
                fast += 1;
            }
            // The same facts with every rule weighed: `framing_seen` set skips no rule.
            let weighed = Facts {
                framing_seen: true,
                ..facts.clone()
            };
            for version in [Version::Http10, Version::Http11] {
                assert_eq!(
                    facts.finish(version, &limits),
                    weighed.finish(version, &limits),
                    "{facts:?} {version:?}"
                );
            }
            let mut reset = facts.clone();
            reset.start_next_head();
            let expected = Facts {
                recent_host: facts.recent_host,
                ..Facts::default()
            };
            assert_eq!(reset, expected, "{facts:?}");
            assert!(facts.recent_host == remembered || facts.host.is_some());
        }
        assert!(fast > 2_000 && full > 2_000, "{fast} fast, {full} full");
    }
}

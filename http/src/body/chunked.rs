//! The chunked transfer coding decoder (RFC 9112 §7.1): a push-style state machine that turns
//! `size CRLF data CRLF ... 0 CRLF trailers CRLF` into body data ranges.
//!
//! Made by [`super::BodyDecoder`] for [`crate::parse::BodyFraming::Chunked`]. The caller pushes
//! whatever bytes it has; framing bytes are consumed one at a time into the state, data comes
//! back as ranges of the caller's input ([`super::Progress`]). Nothing is buffered here, so
//! the decoder costs a few words per connection however the bytes are split.
//!
//! Grammar accepted, strictly:
//! - chunk size: one or more hex digits (no `0x`, no sign, no space before them); a size that
//!   does not fit in 64 bits is a malformed message (400), decided at the digit that overflows;
//!   leading zeros are fine;
//! - then optionally chunk extensions, checked against their grammar (RFC 9112 §7.1.1) and
//!   otherwise ignored: `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`,
//!   where a name is a token and BWS is SP / HTAB; a bare `;`, a `=` without a value, a byte
//!   outside the grammar, or whitespace before the CR is a 400. The size line as a whole is
//!   bounded by [`Limits::max_chunk_line_bytes`];
//! - CRLF, `size` data bytes, then exactly CRLF;
//! - after the `0` chunk: trailer fields `name: value CRLF`, skipped, bounded by
//!   [`Limits::max_trailer_bytes`], then the final CRLF.
//!
//! Invariants: the sum of announced chunk sizes never exceeds the body limit: the decoder
//! answers 413 as soon as the size's digits end (the byte after the last digit), before any of
//! that chunk's data is read. It waits for the end of the digits, rather than stopping at the
//! first digit that passes the limit, so that a size over 64 bits is told apart (400) from
//! one merely over the limit (413) however the bytes are split; the size line's own limit
//! bounds that wait. After an error it stays failed; after `done` it consumes nothing.

use super::Progress;
use crate::error::ParseError;
use crate::limits::Limits;
use crate::parse::{is_field_byte, is_tchar};

/// Where the decoder is in the chunked grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a size line: a hex digit must come.
    SizeStart,
    /// Inside the hex digits of a size; the value so far (it may pass the body limit, which is
    /// checked when the digits end).
    Size(u64),
    /// Whitespace after the digits: only `;` (an extension) may follow.
    SizeSpace(u64),
    /// Right after an extension's `;`, or whitespace after it: a name must come.
    ExtSemi(u64),
    /// Inside an extension name (a token).
    ExtName(u64),
    /// Whitespace after an extension name: `=` or the next `;` must come.
    ExtNameSpace(u64),
    /// After `=` (and any whitespace): a token or a quoted string must come.
    ExtEq(u64),
    /// Inside a token value.
    ExtToken(u64),
    /// Inside a quoted-string value.
    ExtQuoted(u64),
    /// After a `\` inside a quoted string: one escaped byte must come.
    ExtEscape(u64),
    /// Right after a quoted string's closing quote.
    ExtValueEnd(u64),
    /// Whitespace after a value: only the next `;` may come.
    ExtValueSpace(u64),
    /// After the size line's CR: LF must come.
    SizeLf(u64),
    /// Inside a chunk's data; the bytes still to come (never 0).
    Data(u64),
    /// After a chunk's data: CR must come.
    DataCr,
    /// After a chunk's data and CR: LF must come.
    DataLf,
    /// At the start of a trailer line, or of the final CRLF.
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// After a trailer line's CR: LF must come.
    TrailerLf,
    /// After the final CR: LF must come.
    EndLf,
    /// The body is complete.
    Done,
    /// An error was returned; it is returned again.
    Failed(ParseError),
}

/// Decodes a chunked body pushed in pieces of any size.
///
/// ```
/// use spindle_http::body::ChunkedDecoder;
///
/// let mut decoder = ChunkedDecoder::new(1024);
/// let input = b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\nNEXT";
/// let p = decoder.decode(input).unwrap();
/// assert_eq!(&input[p.data.clone().unwrap()], b"hello");
/// let p2 = decoder.decode(&input[p.consumed..]).unwrap();
/// assert!(p2.done);
/// assert_eq!(&input[p.consumed + p2.consumed..], b"NEXT");
/// ```
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    /// Where we are in the grammar.
    state: State,
    /// The sum of all chunk sizes announced so far.
    /// INVARIANT: `announced <= max_body` (plus the size being read, checked per digit).
    announced: u64,
    /// The body limit; more is 413.
    max_body: u64,
    /// The size-line limit (digits, whitespace, extensions); more is 400.
    max_line: usize,
    /// The trailer-section limit; more is 431.
    max_trailers: usize,
    /// Bytes of the current size line so far (without CRLF).
    line_len: usize,
    /// Bytes of the trailer section so far (lines with their CRLFs).
    trailer_len: usize,
}

impl ChunkedDecoder {
    /// A decoder with a body limit of `max_body` bytes and the default line and trailer limits.
    pub fn new(max_body: u64) -> ChunkedDecoder {
        ChunkedDecoder::with_limits(&Limits {
            max_body_bytes: max_body,
            ..Limits::default()
        })
    }

    /// A decoder enforcing the body, chunk-line and trailer limits of `limits`.
    ///
    /// ```
    /// use spindle_http::{body::ChunkedDecoder, Limits, ParseError};
    /// let mut d = ChunkedDecoder::with_limits(&Limits { max_body_bytes: 4, ..Limits::default() });
    /// assert_eq!(d.decode(b"5\r\n"), Err(ParseError::BodyTooLarge));
    /// ```
    pub fn with_limits(limits: &Limits) -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::SizeStart,
            announced: 0,
            max_body: limits.max_body_bytes,
            max_line: limits.max_chunk_line_bytes,
            max_trailers: limits.max_trailer_bytes,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Whether the last chunk and the trailers have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Push `input`: consume framing bytes until data, the end of the body, or the end of the
    /// input; see [`Progress`]. Errors are final: the connection must close.
    pub fn decode(&mut self, input: &[u8]) -> Result<Progress, ParseError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Failed(e) => return Err(e),
                State::Done => {
                    return Ok(Progress {
                        consumed: pos,
                        data: None,
                        done: true,
                    })
                }
                State::Data(remaining) => {
                    let available = input.len() - pos;
                    if available == 0 {
                        return Ok(Progress {
                            consumed: pos,
                            data: None,
                            done: false,
                        });
                    }
                    // min() keeps n <= available, so the cast cannot truncate.
                    let n = remaining.min(available as u64) as usize;
                    self.state = if n as u64 == remaining {
                        State::DataCr
                    } else {
                        State::Data(remaining - n as u64)
                    };
                    return Ok(Progress {
                        consumed: pos + n,
                        data: Some(pos..pos + n),
                        done: false,
                    });
                }
                _ => {
                    let Some(&byte) = input.get(pos) else {
                        return Ok(Progress {
                            consumed: pos,
                            data: None,
                            done: false,
                        });
                    };
                    pos += 1;
                    if let Err(e) = self.step(byte) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Advance over one framing byte.
    fn step(&mut self, b: u8) -> Result<(), ParseError> {
        use State::*;
        self.state = match self.state {
            SizeStart => {
                self.count_line_byte(b)?;
                match hex_value(b) {
                    Some(d) => self.size_digit(0, d)?,
                    None => return Err(ParseError::InvalidChunkSize),
                }
            }
            Size(n) => {
                self.count_line_byte(b)?;
                if let Some(d) = hex_value(b) {
                    self.size_digit(n, d)?
                } else {
                    // The digits end here: now the size is known, check it against the limit.
                    self.check_size(n)?;
                    match b {
                        b';' => ExtSemi(n),
                        b' ' | b'\t' => SizeSpace(n),
                        b'\r' => SizeLf(n),
                        _ => return Err(ParseError::InvalidChunkSize),
                    }
                }
            }
            SizeSpace(n) => {
                self.count_line_byte(b)?;
                match b {
                    b' ' | b'\t' => SizeSpace(n),
                    b';' => ExtSemi(n),
                    _ => return Err(ParseError::InvalidChunkSize),
                }
            }
            ExtSemi(n) | ExtName(n) | ExtNameSpace(n) | ExtEq(n) | ExtToken(n) | ExtQuoted(n)
            | ExtEscape(n) | ExtValueEnd(n) | ExtValueSpace(n) => {
                self.count_line_byte(b)?;
                self.extension_byte(b, n)?
            }
            SizeLf(n) => {
                if b != b'\n' {
                    return Err(ParseError::BareCr);
                }
                self.line_len = 0;
                // check_size already made sure that this chunk fits under the limit.
                self.announced += n;
                if n == 0 {
                    TrailerStart
                } else {
                    Data(n)
                }
            }
            DataCr if b == b'\r' => DataLf,
            DataLf if b == b'\n' => SizeStart,
            DataCr | DataLf => return Err(ParseError::MissingChunkCrlf),
            TrailerStart => match b {
                b'\r' => EndLf,
                b'\n' => return Err(ParseError::BareLf),
                b if is_tchar(b) => {
                    self.count_trailer_byte()?;
                    TrailerName
                }
                // Includes SP / HTAB: a folded trailer line.
                _ => return Err(ParseError::InvalidTrailer),
            },
            TrailerName => {
                self.count_trailer_byte()?;
                match b {
                    b':' => TrailerValue,
                    b if is_tchar(b) => TrailerName,
                    _ => return Err(ParseError::InvalidTrailer),
                }
            }
            TrailerValue => {
                self.count_trailer_byte()?;
                match b {
                    b'\r' => TrailerLf,
                    b'\n' => return Err(ParseError::BareLf),
                    b if is_field_byte(b) => TrailerValue,
                    _ => return Err(ParseError::InvalidTrailer),
                }
            }
            TrailerLf => {
                self.count_trailer_byte()?;
                if b != b'\n' {
                    return Err(ParseError::BareCr);
                }
                TrailerStart
            }
            EndLf if b == b'\n' => Done,
            EndLf => return Err(ParseError::BareCr),
            // decode() handles these three states itself and never calls step() in them.
            Data(_) | Done | Failed(_) => unreachable!("step() called in state {:?}", self.state),
        };
        Ok(())
    }

    /// One byte of the chunk extensions of a size line announcing `n` bytes (RFC 9112
    /// §7.1.1):
    ///
    /// ```text
    /// chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    /// chunk-ext-name = token
    /// chunk-ext-val  = token / quoted-string
    /// ```
    ///
    /// The line ends (CR) only after a name or a value; a bare `;`, an `=` with no value, and
    /// whitespace right before the CR are refused, as is any byte the grammar has no place for.
    fn extension_byte(&self, b: u8, n: u64) -> Result<State, ParseError> {
        use State::*;
        let space = b == b' ' || b == b'\t';
        let next = match (self.state, b) {
            (ExtSemi(_), _) if space => ExtSemi(n),
            (ExtSemi(_), _) if is_tchar(b) => ExtName(n),
            (ExtName(_), _) if is_tchar(b) => ExtName(n),
            (ExtName(_) | ExtNameSpace(_), _) if space => ExtNameSpace(n),
            (ExtName(_) | ExtNameSpace(_), b'=') => ExtEq(n),
            (ExtEq(_), _) if space => ExtEq(n),
            (ExtEq(_), b'"') => ExtQuoted(n),
            (ExtEq(_), _) if is_tchar(b) => ExtToken(n),
            (ExtToken(_), _) if is_tchar(b) => ExtToken(n),
            (ExtQuoted(_), b'"') => ExtValueEnd(n),
            (ExtQuoted(_), b'\\') => ExtEscape(n),
            // qdtext: HTAB, SP, and VCHAR or obs-text other than `"` and `\`.
            (ExtQuoted(_), _) if is_field_byte(b) => ExtQuoted(n),
            // quoted-pair: `\` then HTAB, SP, VCHAR or obs-text.
            (ExtEscape(_), _) if is_field_byte(b) => ExtQuoted(n),
            (ExtToken(_) | ExtValueEnd(_) | ExtValueSpace(_), _) if space => ExtValueSpace(n),
            (
                ExtName(_) | ExtNameSpace(_) | ExtToken(_) | ExtValueEnd(_) | ExtValueSpace(_),
                b';',
            ) => ExtSemi(n),
            (ExtName(_) | ExtToken(_) | ExtValueEnd(_), b'\r') => SizeLf(n),
            (_, b'\n') => return Err(ParseError::BareLf),
            _ => return Err(ParseError::InvalidChunkExtension),
        };
        Ok(next)
    }

    /// Append hex digit `d` to the size `n`: a size over 64 bits is 400 (RFC 9112 §7.1: the
    /// message is malformed), decided at this digit.
    fn size_digit(&mut self, n: u64, d: u8) -> Result<State, ParseError> {
        let n = n
            .checked_mul(16)
            .and_then(|n| n.checked_add(u64::from(d)))
            .ok_or(ParseError::ChunkSizeOverflow)?;
        Ok(State::Size(n))
    }

    /// The size's digits have ended: a chunk that would carry the body past its limit is 413,
    /// decided now, before its data arrives.
    fn check_size(&self, n: u64) -> Result<(), ParseError> {
        match self.announced.checked_add(n) {
            Some(total) if total <= self.max_body => Ok(()),
            _ => Err(ParseError::BodyTooLarge),
        }
    }

    /// Count byte `b` of the size line against its limit; the CR that ends the line is not
    /// part of it.
    fn count_line_byte(&mut self, b: u8) -> Result<(), ParseError> {
        if b == b'\r' {
            return Ok(());
        }
        self.line_len += 1;
        if self.line_len > self.max_line {
            return Err(ParseError::ChunkLineTooLong);
        }
        Ok(())
    }

    /// Count one more byte of the trailer section against its limit.
    fn count_trailer_byte(&mut self) -> Result<(), ParseError> {
        self.trailer_len += 1;
        if self.trailer_len > self.max_trailers {
            return Err(ParseError::TrailersTooLarge);
        }
        Ok(())
    }
}

/// The value of a hex digit (either case), or `None`.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::tests::with_deadline;
    use ParseError::*;

    /// Push `input` in pieces of `piece` bytes (the caller's buffer keeps unconsumed bytes, as
    /// a connection would); return the body, the bytes left over after `done`, or the error.
    fn run(input: &[u8], piece: usize, limits: &Limits) -> Result<(Vec<u8>, Vec<u8>), ParseError> {
        let mut d = ChunkedDecoder::with_limits(limits);
        let (mut body, mut buf, mut fed) = (Vec::new(), Vec::new(), 0);
        loop {
            let p = d.decode(&buf)?;
            if let Some(r) = p.data.clone() {
                assert!(
                    r.end <= p.consumed,
                    "data must lie inside the consumed bytes"
                );
                body.extend_from_slice(&buf[r]);
            }
            if p.needs_more() {
                assert_eq!(p.consumed, buf.len(), "need-more means all input was used");
            }
            buf.drain(..p.consumed);
            if p.done {
                buf.extend_from_slice(&input[fed..]);
                return Ok((body, buf));
            }
            if p.needs_more() {
                assert!(fed < input.len(), "input ended before the body did");
                let end = (fed + piece).min(input.len());
                buf.extend_from_slice(&input[fed..end]);
                fed = end;
            }
        }
    }

    /// Valid bodies decode to their data, at every piece size, leaving what follows untouched.
    #[test]
    fn accepted_bodies() {
        with_deadline(|| {
            let table: &[(&str, &str)] = &[
                ("0\r\n\r\n", ""),
                ("5\r\nhello\r\n0\r\n\r\n", "hello"),
                ("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
                ("A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
                ("a\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
                ("000003\r\nabc\r\n000\r\n\r\n", "abc"),
                ("3;name=value\r\nabc\r\n0\r\n\r\n", "abc"),
                ("3 ; a ; b=\"q;x\"\r\nabc\r\n0;last\r\n\r\n", "abc"),
                ("3\t;x\r\nabc\r\n0\r\n\r\n", "abc"),
                // RFC 9112 §7.1.1: BWS around `;` and `=`, token and quoted-string values,
                // quoted-pairs and obs-text inside quotes, several extensions.
                ("3;a=b;c\r\nabc\r\n0\r\n\r\n", "abc"),
                ("3 ;\ta = b ; c\t=\t\"x y\"\r\nabc\r\n0\r\n\r\n", "abc"),
                ("3;q=\"a\\\"b\\\\c;d\"\r\nabc\r\n0\r\n\r\n", "abc"),
                ("3;q=\"\u{e9}\"\r\nabc\r\n0\r\n\r\n", "abc"),
                ("3;q=\"\"\r\nabc\r\n0\r\n\r\n", "abc"),
                ("3;!#$%&'*+-.^_`|~=x\r\nabc\r\n0\r\n\r\n", "abc"),
                ("0000000000000000000003\r\nabc\r\n0\r\n\r\n", "abc"),
                (
                    "3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:  1 2 \r\n\r\n",
                    "abc",
                ),
                ("3\r\na\r\n\r\n0\r\n\r\n", "a\r\n"),
                ("0\r\nX:\r\n\r\n", ""),
            ];
            let limits = Limits::default();
            for &(input, body) in table {
                let with_next = format!("{input}GET / HTTP/1.1\r\n");
                for piece in 1..=with_next.len() {
                    let got = run(with_next.as_bytes(), piece, &limits);
                    let (b, rest) =
                        got.unwrap_or_else(|e| panic!("{input:?} piece {piece}: {e:?}"));
                    assert_eq!(b, body.as_bytes(), "{input:?} piece {piece}");
                    assert_eq!(rest, b"GET / HTTP/1.1\r\n", "{input:?} piece {piece}");
                }
            }
        });
    }

    /// Every malformed body fails with its own error, at every piece size.
    #[test]
    fn rejected_bodies() {
        with_deadline(|| {
            let table: &[(&str, ParseError)] = &[
                ("\r\n", InvalidChunkSize),
                ("x\r\n", InvalidChunkSize),
                ("0x5\r\nhello\r\n", InvalidChunkSize),
                ("+5\r\nhello\r\n", InvalidChunkSize),
                ("-5\r\nhello\r\n", InvalidChunkSize),
                (" 5\r\nhello\r\n", InvalidChunkSize),
                ("5 \r\nhello\r\n", InvalidChunkSize),
                ("5g\r\nhello\r\n", InvalidChunkSize),
                (";x\r\n", InvalidChunkSize),
                ("5\n", InvalidChunkSize),
                ("5;x\n", BareLf),
                ("5\rx", BareCr),
                ("5;a\x01\r\n", InvalidChunkExtension),
                ("5;a\x7f\r\n", InvalidChunkExtension),
                // RFC 9112 §7.1.1: a bare `;`, a missing name or value, a non-token byte,
                // whitespace inside a token or before the CR, an unclosed quote.
                ("5;\r\n", InvalidChunkExtension),
                ("5; \r\n", InvalidChunkExtension),
                ("5;;a\r\n", InvalidChunkExtension),
                ("5;a;\r\n", InvalidChunkExtension),
                ("5;=b\r\n", InvalidChunkExtension),
                ("5;a=\r\n", InvalidChunkExtension),
                ("5;a= \r\n", InvalidChunkExtension),
                ("5;a=b=c\r\n", InvalidChunkExtension),
                ("5;a b\r\n", InvalidChunkExtension),
                ("5;a=b c\r\n", InvalidChunkExtension),
                ("5;a \r\n", InvalidChunkExtension),
                ("5;a=b \r\n", InvalidChunkExtension),
                ("5;a@b\r\n", InvalidChunkExtension),
                ("5;a=b@c\r\n", InvalidChunkExtension),
                ("5;a=\"x\r\n", InvalidChunkExtension),
                ("5;a=\"x\"y\r\n", InvalidChunkExtension),
                ("5;a=\"\\\x01\"\r\n", InvalidChunkExtension),
                ("5;\u{e9}\r\n", InvalidChunkExtension),
                ("5;a=\"x\ny\"\r\n", BareLf),
                ("10000000000000000\r\n", ChunkSizeOverflow),
                ("fffffffffffffffff\r\n", ChunkSizeOverflow),
                ("5\r\nhelloX\r\n", MissingChunkCrlf),
                ("5\r\nhello\rX", MissingChunkCrlf),
                ("5\r\nhello\n0\r\n\r\n", MissingChunkCrlf),
                ("5\r\nhell\r\n0\r\n\r\n", MissingChunkCrlf),
                ("0\r\nX: a\n", BareLf),
                ("0\r\nX: a\rb", BareCr),
                ("0\r\n\rX", BareCr),
                ("0\r\n\n", BareLf),
                ("0\r\n X: a\r\n\r\n", InvalidTrailer),
                ("0\r\nX : a\r\n\r\n", InvalidTrailer),
                ("0\r\n: a\r\n\r\n", InvalidTrailer),
                ("0\r\nX a\r\n\r\n", InvalidTrailer),
                ("0\r\nX: \0\r\n\r\n", InvalidTrailer),
            ];
            let limits = Limits {
                max_body_bytes: u64::MAX,
                ..Limits::default()
            };
            for &(input, err) in table {
                for piece in 1..=input.len() {
                    assert_eq!(
                        run(input.as_bytes(), piece, &limits),
                        Err(err),
                        "{input:?} piece {piece}"
                    );
                }
            }
        });
    }

    /// The body limit is enforced on announced sizes, exactly at the boundary, before data.
    #[test]
    fn body_limit() {
        with_deadline(|| {
            let limits = Limits {
                max_body_bytes: 10,
                ..Limits::default()
            };
            let ok = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
            assert_eq!(run(ok.as_bytes(), 1, &limits).unwrap().0, b"helloworld");
            for input in [
                "5\r\nhello\r\n6\r\n",
                "b\r\n",
                "0000b\r\n",
                "b;x=y\r\n",
                "5\r\nhello\r\nffffffffffffffff\r\n",
            ] {
                for piece in 1..=input.len() {
                    assert_eq!(
                        run(input.as_bytes(), piece, &limits),
                        Err(BodyTooLarge),
                        "{input:?}"
                    );
                }
            }
            // A size over 64 bits is malformed (400), even past the body limit.
            assert_eq!(
                run(b"5\r\nhello\r\n10000000000000000\r\n", 1, &limits),
                Err(ChunkSizeOverflow)
            );
            // Decided when the size's digits end: no data byte of the chunk was needed.
            let mut d = ChunkedDecoder::with_limits(&limits);
            assert_eq!(
                d.decode(b"10"),
                Ok(Progress {
                    consumed: 2,
                    data: None,
                    done: false
                })
            );
            assert_eq!(d.decode(b"\r"), Err(BodyTooLarge));
        });
    }

    /// The size line and trailer section are bounded; the bounds are inclusive.
    #[test]
    fn line_and_trailer_limits() {
        with_deadline(|| {
            let limits = Limits {
                max_chunk_line_bytes: 8,
                max_trailer_bytes: 12,
                ..Limits::default()
            };
            // "1;abcdef" is 8 bytes: allowed. One more: refused.
            assert!(run(b"1;abcdef\r\nx\r\n0\r\n\r\n", 3, &limits).is_ok());
            assert_eq!(
                run(b"1;abcdefg\r\nx\r\n", 3, &limits),
                Err(ChunkLineTooLong)
            );
            assert_eq!(run(b"000000001\r\n", 3, &limits), Err(ChunkLineTooLong));
            // "X: 1234567\r\n" is exactly 12 bytes; one more byte, or a second line, is too many.
            assert!(run(b"0\r\nX: 1234567\r\n\r\n", 1, &limits).is_ok());
            assert_eq!(
                run(b"0\r\nX: 12345678\r\n\r\n", 1, &limits),
                Err(TrailersTooLarge)
            );
            assert_eq!(
                run(b"0\r\nX: 12\r\nY: 34\r\n\r\n", 1, &limits),
                Err(TrailersTooLarge)
            );
        });
    }

    /// After an error the decoder repeats it; after done it consumes nothing.
    #[test]
    fn sticky_end_states() {
        let mut d = ChunkedDecoder::new(100);
        assert_eq!(d.decode(b"z"), Err(InvalidChunkSize));
        assert_eq!(d.decode(b"0\r\n\r\n"), Err(InvalidChunkSize));
        let mut d = ChunkedDecoder::new(100);
        assert!(d.decode(b"0\r\n\r\n").unwrap().done);
        assert!(d.is_done());
        assert_eq!(
            d.decode(b"5\r\n"),
            Ok(Progress {
                consumed: 0,
                data: None,
                done: true
            })
        );
    }
}

//! Request-smuggling vectors, through the public API: the head parser, then the body decoder.
//!
//! Smuggling works when two HTTP parsers in a chain (a proxy and this server) disagree on where
//! a request ends; the bytes one of them counts as body the other reads as a new request. Each
//! vector below is a known way to provoke that disagreement; each must be refused with a
//! status and a closed connection, never read one of two ways.

mod common;

use common::within;

use spindle_http::body::BodyDecoder;
use spindle_http::{Limits, ParseError, RequestParser};

/// Parse a whole request (head, then body) as a connection would; return the body or the error.
fn request(input: &[u8]) -> Result<Vec<u8>, ParseError> {
    let limits = Limits::default();
    let head = RequestParser::new(limits)
        .parse(input)?
        .expect("the vectors are complete heads");
    let mut decoder = BodyDecoder::new(head.body_framing(), &limits);
    let mut rest = &input[head.consumed()..];
    let mut body = Vec::new();
    loop {
        let p = decoder.decode(rest)?;
        if let Some(r) = p.data.clone() {
            body.extend_from_slice(&rest[r]);
        }
        rest = &rest[p.consumed..];
        if p.done {
            return Ok(body);
        }
        assert!(!p.needs_more(), "the vectors are complete bodies");
    }
}

/// Classic head-level vectors: CL.TE, TE.CL, TE.TE obfuscations, folding, duplicates.
#[test]
fn head_vectors_are_refused() {
    within(|| {
        let h = "POST / HTTP/1.1\r\nHost: h\r\n";
        let table: &[(&str, ParseError)] = &[
            (
                "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX",
                ParseError::ContentLengthWithTransferEncoding,
            ),
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
                ParseError::ContentLengthWithTransferEncoding,
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
                ParseError::ChunkedNotFinal,
            ),
            (
                "Transfer-Encoding: xchunked\r\n\r\n",
                ParseError::ChunkedNotFinal,
            ),
            (
                "Transfer-Encoding : chunked\r\n\r\n",
                ParseError::WhitespaceBeforeColon,
            ),
            // The empty first line is already refused, before the fold is seen.
            (
                "Transfer-Encoding:\r\n chunked\r\n\r\n",
                ParseError::InvalidTransferEncoding,
            ),
            (
                "X: y\r\n Transfer-Encoding: chunked\r\n\r\n",
                ParseError::ObsFold,
            ),
            (
                "Transfer-Encoding: \x0bchunked\r\n\r\n",
                ParseError::InvalidFieldValue,
            ),
            (
                "Transfer-Encoding: chunked\x00\r\n\r\n",
                ParseError::InvalidFieldValue,
            ),
            (
                "Transfer-Encoding: \"chunked\"\r\n\r\n",
                ParseError::InvalidTransferEncoding,
            ),
            (
                "Transfer-Encoding: chunked, chunked\r\n\r\n",
                ParseError::ChunkedRepeated,
            ),
            (
                "Transfer_Encoding: chunked\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
                ParseError::ConflictingContentLength,
            ),
            (
                "Content-Length: 5\r\nContent-Length: 0\r\n\r\n",
                ParseError::ConflictingContentLength,
            ),
            (
                "Content-Length: 0, 5\r\n\r\n",
                ParseError::ConflictingContentLength,
            ),
            (
                "Content-Length: +5\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                "Content-Length: 0x5\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                "Content-Length: 5 0\r\n\r\n",
                ParseError::InvalidContentLength,
            ),
            (
                "Content-Length\t: 5\r\n\r\n",
                ParseError::WhitespaceBeforeColon,
            ),
            ("Content-Length: 5\rX: y\r\n\r\n", ParseError::BareCr),
            ("Content-Length: 5\nX: y\r\n\r\n", ParseError::BareLf),
            ("Host: other\r\n\r\n", ParseError::MultipleHost),
        ];
        for &(rest, err) in table {
            let input = format!("{h}{rest}");
            assert_eq!(request(input.as_bytes()), Err(err), "{input:?}");
            assert!(err.close_connection());
        }
        // Transfer-Encoding on HTTP/1.0, where a proxy may ignore it.
        let old = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_eq!(
            request(old.as_bytes()),
            Err(ParseError::TransferEncodingInHttp10)
        );
    });
}

/// Body-level vectors: chunk sizes and line ends another parser might read differently.
#[test]
fn chunked_vectors_are_refused() {
    within(|| {
        let h = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
        let table: &[(&str, ParseError)] = &[
            ("0x5\r\nhello\r\n0\r\n\r\n", ParseError::InvalidChunkSize),
            (" 5\r\nhello\r\n0\r\n\r\n", ParseError::InvalidChunkSize),
            ("5 \r\nhello\r\n0\r\n\r\n", ParseError::InvalidChunkSize),
            ("5\nhello\r\n0\r\n\r\n", ParseError::InvalidChunkSize),
            ("5;x\nhello\r\n0\r\n\r\n", ParseError::BareLf),
            ("5\r\nhello\n0\r\n\r\n", ParseError::MissingChunkCrlf),
            ("5\r\nhelloXX0\r\n\r\n", ParseError::MissingChunkCrlf),
            // 17 hex digits: over 64 bits, a malformed message (RFC 9112 §7.1), not a 413.
            ("ffffffffffffffff0\r\n", ParseError::ChunkSizeOverflow),
            ("fffffffffffffff\r\n", ParseError::BodyTooLarge),
            // RFC 9112 §7.1.1: extensions by their grammar; a bare `;` is not skipped.
            (
                "5;\r\nhello\r\n0\r\n\r\n",
                ParseError::InvalidChunkExtension,
            ),
            (
                "5;a b\r\nhello\r\n0\r\n\r\n",
                ParseError::InvalidChunkExtension,
            ),
            ("0\r\n\n", ParseError::BareLf),
            ("0\r\nX: y\n\r\n", ParseError::BareLf),
        ];
        for &(body, err) in table {
            let input = format!("{h}{body}");
            assert_eq!(request(input.as_bytes()), Err(err), "{input:?}");
        }
        // And the well-formed body next to them decodes.
        let ok = format!("{h}5;ext=\"a;b\"\r\nhello\r\n0\r\nTrailer: t\r\n\r\n");
        assert_eq!(request(ok.as_bytes()), Ok(b"hello".to_vec()));
    });
}

//! Header floods: a client that streams an endless head must be refused as soon as the buffered,
//! still-incomplete head passes its limit, so the connection never holds more than one read
//! beyond the limit. Each test feeds 1 MB in 4 KiB reads, as a connection would.

mod common;

use common::within;

use spindle_http::{Limits, ParseError, RequestParser};

/// Size of one simulated socket read.
const PIECE: usize = 4096;

/// Feed `stream` in [`PIECE`]-byte reads until the parser answers. Returns the answer and how
/// many bytes were buffered when it came; asserts that every earlier answer was "need more".
fn feed(stream: &[u8], limits: Limits) -> (ParseError, usize) {
    let mut parser = RequestParser::new(limits);
    let mut buf = Vec::new();
    for piece in stream.chunks(PIECE) {
        buf.extend_from_slice(piece);
        match parser.parse(&buf) {
            Ok(None) => continue,
            Ok(Some(head)) => panic!("a flood parsed as a head: {head:?}"),
            Err(e) => return (e, buf.len()),
        }
    }
    panic!("1 MB flood never refused")
}

/// The first buffer length (a multiple of PIECE) that exceeds `limit`.
fn first_read_past(limit: usize) -> usize {
    (limit / PIECE + 1) * PIECE
}

/// One endless header line: 431 on the first read that takes the head past 16 KiB.
#[test]
fn one_endless_field_line_is_431_at_the_limit() {
    within(|| {
        let mut flood = b"GET / HTTP/1.1\r\nHost: h\r\nX-Flood: ".to_vec();
        flood.resize(1 << 20, b'a');
        let limits = Limits::default();
        let (err, buffered) = feed(&flood, limits);
        assert_eq!(err, ParseError::HeadTooLarge);
        assert_eq!(err.status(), 431);
        assert!(err.close_connection());
        assert_eq!(buffered, first_read_past(limits.max_head_bytes));
        assert!(buffered <= limits.max_head_bytes + PIECE);
    });
}

/// Many long field lines under the count limit: 431 for size, at the same point.
#[test]
fn many_long_field_lines_are_431_at_the_size_limit() {
    within(|| {
        let mut flood = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        let mut i = 0;
        while flood.len() < 1 << 20 {
            flood.extend_from_slice(format!("X-Flood-{i}: {}\r\n", "b".repeat(300)).as_bytes());
            i += 1;
        }
        let limits = Limits::default();
        let (err, buffered) = feed(&flood, limits);
        assert_eq!(err, ParseError::HeadTooLarge);
        assert_eq!(buffered, first_read_past(limits.max_head_bytes));
    });
}

/// Many short field lines: the 101st field is refused (431) within the first read.
#[test]
fn many_short_field_lines_are_431_at_the_count_limit() {
    within(|| {
        let mut flood = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        while flood.len() < 1 << 20 {
            flood.extend_from_slice(b"X: y\r\n");
        }
        let (err, buffered) = feed(&flood, Limits::default());
        assert_eq!(err, ParseError::TooManyFields);
        assert_eq!(err.status(), 431);
        assert_eq!(buffered, PIECE);
    });
}

/// An endless request-target: 414 on the first read that takes the target past 8 KiB.
#[test]
fn endless_target_is_414_at_the_target_limit() {
    within(|| {
        let mut flood = b"GET /".to_vec();
        flood.resize(1 << 20, b'a');
        let limits = Limits::default();
        let (err, buffered) = feed(&flood, limits);
        assert_eq!(err, ParseError::TargetTooLong);
        assert_eq!(err.status(), 414);
        assert_eq!(buffered, first_read_past(limits.max_target_bytes + 4));
    });
}

/// Endless empty lines before a request line count towards the head: 431.
#[test]
fn endless_empty_lines_are_431() {
    within(|| {
        let flood = b"\r\n".repeat(1 << 19);
        let limits = Limits::default();
        let (err, buffered) = feed(&flood, limits);
        assert_eq!(err, ParseError::HeadTooLarge);
        assert_eq!(buffered, first_read_past(limits.max_head_bytes));
    });
}

/// A smaller configured limit is honoured the same way.
#[test]
fn configured_head_limit_is_honoured() {
    within(|| {
        let mut flood = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
        flood.resize(1 << 20, b'z');
        let limits = Limits {
            max_head_bytes: 5000,
            ..Limits::default()
        };
        let (err, buffered) = feed(&flood, limits);
        assert_eq!(err, ParseError::HeadTooLarge);
        assert_eq!(buffered, 2 * PIECE);
    });
}

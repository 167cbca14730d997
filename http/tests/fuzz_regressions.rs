//! Regression tests for what the cargo-fuzz targets in `fuzz/` found (see `docs/fuzzing.md`):
//! each test replays a minimized finding through the public API, on stable, so the fix stays.

mod common;

use common::within;

use spindle_http::{Limits, ParseError, RequestParser};

/// Parses `input` delivered in two reads, cut at `cut`, the way a connection does.
fn parse_in_two(
    input: &[u8],
    cut: usize,
    limits: Limits,
) -> Result<Option<spindle_http::RequestHead>, ParseError> {
    let mut parser = RequestParser::new(limits);
    match parser.parse(&input[..cut]) {
        Ok(None) => parser.parse(input),
        other => other,
    }
}

/// Found by `head_splits`: a request line whose target is over the limit and that ends in a
/// bare LF got 414 when it arrived in pieces (the partial-line check) but 400 (bare LF) when
/// it arrived whole. The answer must not depend on how TCP cut the bytes: 414 both ways.
#[test]
fn overlong_target_ending_in_bare_lf_is_414_however_split() {
    within(|| {
        let limits = Limits {
            max_target_bytes: 8,
            ..Limits::default()
        };
        let input = b"GET /aaaaaaaaaa\n";
        let whole = RequestParser::new(limits).parse(input);
        assert_eq!(whole, Err(ParseError::TargetTooLong));
        for cut in 1..input.len() {
            assert_eq!(
                parse_in_two(input, cut, limits),
                whole,
                "cut after {cut} bytes"
            );
        }
        // The minimized fuzz input itself (small limits: 40-byte target, 200-byte head).
        let limits = Limits {
            max_head_bytes: 200,
            max_headers: 4,
            max_target_bytes: 40,
            ..Limits::default()
        };
        let mut input = b"ost: Ta\r".to_vec();
        input.extend_from_slice(&[0xff; 60]);
        input.extend_from_slice(b"\rxample.\ncom/");
        let whole = RequestParser::new(limits).parse(&input);
        assert_eq!(whole, Err(ParseError::TargetTooLong));
        assert_eq!(parse_in_two(&input, 14, limits), whole);
    });
}

//! Fuzz target: the request-head parser fed the same bytes in arbitrary splits.
//!
//! The payload is pushed into a growing buffer piece by piece (the split points come from the
//! input, see `spindle_fuzz::SplitInput`), the way a connection reads; after each piece the
//! parser is asked again, and each complete head is drained (pipelining: the next head starts
//! right after it, and the same parser goes on). The reference parses the whole payload at once
//! with a fresh parser per head. Both must give the same sequence of heads and the same final
//! answer (an error, or "need more"), whatever the splits; neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_fuzz::SplitInput;
use spindle_http::{Limits, ParseError, RequestHead, RequestParser};

/// The limits for selector byte `s`: the defaults, or small ones so the limit paths are reached.
fn limits(s: u8) -> Limits {
    match s % 3 {
        0 => Limits::default(),
        1 => Limits {
            max_head_bytes: 200,
            max_headers: 4,
            max_target_bytes: 40,
            ..Limits::default()
        },
        _ => Limits {
            max_head_bytes: 1024,
            max_headers: 16,
            max_target_bytes: 300,
            ..Limits::default()
        },
    }
}

/// What a run of the parser over the payload produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Each complete head, in order.
    heads: Vec<RequestHead>,
    /// How the run ended: `Ok(())` needing more bytes, or the error (which is final).
    end: Result<(), ParseError>,
}

/// The whole payload at once, a fresh parser for each head.
fn one_shot(payload: &[u8], limits: Limits) -> Outcome {
    let mut rest = payload;
    let mut heads = Vec::new();
    loop {
        match RequestParser::new(limits).parse(rest) {
            Ok(Some(head)) => {
                assert!(head.consumed() > 0 && head.consumed() <= rest.len());
                rest = &rest[head.consumed()..];
                heads.push(head);
            }
            Ok(None) => return Outcome { heads, end: Ok(()) },
            Err(e) => return Outcome { heads, end: Err(e) },
        }
    }
}

/// The payload in pieces, one parser for the whole connection, as `conn.rs` uses it.
fn in_pieces(input: &SplitInput<'_>, limits: Limits) -> Outcome {
    let mut parser = RequestParser::new(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut heads = Vec::new();
    for piece in input.pieces() {
        buf.extend_from_slice(piece);
        loop {
            if buf.is_empty() {
                break;
            }
            match parser.parse(&buf) {
                Ok(Some(head)) => {
                    assert!(head.consumed() > 0 && head.consumed() <= buf.len());
                    buf.drain(..head.consumed());
                    heads.push(head);
                }
                Ok(None) => break,
                Err(e) => {
                    // Errors are sticky: asking again gives the same answer.
                    assert_eq!(parser.parse(&buf), Err(e));
                    return Outcome { heads, end: Err(e) };
                }
            }
        }
    }
    Outcome { heads, end: Ok(()) }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = SplitInput::decode(data) else {
        return;
    };
    let limits = limits(input.selector);
    let whole = one_shot(input.payload, limits);
    let split = in_pieces(&input, limits);
    assert_eq!(
        split,
        whole,
        "split at {:?}: {:?}",
        input.cuts,
        String::from_utf8_lossy(input.payload)
    );
    for head in &whole.heads {
        // The accessors must hold up on whatever was accepted.
        let _ = (head.path(), head.query(), head.host(), head.target_form());
        let _ = (
            head.body_framing(),
            head.keep_alive(),
            head.expects_continue(),
        );
        assert_eq!(head.headers().count(), head.header_count());
    }
});

//! Fuzz target: the chunked body decoder fed arbitrary bytes in arbitrary splits.
//!
//! The split run keeps a buffer the way a connection does (unconsumed bytes stay, the next
//! piece is appended) and pushes it through one `ChunkedDecoder`; the reference pushes the
//! whole payload through another. Both must agree on the decoded body, the error if any, and
//! the bytes left after the body (the next pipelined request). Also checked on every call: the
//! `Progress` is consistent (data inside what was consumed, "need more" only when all input
//! was used, nothing consumed after `done`), the body never exceeds the limit, and the
//! decoder itself stays a few words (it must not buffer input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_fuzz::SplitInput;
use spindle_http::body::ChunkedDecoder;
use spindle_http::{Limits, ParseError};

/// The limits for selector byte `s`: the defaults, or small ones so each limit is reached.
fn limits(s: u8) -> Limits {
    match s % 4 {
        0 => Limits::default(),
        1 => Limits {
            max_body_bytes: 64,
            max_chunk_line_bytes: 12,
            max_trailer_bytes: 24,
            ..Limits::default()
        },
        2 => Limits {
            max_body_bytes: u64::MAX,
            ..Limits::default()
        },
        _ => Limits {
            max_body_bytes: 0,
            max_chunk_line_bytes: 1,
            max_trailer_bytes: 0,
            ..Limits::default()
        },
    }
}

/// What decoding produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// The body data, concatenated.
    body: Vec<u8>,
    /// `Ok(Some(rest))`: done, `rest` follows the body; `Ok(None)`: needs more; or the error.
    end: Result<Option<Vec<u8>>, ParseError>,
}

/// Feeds `pieces` one after another through a fresh decoder, keeping unconsumed bytes.
fn run(pieces: &[&[u8]], limits: &Limits) -> Outcome {
    let mut decoder = ChunkedDecoder::with_limits(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut body = Vec::new();
    let mut next = 0;
    loop {
        let p = match decoder.decode(&buf) {
            Ok(p) => p,
            Err(e) => {
                assert_eq!(decoder.decode(&buf), Err(e), "errors are sticky");
                return Outcome { body, end: Err(e) };
            }
        };
        assert!(p.consumed <= buf.len());
        if let Some(r) = p.data.clone() {
            assert!(r.start < r.end && r.end <= p.consumed, "{p:?}");
            body.extend_from_slice(&buf[r]);
        }
        assert!(
            body.len() as u64 <= limits.max_body_bytes,
            "more body than the limit"
        );
        if p.needs_more() {
            assert_eq!(p.consumed, buf.len(), "need-more must use all input");
        }
        buf.drain(..p.consumed);
        if p.done {
            assert!(decoder.is_done());
            // Done consumes nothing more.
            let again = decoder.decode(&buf).expect("done is not an error");
            assert_eq!((again.consumed, again.data, again.done), (0, None, true));
            for piece in &pieces[next..] {
                buf.extend_from_slice(piece);
            }
            return Outcome {
                body,
                end: Ok(Some(buf)),
            };
        }
        if p.needs_more() {
            let Some(piece) = pieces.get(next) else {
                return Outcome {
                    body,
                    end: Ok(None),
                };
            };
            buf.extend_from_slice(piece);
            next += 1;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The decoder holds no input: its size is a handful of words whatever it is fed.
    assert!(std::mem::size_of::<ChunkedDecoder>() <= 64);
    let Some(input) = SplitInput::decode(data) else {
        return;
    };
    let limits = limits(input.selector);
    let whole = run(&[input.payload], &limits);
    let split = run(&input.pieces(), &limits);
    assert_eq!(
        split,
        whole,
        "split at {:?}: {:?}",
        input.cuts,
        String::from_utf8_lossy(input.payload)
    );
});

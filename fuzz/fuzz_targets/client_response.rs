//! Fuzz target: the HTTP client's response parser (`spindle_http::client`) fed arbitrary bytes
//! in arbitrary splits, as a server could send them.
//!
//! Input layout: as the other split targets (`spindle_fuzz::SplitInput`); bit 0 of the selector
//! byte says whether the request was HEAD. The split run and the whole run must agree on the
//! outcome (status, body, trailers, error); nothing may panic; and whenever our head parser
//! accepts a complete head, httparse must accept the same bytes identically (ours may only be
//! stricter). The allocation-free fast path (`parse_head_summary`) must agree with the strict
//! parser whenever it answers, on the whole input and on its first piece.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_fuzz::SplitInput;
use spindle_http::client::{
    framing, keep_alive, parse_head, parse_head_summary, BodyDecoder, Decoded, HeadLimits,
    ParseError, ResponseHead,
};

/// What decoding one response produced.
type Outcome = Result<(u16, Vec<u8>, Vec<(String, Vec<u8>)>), ParseError>;

/// Small limits, so the fuzzer reaches them.
const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 512,
    max_headers: 8,
};

/// Decodes one response arriving in `pieces` and then end of stream (1xx heads skipped).
fn decode(pieces: &[&[u8]], request_was_head: bool) -> Outcome {
    let mut buf = Vec::new();
    let mut start = 0;
    let mut pieces = pieces.iter();
    let head: ResponseHead = loop {
        match parse_head(&buf[start..], LIMITS)? {
            Some((head, len)) => {
                start += len;
                if head.status == 101 {
                    return Err(ParseError::UnexpectedUpgrade);
                }
                if head.status >= 200 {
                    break head;
                }
            }
            None => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => return Err(ParseError::Truncated),
            },
        }
    };
    let mut decoder = BodyDecoder::new(framing(&head, request_was_head)?);
    let mut body = Vec::new();
    while !decoder.is_done() {
        let input = &buf[start..];
        match decoder.decode(input)? {
            Decoded::Data { consumed, data } => {
                assert!(data.end <= consumed && consumed <= input.len());
                body.extend_from_slice(&input[data]);
                start += consumed;
            }
            Decoded::Done { consumed } => {
                assert!(consumed <= input.len());
                break;
            }
            Decoded::NeedMore { consumed } => {
                assert_eq!(consumed, input.len(), "NeedMore must consume all input");
                start += consumed;
                match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => {
                        decoder.finish_at_eof()?;
                        break;
                    }
                }
            }
        }
    }
    let trailers = decoder
        .trailers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect();
    Ok((head.status, body, trailers))
}

/// Ours accepted `raw`'s head: httparse must agree on length, version, status and fields.
fn check_against_httparse(raw: &[u8]) {
    let Ok(Some((head, len))) = parse_head(raw, LIMITS) else {
        return;
    };
    let mut fields = [httparse::EMPTY_HEADER; 16];
    let mut theirs = httparse::Response::new(&mut fields);
    match theirs.parse(raw) {
        Ok(httparse::Status::Complete(n)) => assert_eq!(n, len),
        other => panic!("ours accepted a head httparse did not: {other:?}"),
    }
    assert_eq!(theirs.version, Some(head.minor_version));
    assert_eq!(theirs.code, Some(head.status));
    let trim = |v: &[u8]| -> Vec<u8> {
        let s = v.iter().position(|b| !b" \t".contains(b)).unwrap_or(v.len());
        let e = v.iter().rposition(|b| !b" \t".contains(b)).map_or(s, |e| e + 1);
        v[s..e.max(s)].to_vec()
    };
    let ours: Vec<(String, Vec<u8>)> = head
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect();
    let theirs: Vec<(String, Vec<u8>)> = theirs
        .headers
        .iter()
        .map(|h| (h.name.to_string(), trim(h.value)))
        .collect();
    assert_eq!(ours, theirs);
}

/// The fast path answered `raw`: the strict parser must give the same length, status, framing
/// and keep-alive.
fn check_fast_path(raw: &[u8], request_was_head: bool) {
    let Some((fast, len)) = parse_head_summary(raw, LIMITS, request_was_head) else {
        return;
    };
    let Ok(Some((head, strict_len))) = parse_head(raw, LIMITS) else {
        panic!("the fast path accepted a head the strict parser did not");
    };
    assert_eq!((fast.status, len), (head.status, strict_len));
    assert_eq!(Ok(fast.framing), framing(&head, request_was_head));
    assert_eq!(fast.keep_alive, keep_alive(&head, fast.framing));
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = SplitInput::decode(data) else {
        return;
    };
    let is_head = input.selector & 1 == 1;
    let whole = decode(&[input.payload], is_head);
    let split = decode(&input.pieces(), is_head);
    assert_eq!(whole, split, "split decoding disagrees with whole decoding");
    check_against_httparse(input.payload);
    check_fast_path(input.payload, is_head);
    if let Some(first) = input.pieces().first() {
        check_fast_path(first, is_head);
    }
});

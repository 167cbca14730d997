//! Fuzz target: differential against `httparse` on request heads that both parsers accept.
//!
//! The input is one candidate head. When spindle's parser and httparse both say it is
//! complete, they must agree on the method, the request-target, the version, every field
//! (name as received; value without the surrounding whitespace that RFC 9112 §5 says is not
//! part of it) and where the head ends. Inputs that one of them rejects or finds incomplete
//! are not compared: spindle is deliberately stricter (bare LF, obs-fold, `Host` rules...).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_http::{RequestParser, Version};

/// `v` without leading and trailing SP / HTAB.
fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// A head as either parser saw it.
#[derive(Debug, PartialEq, Eq)]
struct Seen<'a> {
    method: &'a str,
    target: &'a str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    minor: u8,
    fields: Vec<(&'a str, &'a [u8])>,
    consumed: usize,
}

fuzz_target!(|data: &[u8]| {
    let Ok(Some(ours)) = RequestParser::default().parse(data) else {
        return;
    };
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut theirs = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(consumed)) = theirs.parse(data) else {
        return;
    };
    let seen_theirs = Seen {
        method: theirs.method.expect("complete"),
        target: theirs.path.expect("complete"),
        minor: theirs.version.expect("complete"),
        fields: theirs
            .headers
            .iter()
            .map(|h| (h.name, trim(h.value)))
            .collect(),
        consumed,
    };
    let seen_ours = Seen {
        method: ours.method_str(),
        target: ours.target(),
        minor: match ours.version() {
            Version::Http10 => 0,
            Version::Http11 => 1,
        },
        fields: ours.headers().map(|h| (h.name(), h.value())).collect(),
        consumed: ours.consumed(),
    };
    assert_eq!(
        seen_ours,
        seen_theirs,
        "{:?}",
        String::from_utf8_lossy(data)
    );
});

//! Percent-decoding, query strings and cookies: the small text formats a handler reads out of
//! the request target and the `Cookie` header.
//!
//! `request.rs` calls [`query_pairs`] and [`cookie_pairs`] on demand; `router.rs` decodes
//! captured path parameters with [`decode_bytes`]. Every function here is pure and total: any
//! input gives an answer (an invalid escape is kept literally, never an error), and nothing
//! allocates when there is nothing to decode.

use std::borrow::Cow;

/// Decodes `%XX` escapes (and, if `plus_is_space`, `+` as a space) into raw bytes.
///
/// An escape that is not `%` followed by two hex digits is kept as it is, so `"100%"` and
/// `"%zz"` decode to themselves. Borrows `s` when it contains nothing to decode.
pub(crate) fn decode_bytes(s: &str, plus_is_space: bool) -> Cow<'_, [u8]> {
    let needs_work = s.bytes().any(|b| b == b'%' || (plus_is_space && b == b'+'));
    if !needs_work {
        return Cow::Borrowed(s.as_bytes());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (hex_value(bytes.get(i + 1)), hex_value(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'), // not an escape: keep the `%` literally
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// The value of one hex digit, if `b` is one.
fn hex_value(b: Option<&u8>) -> Option<u8> {
    match *b? {
        c @ b'0'..=b'9' => Some(c - b'0'),
        c @ b'a'..=b'f' => Some(c - b'a' + 10),
        c @ b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Bytes to text, replacing invalid UTF-8 with U+FFFD, borrowing when possible.
fn into_text(bytes: Cow<'_, [u8]>) -> Cow<'_, str> {
    match bytes {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Decodes `%XX` escapes in `s` (as in a URL path: `+` stays `+`).
///
/// Invalid escapes are kept literally; bytes that do not form UTF-8 after decoding become
/// U+FFFD. Nothing is allocated when `s` has no `%`.
///
/// ```
/// use spindle_http::percent_decode;
/// assert_eq!(percent_decode("caf%C3%A9"), "café");
/// assert_eq!(percent_decode("a+b%20c"), "a+b c");
/// assert_eq!(percent_decode("100%"), "100%"); // not an escape: kept
/// ```
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    into_text(decode_bytes(s, false))
}

/// Decoded `(name, value)` pairs of a query string (`application/x-www-form-urlencoded`).
///
/// Pairs are split on `&`, then at the first `=`; `+` is a space and `%XX` is decoded (invalid
/// escapes are kept, invalid UTF-8 becomes U+FFFD). Empty pieces (`a=1&&b=2`) are skipped; a
/// piece without `=` has an empty value. Order and repeated names are kept.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            (
                into_text(decode_bytes(name, true)).into_owned(),
                into_text(decode_bytes(value, true)).into_owned(),
            )
        })
        .collect()
}

/// `(name, value)` pairs of one `Cookie` header value (RFC 6265 §4.2: `a=1; b=2`).
///
/// Each piece is trimmed of spaces and tabs, as are the name and the value around `=`; a
/// value in double quotes loses its quotes. Pieces without `=` or with an empty name are
/// skipped. Values are not percent-decoded: RFC 6265 gives cookie values no encoding, so a
/// handler that encoded its own cookie decodes it with [`percent_decode`].
pub(crate) fn cookie_pairs(header: &str) -> Vec<(String, String)> {
    let ows: &[char] = &[' ', '\t'];
    header
        .split(';')
        .filter_map(|piece| {
            let (name, value) = piece.split_once('=')?;
            let name = name.trim_matches(ows);
            if name.is_empty() {
                return None;
            }
            let value = value.trim_matches(ows);
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(unquoted) => unquoted,
                None => value,
            };
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Owned pairs from string literals, to keep the tables short.
    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    /// Path-style decoding: escapes decode, `+` stays, broken escapes are kept literally,
    /// invalid UTF-8 becomes U+FFFD.
    #[test]
    fn percent_decode_table() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("plain", "plain"),
            ("a%20b", "a b"),
            ("a+b", "a+b"),
            ("%41%42%43", "ABC"),
            ("%e2%82%ac", "€"),
            ("%E2%82%AC", "€"),
            ("%", "%"),
            ("%4", "%4"),
            ("%zz", "%zz"),
            ("%%41", "%A"),
            ("100%", "100%"),
            ("%2F", "/"),
            ("%FF", "\u{FFFD}"),
            ("a%C3", "a\u{FFFD}"),
        ];
        for (input, want) in cases {
            assert_eq!(percent_decode(input), *want, "input {input:?}");
        }
    }

    /// Nothing to decode means nothing allocated.
    #[test]
    fn percent_decode_borrows_when_clean() {
        assert!(matches!(percent_decode("/users/42"), Cow::Borrowed(_)));
        assert!(matches!(decode_bytes("a+b", false), Cow::Borrowed(_)));
        assert!(matches!(decode_bytes("a+b", true), Cow::Owned(_)));
    }

    /// The raw bytes are exact, including bytes that are not UTF-8 (the router relies on it).
    #[test]
    fn decode_bytes_table() {
        let cases: &[(&str, bool, &[u8])] = &[
            ("%FF%00", false, &[0xFF, 0x00]),
            ("a+b", true, b"a b"),
            ("a%2Bb", true, b"a+b"),
            ("%2", true, b"%2"),
        ];
        for (input, plus, want) in cases {
            assert_eq!(&*decode_bytes(input, *plus), *want, "input {input:?}");
        }
    }

    /// Query strings: `&` and first `=` split, `+` is a space, escapes decode, empty pieces skip.
    #[test]
    fn query_pairs_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("a=1", &[("a", "1")]),
            ("a=1&b=2", &[("a", "1"), ("b", "2")]),
            ("a=1&&b=2&", &[("a", "1"), ("b", "2")]),
            ("flag", &[("flag", "")]),
            ("a=", &[("a", "")]),
            ("=v", &[("", "v")]),
            ("a=1=2", &[("a", "1=2")]),
            ("q=hello+world", &[("q", "hello world")]),
            ("q=a%2Bb", &[("q", "a+b")]),
            ("caf%C3%A9=cr%C3%A8me", &[("café", "crème")]),
            ("x=%zz&y=100%", &[("x", "%zz"), ("y", "100%")]),
            ("x=%FF", &[("x", "\u{FFFD}")]),
            ("a=1&a=2", &[("a", "1"), ("a", "2")]),
            ("a%26b=c%3Dd", &[("a&b", "c=d")]),
        ];
        for (input, want) in cases {
            assert_eq!(query_pairs(input), pairs(want), "query {input:?}");
        }
    }

    /// Cookies: `;` splits, OWS trims, quotes strip, pieces without `=` or a name skip.
    #[test]
    fn cookie_pairs_table() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("", &[]),
            ("a=1", &[("a", "1")]),
            ("a=1; b=2", &[("a", "1"), ("b", "2")]),
            ("a=1;b=2", &[("a", "1"), ("b", "2")]),
            ("  a = 1 ;\tb=2\t", &[("a", "1"), ("b", "2")]),
            ("a=\"quoted value\"", &[("a", "quoted value")]),
            ("a=\"", &[("a", "\"")]),
            ("a=\"\"", &[("a", "")]),
            ("junk; a=1", &[("a", "1")]),
            ("=nameless; a=1", &[("a", "1")]),
            ("a=", &[("a", "")]),
            ("a=b=c", &[("a", "b=c")]),
            ("a=%41", &[("a", "%41")]),
            (";;", &[]),
        ];
        for (input, want) in cases {
            assert_eq!(cookie_pairs(input), pairs(want), "cookie {input:?}");
        }
    }
}

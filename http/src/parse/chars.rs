//! Byte classes of the HTTP and URI grammars (RFC 9110 §5.6, RFC 9112, RFC 3986), as one lookup
//! table built at compile time.
//!
//! Used by the request-line, target and field parsers in [`crate::parse`] and by the chunk
//! decoder in [`crate::body::chunked`]. Each predicate answers for a single byte; a class is
//! one bit in [`TABLE`], so a test costs one load and one mask.

/// `tchar`: the bytes of a token (method, field name, transfer coding, connection option).
pub(crate) const TCHAR: u8 = 1 << 0;
/// `field-vchar` plus SP and HTAB: what a field value may hold between its first and last byte.
pub(crate) const FIELD: u8 = 1 << 1;
/// The bytes of a path segment other than `%`: `unreserved / sub-delims / ":" / "@"`.
const PCHAR: u8 = 1 << 2;
/// The bytes of a `reg-name` host other than `%`: `unreserved / sub-delims`.
const REG_NAME: u8 = 1 << 3;
/// The bytes of a path other than `%`: `pchar` and `/`.
const PATH: u8 = 1 << 4;
/// The bytes of a query other than `%`: `pchar`, `/` and `?`.
const QUERY: u8 = 1 << 5;

const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

const fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

const fn classify(b: u8) -> u8 {
    let mut class = 0;
    let tchar = b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        );
    if tchar {
        class |= TCHAR;
    }
    // VCHAR is 0x21..=0x7E, obs-text is 0x80..=0xFF; DEL (0x7F) and the other controls are out.
    if b == b' ' || b == b'\t' || (b >= 0x21 && b != 0x7F) {
        class |= FIELD;
    }
    if is_unreserved(b) || is_sub_delim(b) {
        class |= REG_NAME | PCHAR;
    }
    if b == b':' || b == b'@' {
        class |= PCHAR;
    }
    if class & PCHAR != 0 || b == b'/' {
        class |= PATH | QUERY;
    }
    if b == b'?' {
        class |= QUERY;
    }
    class
}

const fn build_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = classify(i as u8);
        i += 1;
    }
    table
}

/// The class bits of every byte value. Also read directly by scanners that test one class over
/// a run of bytes (the client's response-head fast path, `client::parse::fast`).
pub(crate) static TABLE: [u8; 256] = build_table();

/// Is `b` a `tchar`?
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    TABLE[b as usize] & TCHAR != 0
}

/// Is `bytes` a `token` (one or more `tchar`)?
///
/// Eight bytes at a time, with no branch per byte: the class bits of the eight are ANDed
/// together and tested once. A field name is checked this way, and a name is valid far more
/// often than not, so stopping early at a bad byte would buy nothing.
#[inline]
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut all = TCHAR;
    for chunk in &mut chunks {
        // A fixed-length inner loop: the compiler unrolls it into eight loads and ANDs.
        for &b in chunk {
            all &= TABLE[b as usize];
        }
    }
    for &b in chunks.remainder() {
        all &= TABLE[b as usize];
    }
    !bytes.is_empty() && all & TCHAR != 0
}

/// May `b` appear in a field value (VCHAR, obs-text, SP, HTAB)?
#[inline]
pub(crate) fn is_field_byte(b: u8) -> bool {
    TABLE[b as usize] & FIELD != 0
}

/// Is `b` a `pchar` other than the `%` of an escape? (The parser uses the path and query
/// classes built on it; the tests check all three.)
#[cfg(test)]
pub(crate) fn is_pchar(b: u8) -> bool {
    TABLE[b as usize] & PCHAR != 0
}

/// May `b` appear in a path, other than as the `%` of an escape?
#[inline]
pub(crate) fn is_path(b: u8) -> bool {
    TABLE[b as usize] & PATH != 0
}

/// May `b` appear in a query, other than as the `%` of an escape?
#[inline]
pub(crate) fn is_query(b: u8) -> bool {
    TABLE[b as usize] & QUERY != 0
}

/// Is `b` allowed in a `reg-name` host, other than the `%` of an escape?
#[inline]
pub(crate) fn is_reg_name(b: u8) -> bool {
    TABLE[b as usize] & REG_NAME != 0
}

/// Optional whitespace (`OWS`, `BWS`): SP or HTAB.
#[inline]
pub(crate) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `bytes` without leading and trailing SP / HTAB.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The `[start, end)` offsets of `bytes` without leading and trailing SP / HTAB.
#[inline]
pub(crate) fn trim_ows_range(bytes: &[u8]) -> (usize, usize) {
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |i| i + 1);
    (start, end)
}

/// Check that every `%` in `bytes` starts a `%HH` escape and every other byte satisfies
/// `allowed`. (The parser calls [`scan_escaped`] directly, to learn where a part ends.)
#[cfg(test)]
pub(crate) fn valid_escaped(bytes: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    scan_escaped(bytes, 0, allowed) == bytes.len()
}

/// The offset of the first byte at or after `from` that neither satisfies `allowed` nor starts
/// a `%HH` escape, or `bytes.len()` if there is none. One pass, so a caller can validate a
/// part and find where the next part starts at the same time (a path stops at its `?`).
#[inline]
pub(crate) fn scan_escaped(bytes: &[u8], from: usize, allowed: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < bytes.len() {
        if allowed(bytes[i]) {
            i += 1;
        } else if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            i += 3;
        } else {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classes agree with the RFC definitions on every byte value.
    #[test]
    fn classes_match_the_rfc_definitions() {
        let tchars = b"!#$%&'*+-.^_`|~";
        for b in 0..=255u8 {
            let expect_t = b.is_ascii_alphanumeric() || tchars.contains(&b);
            assert_eq!(is_tchar(b), expect_t, "tchar {b:#x}");
            let expect_f = b == b'\t' || b == b' ' || (0x21..=0x7E).contains(&b) || b >= 0x80;
            assert_eq!(is_field_byte(b), expect_f, "field {b:#x}");
            let unreserved = b.is_ascii_alphanumeric() || b"-._~".contains(&b);
            let sub = b"!$&'()*+,;=".contains(&b);
            assert_eq!(is_reg_name(b), unreserved || sub, "reg-name {b:#x}");
            assert_eq!(
                is_pchar(b),
                unreserved || sub || b == b':' || b == b'@',
                "{b:#x}"
            );
            assert_eq!(is_path(b), is_pchar(b) || b == b'/', "path {b:#x}");
            assert_eq!(is_query(b), is_path(b) || b == b'?', "query {b:#x}");
        }
    }

    /// A token is one or more tchars, wherever a bad byte sits (the check works in words of 8).
    #[test]
    fn tokens() {
        assert!(!is_token(b""));
        for len in 1..=20 {
            let name = vec![b'a'; len];
            assert!(is_token(&name), "{len}");
            for at in 0..len {
                for bad in [b' ', b':', b'\0', b'"', 0x7F, 0x80] {
                    let mut name = name.clone();
                    name[at] = bad;
                    assert!(!is_token(&name), "{len} {at} {bad:#x}");
                }
            }
        }
    }

    /// Escapes need two hex digits; a `%` at the end or before non-hex is rejected.
    #[test]
    fn escapes() {
        let table: &[(&[u8], bool)] = &[
            (b"", true),
            (b"abc", true),
            (b"%20", true),
            (b"a%2fb", true),
            (b"%", false),
            (b"%2", false),
            (b"%zz", false),
            (b"%2g", false),
            (b"a b", false),
            (b"ok%41%42", true),
        ];
        for &(input, ok) in table {
            assert_eq!(valid_escaped(input, is_pchar), ok, "{input:?}");
        }
    }

    /// OWS trimming removes SP and HTAB only, on both sides.
    #[test]
    fn trimming() {
        assert_eq!(trim_ows(b" \t a b\t "), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows_range(b"  x "), (2, 3));
        assert_eq!(trim_ows_range(b"  "), (2, 2));
    }
}

//! The searches the head parser spends its time in, done eight bytes at a time: the end of a
//! run of field bytes (where a field line's CR should be), the next byte that can matter on a
//! request line (SP, CR, LF), and the colon after a field name.
//!
//! Used by [`super::RequestParser`] while it looks for line ends, and by the request-line and
//! field-line parsers. Each function answers exactly what the byte-by-byte definition would
//! (the unit tests compare them on every byte value at every position). They never read past
//! the end of the slice they are given, which for the parser is the head-size window.
//!
//! The trick ("SWAR", SIMD within a register): load eight bytes as one `u64`, and with a few
//! arithmetic operations flag the bytes below some small value; the lowest flag, found with
//! one `trailing_zeros`, is where the search stops. So a typical 30-byte line takes four word
//! tests and no byte loop. No `unsafe` is needed: `u64::from_le_bytes` of an 8-byte slice
//! reads the word (why words pay: docs/benchmarks.md, "Why the hot paths look the way they do").

use super::chars::is_field_byte;

/// `0x0101_0101_0101_0101`: one in every byte; multiplying a byte value by it repeats the byte.
const ONES: u64 = u64::MAX / 255;
/// `0x8080_8080_8080_8080`: the top bit of every byte.
const HIGHS: u64 = ONES * 0x80;

/// A mask with the top bit set in the lowest byte of `word` whose value is below `n`, and
/// perhaps in some bytes above it; zero if there is none. Exact for `n <= 128`.
///
/// Subtracting `n` from every byte at once sets the top bit of each byte that was below `n`
/// (it wraps around to 128 or more). It may also set the top bit of a byte that was already
/// 128 or more, so those are masked out with `!word`. A borrow only crosses into the next byte
/// after a byte that was below `n`, so no byte under the lowest such byte is ever flagged:
/// `trailing_zeros() / 8` of the mask is that byte's index (the word is little-endian).
#[inline]
const fn bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * n as u64) & !word & HIGHS
}

/// Like [`bytes_below`], for the bytes equal to `b` (XOR turns them into zero, "below 1").
#[inline]
const fn bytes_equal(word: u64, b: u8) -> u64 {
    bytes_below(word ^ (ONES * b as u64), 1)
}

/// [`bytes_below`]`(word, 0x20) | `[`bytes_equal`]`(word, 0x7F)`, one operation cheaper: the
/// two share the final `& !word & HIGHS` (XOR with 0x7F leaves every top bit as it was).
#[inline]
const fn controls_or_del(word: u64) -> u64 {
    let below = word.wrapping_sub(ONES * 0x20);
    let del = (word ^ (ONES * 0x7F)).wrapping_sub(ONES);
    (below | del) & !word & HIGHS
}

/// The eight bytes at `bytes[i..]` (`i < bytes.len()`) as one little-endian word; past the
/// end of `bytes`, zero bytes. Zero is below every bound the scans use, so the end of the
/// input stops a scan just like a stop byte would, and there is no separate loop for the last
/// few bytes.
#[inline]
pub(crate) fn word_at(bytes: &[u8], i: usize) -> u64 {
    let load = |at: usize| {
        let eight: Option<[u8; 8]> = bytes.get(at..at + 8).and_then(|s| s.try_into().ok());
        eight.map(u64::from_le_bytes)
    };
    if let Some(word) = load(i) {
        return word;
    }
    // Fewer than eight bytes left. Load the last eight bytes of the input and shift out the
    // ones before `i`: the shift brings in zeros at the top, which is the padding we want.
    if let Some(last) = bytes.len().checked_sub(8).and_then(|start| {
        let skipped = i - start; // 1..=7: `i` is past `start`, or the first load had worked
        load(start).map(|word| word >> (8 * skipped))
    }) {
        return last;
    }
    // The whole input is shorter than a word (the first bytes of a connection).
    bytes[i..]
        .iter()
        .rev()
        .fold(0, |word, &b| (word << 8) | u64::from(b))
}

/// Index of the lowest flagged byte of a non-zero mask from [`bytes_below`].
#[inline]
fn first_flagged(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The offset of the first byte at or after `from` that may not appear in a field line
/// (see [`is_field_byte`]: anything but VCHAR, obs-text, SP and HTAB), or `bytes.len()`.
///
/// For a well-formed field line this is its CR, and the line's bytes have been validated on
/// the way: finding the line end and checking its bytes is one pass.
#[inline]
pub(crate) fn skip_field_bytes(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() {
        // The bytes that are not field bytes are the controls (below 0x20) and DEL; HTAB is a
        // control that is allowed, so it stops the word test and is stepped over below.
        let word = word_at(bytes, i);
        let stops = controls_or_del(word);
        if stops == 0 {
            i += 8;
            continue;
        }
        let at = i + first_flagged(stops);
        match bytes.get(at) {
            Some(b'\t') => i = at + 1,
            Some(_) => return at,
            None => break,
        }
    }
    debug_assert!(bytes[from..].iter().all(|&b| is_field_byte(b)));
    bytes.len()
}

/// The offset of the first byte at or after `from` that is SP or a control (0x00..=0x20,
/// which includes CR and LF), or `bytes.len()`. The request-line scan only stops for SP and LF,
/// so it skips everything else with this.
#[inline]
pub(crate) fn skip_above_space(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < bytes.len() {
        let stops = bytes_below(word_at(bytes, i), 0x21);
        if stops != 0 {
            return (i + first_flagged(stops)).min(bytes.len());
        }
        i += 8;
    }
    bytes.len()
}

/// The offset of the first `needle` in `bytes[from..to]`, if any.
///
/// The words read may reach past `to` (up to the end of `bytes`): a line is searched inside the
/// whole buffer, so that its last word is usually a full one. A match past `to` is not reported.
#[inline]
pub(crate) fn find_byte(bytes: &[u8], from: usize, to: usize, needle: u8) -> Option<usize> {
    debug_assert!(from <= to && to <= bytes.len());
    let mut i = from;
    while i < to {
        let found = bytes_equal(word_at(bytes, i), needle);
        if found != 0 {
            // Also filters a zero needle matching the zero padding past the end of `bytes`.
            return Some(i + first_flagged(found)).filter(|&at| at < to);
        }
        i += 8;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word tests flag the right lowest byte, for every byte value at every position of a
    /// word, against backgrounds that do and do not stop.
    #[test]
    fn word_tests_find_the_first_byte() {
        for background in [0x00u8, 0x09, 0x20, 0x41, 0x7F, 0x80, 0xFF] {
            for b in 0..=255u8 {
                for pos in 0..8 {
                    let mut bytes = [background; 8];
                    bytes[pos] = b;
                    let word = u64::from_le_bytes(bytes);
                    let lowest = |mask: u64| (mask != 0).then(|| first_flagged(mask));
                    for n in [1u8, 0x20, 0x21, 0x80] {
                        let expect = bytes.iter().position(|&x| x < n);
                        assert_eq!(lowest(bytes_below(word, n)), expect, "{bytes:?} < {n:#x}");
                    }
                    let expect = bytes.iter().position(|&x| x == 0x7F);
                    assert_eq!(lowest(bytes_equal(word, 0x7F)), expect, "{bytes:?} == 0x7f");
                    let expect = bytes.iter().position(|&x| x < 0x20 || x == 0x7F);
                    assert_eq!(lowest(controls_or_del(word)), expect, "{bytes:?} ctl/del");
                }
            }
        }
    }

    /// A word loaded near the end, or from an input shorter than a word, is the bytes that are
    /// there followed by zeros.
    #[test]
    fn words_are_zero_padded() {
        let input: Vec<u8> = (1..=20).collect();
        for len in 0..=20 {
            for i in 0..len {
                let mut expect = [0u8; 8];
                let n = (len - i).min(8);
                expect[..n].copy_from_slice(&input[i..i + n]);
                let word = word_at(&input[..len], i);
                assert_eq!(word, u64::from_le_bytes(expect), "len {len} at {i}");
            }
        }
    }

    /// Both skips stop exactly where a byte loop would, for a stop byte of every value at
    /// every offset of a 40-byte run (so before, inside and after the word loop), from every
    /// starting offset of the first word.
    #[test]
    fn skips_match_the_byte_loops() {
        for b in 0..=255u8 {
            for pos in 0..40 {
                let mut bytes = vec![b'a'; 40];
                bytes[pos] = b;
                // A tab and obs-text elsewhere: field bytes that the word loop treats with care.
                bytes[(pos + 11) % 40] = b'\t';
                bytes[(pos + 23) % 40] = 0xC3;
                for from in 0..9 {
                    let field = (from..40).find(|&i| !is_field_byte(bytes[i])).unwrap_or(40);
                    assert_eq!(skip_field_bytes(&bytes, from), field, "{b:#x} at {pos}");
                    let above = (from..40).find(|&i| bytes[i] <= 0x20).unwrap_or(40);
                    assert_eq!(skip_above_space(&bytes, from), above, "{b:#x} at {pos}");
                    for to in [from, from + 1, 20, 33, 40] {
                        let found = (from..to).find(|&i| bytes[i] == b);
                        assert_eq!(
                            find_byte(&bytes, from, to, b),
                            found,
                            "find {b:#x} at {pos}"
                        );
                    }
                }
            }
        }
    }
}

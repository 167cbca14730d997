//! The two searches the head parser spends its time in, done eight bytes at a time: the end
//! of a run of field bytes (where a field line's CR should be), and the next byte that can
//! matter on a request line (SP, CR, LF).
//!
//! Used by [`super::RequestParser`] while it looks for line ends. Both functions answer exactly
//! what the byte-by-byte definition would (a unit test compares them on every byte value at
//! every position); the word-at-a-time part only skips, eight bytes at once, the stretches in
//! which no byte can stop the search.
//!
//! The trick ("SWAR", SIMD within a register): load eight bytes as one `u64` and ask with a few
//! arithmetic operations whether *any* of them is below some small value. No `unsafe` is
//! needed: `u64::from_le_bytes` of an 8-byte slice is a plain unaligned load once optimized.

use super::chars::is_field_byte;

/// `0x0101_0101_0101_0101`: one in every byte; multiplying a byte value by it repeats the byte.
const ONES: u64 = u64::MAX / 255;
/// `0x8080_8080_8080_8080`: the top bit of every byte.
const HIGHS: u64 = ONES * 0x80;

/// Does any byte of `word` hold a value below `n`? Exact for `n <= 128`.
///
/// Subtracting `n` from every byte at once sets the top bit of each byte that was below `n`
/// (it wraps around to 128 or more). It may also set the top bit of a byte that was already 128
/// or more, so those are masked out with `!word`. A borrow only crosses into the next byte
/// after a byte that was below `n`, so when the answer is "no" nothing spurious appears, and
/// when it is "yes" the lowest such byte is flagged for sure.
#[inline]
const fn any_byte_below(word: u64, n: u8) -> bool {
    word.wrapping_sub(ONES * n as u64) & !word & HIGHS != 0
}

/// Does any byte of `word` equal `b`? (XOR turns those bytes into zero, i.e. "below 1".)
#[inline]
const fn any_byte_equal(word: u64, b: u8) -> bool {
    any_byte_below(word ^ (ONES * b as u64), 1)
}

/// The eight bytes at `bytes[i..i + 8]` as one word, if there are eight.
#[inline]
fn word_at(bytes: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = bytes.get(i..i.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// The offset of the first byte at or after `from` that may not appear in a field line
/// (see [`is_field_byte`]: anything but VCHAR, obs-text, SP and HTAB), or `bytes.len()`.
///
/// For a well-formed field line this is its CR, and the line's bytes have been validated on
/// the way: finding the line end and checking its bytes is one pass.
#[inline]
pub(crate) fn skip_field_bytes(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    loop {
        // 1. Eight at a time while no byte is a control (below 0x20) or DEL. Field bytes that
        //    stop this loop anyway (only HTAB) are handled by step 2.
        while let Some(word) = word_at(bytes, i) {
            if any_byte_below(word, 0x20) || any_byte_equal(word, 0x7F) {
                break;
            }
            i += 8;
        }
        // 2. One at a time through the word that stopped step 1 (or the last few bytes).
        let end = (i + 8).min(bytes.len());
        while i < end {
            if !is_field_byte(bytes[i]) {
                return i;
            }
            i += 1;
        }
        if i == bytes.len() {
            return i;
        }
    }
}

/// The offset of the first byte at or after `from` that is SP or a control (0x00..=0x20,
/// which includes CR and LF), or `bytes.len()`. The request-line scan only stops for SP and LF,
/// so it skips everything else with this.
#[inline]
pub(crate) fn skip_above_space(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(word) = word_at(bytes, i) {
        if any_byte_below(word, 0x21) {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i] > 0x20 {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word tests agree with the byte-by-byte definition for every byte value at every
    /// position of a word, against every background byte.
    #[test]
    fn word_tests_match_bytes() {
        for background in [0x00u8, 0x20, 0x41, 0x7F, 0x80, 0xFF] {
            for b in 0..=255u8 {
                for pos in 0..8 {
                    let mut bytes = [background; 8];
                    bytes[pos] = b;
                    let word = u64::from_le_bytes(bytes);
                    for n in [1u8, 0x20, 0x21, 0x80] {
                        let expect = bytes.iter().any(|&x| x < n);
                        assert_eq!(any_byte_below(word, n), expect, "{bytes:?} < {n:#x}");
                    }
                    let expect = bytes.contains(&0x7F);
                    assert_eq!(any_byte_equal(word, 0x7F), expect, "{bytes:?} == 0x7f");
                }
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
                }
            }
        }
    }
}

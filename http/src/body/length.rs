//! The `Content-Length` body tracker: counts down the declared length.
//!
//! Made by [`super::BodyDecoder`] for [`crate::parse::BodyFraming::Length`]; the head parser
//! has already checked the length against the body limit.
//!
//! Invariant: it never consumes a byte past the declared length, so pipelined requests after
//! the body stay in the caller's buffer.

use super::Progress;

/// Counts down a `Content-Length` body.
///
/// ```
/// use spindle_http::body::LengthDecoder;
/// let mut body = LengthDecoder::new(5);
/// assert_eq!(body.decode(b"he").data, Some(0..2));
/// let p = body.decode(b"lloGET");
/// assert_eq!((p.consumed, p.done), (3, true));
/// assert_eq!(body.remaining(), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LengthDecoder {
    /// Body bytes not yet seen.
    remaining: u64,
}

impl LengthDecoder {
    /// A tracker for a body of `len` bytes.
    pub fn new(len: u64) -> LengthDecoder {
        LengthDecoder { remaining: len }
    }

    /// Take as much of `input` as still belongs to the body.
    pub fn decode(&mut self, input: &[u8]) -> Progress {
        // min() keeps n <= input.len(), so the cast back to usize cannot truncate.
        let n = self.remaining.min(input.len() as u64) as usize;
        self.remaining -= n as u64;
        Progress {
            consumed: n,
            data: (n > 0).then_some(0..n),
            done: self.remaining == 0,
        }
    }

    /// Body bytes still to come.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Whether the whole body has been seen.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces of every size add up to exactly the declared length, never more.
    #[test]
    fn counts_down_exactly() {
        let input = b"0123456789NEXT REQUEST";
        for piece in 1..=input.len() {
            let mut d = LengthDecoder::new(10);
            let (mut pos, mut body) = (0, Vec::new());
            while !d.is_done() {
                let end = (pos + piece).min(input.len());
                let p = d.decode(&input[pos..end]);
                if let Some(r) = p.data {
                    body.extend_from_slice(&input[pos..end][r]);
                }
                pos += p.consumed;
            }
            assert_eq!(body, b"0123456789", "piece {piece}");
            assert_eq!(pos, 10, "piece {piece}");
            assert_eq!(
                d.decode(b"more"),
                Progress {
                    consumed: 0,
                    data: None,
                    done: true
                }
            );
        }
    }

    /// A zero-length body is done before any input.
    #[test]
    fn empty_body() {
        let mut d = LengthDecoder::new(0);
        assert!(d.is_done());
        assert_eq!(
            d.decode(b"GET"),
            Progress {
                consumed: 0,
                data: None,
                done: true
            }
        );
    }
}

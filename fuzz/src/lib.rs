//! Helpers shared by the fuzz targets: how a fuzz input is cut into a head (limits, split
//! points) and a payload, and a strict parser for the server's responses.
//!
//! Input layout of the split targets (`head_splits`, `chunked_splits`):
//!
//! ```text
//! byte 0      selects the limits (see each target)
//! byte 1      n = byte % 32: how many split points follow
//! bytes 2..   n step bytes: the payload is cut every (step % 64) + 1 bytes, in turn
//! the rest    the payload
//! ```
//!
//! A seed is therefore `[0, 0]` followed by a request: no splits, default limits.

pub mod response;

/// A split target's input, decoded.
#[derive(Debug)]
pub struct SplitInput<'a> {
    /// Byte 0: which limits to use.
    pub selector: u8,
    /// Where the payload is cut, strictly increasing, each inside `1..payload.len()`.
    pub cuts: Vec<usize>,
    /// The bytes under test.
    pub payload: &'a [u8],
}

impl<'a> SplitInput<'a> {
    /// Decodes `data` as laid out in the module docs; `None` if it is too short.
    pub fn decode(data: &'a [u8]) -> Option<SplitInput<'a>> {
        let (&selector, rest) = data.split_first()?;
        let (&n, rest) = rest.split_first()?;
        let n = usize::from(n % 32).min(rest.len());
        let (steps, payload) = rest.split_at(n);
        let mut cuts = Vec::with_capacity(n);
        let mut at = 0;
        for &step in steps {
            at += usize::from(step % 64) + 1;
            if at >= payload.len() {
                break;
            }
            cuts.push(at);
        }
        Some(SplitInput {
            selector,
            cuts,
            payload,
        })
    }

    /// The payload as pieces: cut at every split point.
    pub fn pieces(&self) -> Vec<&'a [u8]> {
        let mut pieces = Vec::with_capacity(self.cuts.len() + 1);
        let mut from = 0;
        for &cut in &self.cuts {
            pieces.push(&self.payload[from..cut]);
            from = cut;
        }
        pieces.push(&self.payload[from..]);
        pieces
    }
}

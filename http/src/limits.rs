//! The size limits that keep a hostile client from making the server buffer without bound.
//!
//! [`crate::parse::RequestParser`] enforces the head limits while the head is still arriving;
//! [`crate::body`] enforces the body limits while the body streams. The connection owns one
//! [`Limits`] and hands it to both.
//!
//! Invariant: every limit is an inclusive maximum; exactly the limit is accepted, one more byte
//! (or field) is rejected.

/// Limits on what a client may send, with the status each produces when exceeded.
///
/// Change a field with struct update syntax:
///
/// ```
/// use spindle_http::Limits;
///
/// let limits = Limits { max_body_bytes: 64 * 1024, ..Limits::default() };
/// assert_eq!(limits.max_head_bytes, 16 * 1024);
/// assert_eq!(limits.max_body_bytes, 65536);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in a request head: the request line, the field lines and the blank line, plus any
    /// empty lines skipped before the request line. Exceeding it: 431. This bounds what a
    /// connection buffers before it knows the request; values above `u32::MAX` act as `u32::MAX`.
    pub max_head_bytes: usize,
    /// Header field lines in one head. Exceeding it: 431. Bounds the per-request field table.
    pub max_headers: usize,
    /// Bytes in the method token. A longer method is one the server cannot implement: 501
    /// (RFC 9112 §3), decided as soon as that many token bytes have arrived, so a client
    /// streaming a method without end gets 501 rather than filling the head (431). Raise it to
    /// route an extension method longer than this (the longest registered with IANA,
    /// `UPDATEREDIRECTREF`, is 17 bytes).
    pub max_method_bytes: usize,
    /// Bytes in the request-target. Exceeding it: 414, decided as soon as that many target
    /// bytes have arrived.
    pub max_target_bytes: usize,
    /// Bytes in a request body. A larger `Content-Length`: 413 at once; a chunked body: 413
    /// as soon as the announced chunk sizes add up to more.
    pub max_body_bytes: u64,
    /// Bytes in one chunk-size line (hex digits plus extensions, without CRLF). Exceeding it:
    /// 400. Extensions are checked against their grammar and otherwise ignored, so this only
    /// stops a client from streaming them forever.
    pub max_chunk_line_bytes: usize,
    /// Bytes in the trailer section after the last chunk (all lines and their CRLFs, without
    /// the final blank line). Exceeding it: 431. Trailers are skipped, not stored.
    pub max_trailer_bytes: usize,
}

impl Limits {
    /// The defaults: 16 KiB head, 100 fields, 32-byte method, 8 KiB target, 2 MiB body, 4 KiB chunk-size
    /// line, 8 KiB trailers.
    ///
    /// ```
    /// use spindle_http::Limits;
    /// assert_eq!(Limits::DEFAULT, Limits::default());
    /// assert_eq!(Limits::DEFAULT.max_headers, 100);
    /// ```
    pub const DEFAULT: Limits = Limits {
        max_head_bytes: 16 * 1024,
        max_headers: 100,
        max_method_bytes: 32,
        max_target_bytes: 8 * 1024,
        max_body_bytes: 2 * 1024 * 1024,
        max_chunk_line_bytes: 4 * 1024,
        max_trailer_bytes: 8 * 1024,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

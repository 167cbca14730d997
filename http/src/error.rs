//! The one error type of the request parser and the body decoders: what went wrong, and which
//! status code the server answers with.
//!
//! [`crate::parse`] and [`crate::body`] return [`ParseError`]; the connection turns it into a
//! response with [`ParseError::status`] and [`ParseError::reason`], then closes the connection.
//!
//! Invariants:
//! - every variant maps to exactly one of 400, 413, 414, 417, 431, 501, 505;
//! - every variant closes the connection: once the bytes on a connection could not be framed as
//!   HTTP, nothing after them can be trusted to start a new request (that is how request
//!   smuggling works), so [`ParseError::close_connection`] is `true` for all of them. (A 417
//!   is well framed, but its body, if any, was never asked for: closing is the simple answer.)

use std::fmt;

/// Why a request head or body was rejected. Each variant names one rule; [`status`](Self::status)
/// says which status code answers it.
///
/// ```
/// use spindle_http::{ParseError, RequestParser};
///
/// let mut parser = RequestParser::default();
/// let err = parser.parse(b"GET / HTTP/1.1\r\nHost : example.com\r\n\r\n").unwrap_err();
/// assert_eq!(err, ParseError::WhitespaceBeforeColon);
/// assert_eq!(err.status(), 400);
/// assert!(err.close_connection());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseError {
    // ---- 400 Bad Request: the request line ----
    /// The request line is not `method SP request-target SP HTTP-version`.
    InvalidRequestLine,
    /// The method is empty or not a token.
    InvalidMethod,
    /// The request-target has a byte or a `%` escape that its form does not allow.
    InvalidTarget,
    /// The request-target's form does not fit the method: `*` without `OPTIONS`,
    /// `host:port` without `CONNECT`, or `CONNECT` without `host:port`.
    TargetFormMismatch,
    /// The version is not `HTTP/` DIGIT `.` DIGIT.
    InvalidVersion,

    // ---- 400 Bad Request: line structure ----
    /// A line ended with LF alone, without the CR before it.
    BareLf,
    /// A CR that is not directly followed by LF.
    BareCr,

    // ---- 400 Bad Request: header fields ----
    /// A field line starts with whitespace: obsolete line folding, or whitespace before the
    /// first field.
    ObsFold,
    /// Whitespace between a field name and its colon (`Host : x`).
    WhitespaceBeforeColon,
    /// A field name is empty or not a token, or the line has no colon.
    InvalidFieldName,
    /// A field value holds NUL, another control byte (other than HTAB), or DEL.
    InvalidFieldValue,
    /// An HTTP/1.1 request without a `Host` field.
    MissingHost,
    /// More than one `Host` field line.
    MultipleHost,
    /// A `Host` value that is not `uri-host [ ":" port ]`.
    InvalidHost,
    /// A `Content-Length` that is not a list of decimal digits, or overflows `u64`.
    InvalidContentLength,
    /// Several `Content-Length` values that differ.
    ConflictingContentLength,
    /// `Content-Length` and `Transfer-Encoding` in one request: the framing is ambiguous.
    ContentLengthWithTransferEncoding,
    /// A `Transfer-Encoding` list with an empty or malformed element.
    InvalidTransferEncoding,
    /// `Transfer-Encoding` whose final coding is not `chunked`: the body length is unknowable.
    ChunkedNotFinal,
    /// `chunked` applied more than once.
    ChunkedRepeated,
    /// `Transfer-Encoding` in an HTTP/1.0 request, whose framing RFC 9112 calls faulty.
    TransferEncodingInHttp10,
    /// A `Connection` value that is not a comma list of tokens.
    InvalidConnection,

    // ---- 400 Bad Request: chunked body ----
    /// A chunk-size line with no hex digits, or junk after them that is not an extension.
    InvalidChunkSize,
    /// A chunk size that does not fit in `u64`.
    ChunkSizeOverflow,
    /// A chunk-size line (size plus extensions) longer than the limit.
    ChunkLineTooLong,
    /// A chunk extension with a byte no extension may hold.
    InvalidChunkExtension,
    /// A chunk's data is not followed by exactly CRLF.
    MissingChunkCrlf,
    /// A trailer line that is not `name: value`.
    InvalidTrailer,

    // ---- 413 Content Too Large ----
    /// The body (declared by `Content-Length`, or summed over chunks) exceeds the limit.
    BodyTooLarge,

    // ---- 414 URI Too Long ----
    /// The request-target exceeds the limit.
    TargetTooLong,

    // ---- 431 Request Header Fields Too Large ----
    /// The head exceeds the limit before its blank line arrived.
    HeadTooLarge,
    /// More header fields than the limit.
    TooManyFields,
    /// The chunked body's trailer section exceeds the limit.
    TrailersTooLarge,

    // ---- 417 Expectation Failed ----
    /// An `Expect` member other than `100-continue` (RFC 9110 §10.1.1).
    UnsupportedExpectation,

    // ---- 501 Not Implemented ----
    /// A transfer coding other than `chunked` (we decode no others).
    UnsupportedTransferCoding,
    /// A method token longer than [`crate::Limits::max_method_bytes`]: longer than any
    /// method the server implements (RFC 9112 §3).
    MethodTooLong,

    // ---- 505 HTTP Version Not Supported ----
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1.
    UnsupportedVersion,
}

impl ParseError {
    /// The status code to answer with: 400, 413, 414, 417, 431, 501 or 505.
    ///
    /// ```
    /// use spindle_http::ParseError;
    /// assert_eq!(ParseError::TargetTooLong.status(), 414);
    /// assert_eq!(ParseError::UnsupportedVersion.status(), 505);
    /// ```
    pub fn status(self) -> u16 {
        use ParseError::*;
        match self {
            BodyTooLarge => 413,
            TargetTooLong => 414,
            UnsupportedExpectation => 417,
            HeadTooLarge | TooManyFields | TrailersTooLarge => 431,
            UnsupportedTransferCoding | MethodTooLong => 501,
            UnsupportedVersion => 505,
            InvalidRequestLine
            | InvalidMethod
            | InvalidTarget
            | TargetFormMismatch
            | InvalidVersion
            | BareLf
            | BareCr
            | ObsFold
            | WhitespaceBeforeColon
            | InvalidFieldName
            | InvalidFieldValue
            | MissingHost
            | MultipleHost
            | InvalidHost
            | InvalidContentLength
            | ConflictingContentLength
            | ContentLengthWithTransferEncoding
            | InvalidTransferEncoding
            | ChunkedNotFinal
            | ChunkedRepeated
            | TransferEncodingInHttp10
            | InvalidConnection
            | InvalidChunkSize
            | ChunkSizeOverflow
            | ChunkLineTooLong
            | InvalidChunkExtension
            | MissingChunkCrlf
            | InvalidTrailer => 400,
        }
    }

    /// Whether the connection must close after the error response. Always `true`: after a
    /// framing error the next byte's place in the stream is unknown (see the module docs).
    ///
    /// ```
    /// use spindle_http::ParseError;
    /// assert!(ParseError::BodyTooLarge.close_connection());
    /// ```
    pub fn close_connection(self) -> bool {
        true
    }

    /// A short English sentence for logs and for the body of the error response.
    ///
    /// ```
    /// use spindle_http::ParseError;
    /// assert_eq!(ParseError::MissingHost.reason(), "HTTP/1.1 request without a Host field");
    /// ```
    pub fn reason(self) -> &'static str {
        use ParseError::*;
        match self {
            InvalidRequestLine => "request line is not `method SP target SP version`",
            InvalidMethod => "method is not a token",
            InvalidTarget => "invalid request-target",
            TargetFormMismatch => "request-target form does not fit the method",
            InvalidVersion => "invalid HTTP version",
            BareLf => "line ends with LF without CR",
            BareCr => "CR not followed by LF",
            ObsFold => "field line starts with whitespace (obsolete line folding)",
            WhitespaceBeforeColon => "whitespace between field name and colon",
            InvalidFieldName => "invalid field name",
            InvalidFieldValue => "invalid byte in field value",
            MissingHost => "HTTP/1.1 request without a Host field",
            MultipleHost => "more than one Host field",
            InvalidHost => "invalid Host value",
            InvalidContentLength => "invalid Content-Length",
            ConflictingContentLength => "conflicting Content-Length values",
            ContentLengthWithTransferEncoding => "both Content-Length and Transfer-Encoding",
            InvalidTransferEncoding => "invalid Transfer-Encoding list",
            ChunkedNotFinal => "final transfer coding is not chunked",
            ChunkedRepeated => "chunked applied more than once",
            TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            InvalidConnection => "invalid Connection list",
            InvalidChunkSize => "invalid chunk size",
            ChunkSizeOverflow => "chunk size overflows",
            ChunkLineTooLong => "chunk-size line too long",
            InvalidChunkExtension => "invalid chunk extension",
            MissingChunkCrlf => "chunk data not followed by CRLF",
            InvalidTrailer => "invalid trailer field",
            BodyTooLarge => "request body too large",
            TargetTooLong => "request-target too long",
            HeadTooLarge => "request head too large",
            TooManyFields => "too many header fields",
            TrailersTooLarge => "trailer section too large",
            UnsupportedExpectation => "expectation other than 100-continue",
            UnsupportedTransferCoding => "transfer coding not implemented",
            MethodTooLong => "method longer than any implemented",
            UnsupportedVersion => "HTTP version not supported",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::ParseError::{self, *};

    /// Every variant maps to one of the seven statuses the design allows, and always closes.
    #[test]
    fn statuses_are_the_allowed_seven() {
        let all = [
            InvalidRequestLine,
            InvalidMethod,
            InvalidTarget,
            TargetFormMismatch,
            InvalidVersion,
            BareLf,
            BareCr,
            ObsFold,
            WhitespaceBeforeColon,
            InvalidFieldName,
            InvalidFieldValue,
            MissingHost,
            MultipleHost,
            InvalidHost,
            InvalidContentLength,
            ConflictingContentLength,
            ContentLengthWithTransferEncoding,
            InvalidTransferEncoding,
            ChunkedNotFinal,
            ChunkedRepeated,
            TransferEncodingInHttp10,
            InvalidConnection,
            InvalidChunkSize,
            ChunkSizeOverflow,
            ChunkLineTooLong,
            InvalidChunkExtension,
            MissingChunkCrlf,
            InvalidTrailer,
            BodyTooLarge,
            TargetTooLong,
            HeadTooLarge,
            TooManyFields,
            TrailersTooLarge,
            UnsupportedExpectation,
            UnsupportedTransferCoding,
            MethodTooLong,
            UnsupportedVersion,
        ];
        for e in all {
            assert!(
                [400, 413, 414, 417, 431, 501, 505].contains(&e.status()),
                "{e:?}"
            );
            assert!(e.close_connection());
            assert!(!e.reason().is_empty());
            assert!(e.to_string().ends_with(&format!("({})", e.status())));
        }
        let count = |s: u16| all.iter().filter(|e| e.status() == s).count();
        assert_eq!(count(413), 1);
        assert_eq!(count(414), 1);
        assert_eq!(count(417), 1);
        assert_eq!(count(431), 3);
        assert_eq!(count(501), 2);
        assert_eq!(count(505), 1);
        let _: &dyn std::error::Error = &ParseError::BareCr;
    }
}

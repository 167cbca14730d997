//! [`Response`]: what a handler returns: a status, header fields, and a body of bytes or a stream.
//!
//! A handler builds a `Response` (or returns anything that is [`IntoResponse`]); the connection
//! (`server/conn.rs`) serializes it with `write/mod.rs`, adding the framing fields itself
//! (`content-length` or `transfer-encoding: chunked`, `connection`, `date`, `server`), so a
//! handler can never frame a response wrongly. A streamed body is produced by a task that
//! sends chunks through a bounded channel: the ASGI `send` of the seed notes.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;

use spindle::sync::mpsc;

/// An HTTP response under construction.
///
/// ```
/// use spindle_http::Response;
/// let r = Response::text("hello").with_status(201).with_header("x-kind", "greeting");
/// assert_eq!(r.status(), 201);
/// assert_eq!(r.header("x-kind"), Some("greeting"));
/// assert_eq!(r.body_bytes(), Some(&b"hello"[..]));
/// ```
pub struct Response {
    /// The status code (100..=999 are representable; the writer emits any three-digit code).
    status: u16,
    /// The `content-type` field, kept apart from `headers` so that the common response (a
    /// static text with a content type) needs no allocation at all.
    content_type: Option<Cow<'static, str>>,
    /// Other header fields in insertion order. Framing fields set here are ignored by the writer.
    headers: Vec<(Cow<'static, str>, String)>,
    /// The payload.
    body: ResponseBody,
}

/// The payload of a [`Response`].
pub enum ResponseBody {
    /// No body at all.
    Empty,
    /// A complete body, sent with `content-length`.
    Full(Vec<u8>),
    /// A complete body that lives for the whole program (no allocation), sent with `content-length`.
    Static(&'static [u8]),
    /// Chunks produced by a task, sent chunked on HTTP/1.1 and close-delimited on HTTP/1.0.
    Stream(mpsc::Receiver<Vec<u8>>),
}

/// Sends chunks of a streamed response body. Returned to the producer closure of
/// [`Response::stream`]; sending fails once the client has gone away.
#[derive(Debug)]
pub struct BodySender {
    /// The connection reads the other end.
    tx: mpsc::Sender<Vec<u8>>,
}

/// The client went away (or the connection gave up on the response): stop producing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientGone;

impl fmt::Display for ClientGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the client is gone")
    }
}

impl std::error::Error for ClientGone {}

impl BodySender {
    /// Queues one chunk (waits while 16 chunks are queued and unsent: back-pressure).
    /// Empty chunks are skipped (an empty chunk would end a chunked body).
    pub async fn send(&self, chunk: impl Into<Vec<u8>>) -> Result<(), ClientGone> {
        let chunk = chunk.into();
        if chunk.is_empty() {
            return Ok(());
        }
        self.tx.send(chunk).await.map_err(|_| ClientGone)
    }
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            content_type: None,
            headers: Vec::new(),
            body: ResponseBody::Empty,
        }
    }

    /// 200 with a text body that lives for the whole program: no allocation.
    ///
    /// ```
    /// use spindle_http::Response;
    /// let r = Response::static_text("Hello, World!");
    /// assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    /// assert_eq!(r.body_bytes(), Some(&b"Hello, World!"[..]));
    /// ```
    pub fn static_text(body: &'static str) -> Response {
        Response {
            status: 200,
            content_type: Some(Cow::Borrowed("text/plain; charset=utf-8")),
            headers: Vec::new(),
            body: ResponseBody::Static(body.as_bytes()),
        }
    }

    /// 200 with a UTF-8 text body (`content-type: text/plain; charset=utf-8`).
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .with_static_content_type("text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// 200 with an HTML body.
    pub fn html(body: impl Into<String>) -> Response {
        Response::new(200)
            .with_static_content_type("text/html; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// 200 with raw bytes (`content-type: application/octet-stream`).
    pub fn bytes(body: impl Into<Vec<u8>>) -> Response {
        Response::new(200)
            .with_static_content_type("application/octet-stream")
            .with_body(body.into())
    }

    /// 200 with `value` serialized as JSON (`content-type: application/json`).
    /// A value that cannot be serialized gives a 500.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(200)
                .with_static_content_type("application/json")
                .with_body(body),
            Err(e) => {
                Response::text(format!("could not serialize the response: {e}")).with_status(500)
            }
        }
    }

    /// 200 with a body streamed by `producer`, which runs as its own task and sends chunks
    /// through the [`BodySender`] it is given. The response head is written at once; each
    /// chunk is written as it arrives.
    ///
    /// ```no_run
    /// use spindle_http::Response;
    /// let r = Response::stream("text/plain", |tx| async move {
    ///     for i in 0..3 {
    ///         if tx.send(format!("chunk {i}\n")).await.is_err() {
    ///             return; // client gone
    ///         }
    ///     }
    /// });
    /// ```
    pub fn stream<F, Fut>(content_type: &str, producer: F) -> Response
    where
        F: FnOnce(BodySender) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(16);
        spindle::spawn(producer(BodySender { tx }));
        let mut r = Response::new(200).with_header("content-type", content_type.to_string());
        r.body = ResponseBody::Stream(rx);
        r
    }

    /// Replaces the body with chunks read from `rx`, written as they come (`Response::sse`).
    pub(crate) fn with_stream_body(mut self, rx: mpsc::Receiver<Vec<u8>>) -> Response {
        self.body = ResponseBody::Stream(rx);
        self
    }

    /// Sets the status.
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header field (names are sent as given; use lowercase).
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Response {
        self.insert_header(name, value);
        self
    }

    /// Sets the content type to one of the server's own constants: kept as a `&'static str`,
    /// so the response needs no allocation for it and the writer can recognise a repeated head
    /// (`write::write_full`). INVARIANT: `value` is a valid field value (callers pass literals).
    fn with_static_content_type(mut self, value: &'static str) -> Response {
        self.content_type = Some(Cow::Borrowed(value));
        self
    }

    /// Replaces the body with complete bytes.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = ResponseBody::Full(body.into());
        self
    }

    /// Sets header `name` to `value`, replacing any fields of that name (case-insensitive).
    ///
    /// ```
    /// use spindle_http::Response;
    /// let r = Response::bytes(vec![1, 2]).set_header("content-type", "image/png");
    /// assert_eq!(r.headers().filter(|(n, _)| *n == "content-type").count(), 1);
    /// assert_eq!(r.header("content-type"), Some("image/png"));
    /// ```
    pub fn set_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Response {
        let name = name.into();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.insert_header(name, value);
        self
    }

    /// Adds a header field in place. `content-type` is kept once: setting it again replaces it.
    pub fn insert_header(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) {
        let name = name.into();
        if name.eq_ignore_ascii_case("content-type") {
            self.content_type = Some(Cow::Owned(value.into()));
        } else {
            self.headers.push((name, value.into()));
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Sets the status in place.
    pub fn set_status(&mut self, status: u16) {
        self.status = status;
    }

    /// The first value of header `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        if name.eq_ignore_ascii_case("content-type") {
            return self.content_type.as_deref();
        }
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header field, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let content_type = self.content_type.as_deref().map(|v| ("content-type", v));
        content_type
            .into_iter()
            .chain(self.headers.iter().map(|(n, v)| (n.as_ref(), v.as_str())))
    }

    /// For the writer: the `content-type` value and whether it is one of our own constants
    /// (set by `text`, `json`, ...; nothing else is `Cow::Borrowed`), so it needs no check;
    /// then the other fields.
    pub(crate) fn head_parts(&self) -> (Option<(&str, bool)>, impl Iterator<Item = (&str, &str)>) {
        let content_type = self
            .content_type
            .as_ref()
            .map(|v| (v.as_ref(), matches!(v, Cow::Borrowed(_))));
        (
            content_type,
            self.headers.iter().map(|(n, v)| (n.as_ref(), v.as_str())),
        )
    }

    /// For a head that depends only on the status, the body length and a static content type
    /// (no other fields): `Some(content type)`; `None` for any other head. Lets the writer
    /// recognise a head it has just rendered (`write::write_full`).
    pub(crate) fn static_head_parts(&self) -> Option<Option<&'static str>> {
        if !self.headers.is_empty() {
            return None;
        }
        match &self.content_type {
            None => Some(None),
            Some(Cow::Borrowed(ct)) => Some(Some(ct)),
            Some(Cow::Owned(_)) => None,
        }
    }

    /// The complete body, if it is not streamed.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body {
            ResponseBody::Full(b) => Some(b),
            ResponseBody::Static(b) => Some(b),
            ResponseBody::Empty => Some(&[]),
            ResponseBody::Stream(_) => None,
        }
    }

    /// Drops a response the connection has serialized. One that owns no heap memory (a static
    /// text with a static content type, the common case on a busy route) is forgotten rather
    /// than dropped field by field, since nothing would be freed (why: docs/benchmarks.md, "Why the hot paths look the way they do").
    pub(crate) fn discard(self) {
        let owns_nothing = matches!(self.content_type, None | Some(Cow::Borrowed(_)))
            && self.headers.capacity() == 0
            && matches!(self.body, ResponseBody::Empty | ResponseBody::Static(_));
        if owns_nothing {
            std::mem::forget(self);
        }
    }

    /// Takes the body out (for the writer), leaving it empty.
    pub(crate) fn take_body(&mut self) -> ResponseBody {
        std::mem::replace(&mut self.body, ResponseBody::Empty)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseBody::Empty => f.write_str("Empty"),
            ResponseBody::Full(b) => write!(f, "Full({} bytes)", b.len()),
            ResponseBody::Static(b) => write!(f, "Static({} bytes)", b.len()),
            ResponseBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// Anything a handler may return.
///
/// ```
/// use spindle_http::{IntoResponse, Response};
/// assert_eq!("hi".into_response().status(), 200);
/// assert_eq!((404, "no such user").into_response().status(), 404);
/// let r: Result<&str, (u16, &str)> = Err((409, "taken"));
/// assert_eq!(r.into_response().status(), 409);
/// ```
pub trait IntoResponse {
    /// Converts into a [`Response`].
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::static_text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(200)
    }
}

impl IntoResponse for u16 {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<B: IntoResponse> IntoResponse for (u16, B) {
    fn into_response(self) -> Response {
        self.1.into_response().with_status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// The standard reason phrase for `status` (empty for unknown codes; the phrase is optional).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

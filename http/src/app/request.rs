//! [`Request`]: what a handler receives: the parsed head, path parameters, the body, and a
//! place to put background tasks.
//!
//! Accessors borrow from the parsed head ([`RequestHead`]), so reading the method, path, or a
//! header costs no allocation. Query strings and cookies are parsed on demand (`extract.rs`).

use std::net::SocketAddr;

use crate::app::background::BackgroundTasks;
use crate::app::http_error::HttpError;
use crate::app::incoming::Body;
use crate::parse::{Method, RequestHead, Version};

/// An HTTP request as a handler sees it.
#[derive(Debug)]
pub struct Request {
    /// The parsed request line and header fields; its allocation also carries the
    /// `{name}` segments captured by the router and the client's address, which are rarely
    /// read, so that a request stays small (40 bytes): it moves by value from the connection
    /// through the router into the handler's future.
    head: RequestHead,
    /// The body, read lazily.
    body: Body,
    /// Jobs to run after the response is written.
    background: BackgroundTasks,
}

impl Request {
    /// A request from a parsed head and a body (the connection builds these; tests may too).
    pub fn new(head: RequestHead, body: Body) -> Request {
        Request {
            head,
            body,
            background: BackgroundTasks::default(),
        }
    }

    /// A request whose background jobs go to `background` (the connection reuses one list).
    pub(crate) fn with_background(
        head: RequestHead,
        body: Body,
        background: BackgroundTasks,
    ) -> Request {
        Request {
            head,
            body,
            background,
        }
    }

    /// Records the client's address.
    pub(crate) fn set_remote_addr(&mut self, addr: SocketAddr) {
        self.head.set_peer(addr);
    }

    /// Sets the path parameters (the router does this before calling the handler).
    pub fn set_params(&mut self, params: Vec<(String, String)>) {
        self.head.set_params(params);
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.head.method()
    }

    /// The method's name as received (also for extension methods).
    pub fn method_str(&self) -> &str {
        self.head.method_str()
    }

    /// The request target as received (`/path?query`, or absolute-form).
    pub fn target(&self) -> &str {
        self.head.target()
    }

    /// The path as bytes (for the router).
    pub(crate) fn path_bytes(&self) -> &[u8] {
        self.head.path_bytes()
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The raw query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.head.query()
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.head.version()
    }

    /// The parsed head (every header field in order, framing facts).
    pub fn head(&self) -> &RequestHead {
        &self.head
    }

    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header_str(name)
    }

    /// A path parameter captured by the router (`/users/{id}` -> `param("id")`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.head
            .params()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every path parameter, in path order.
    pub fn params(&self) -> &[(String, String)] {
        self.head.params()
    }

    /// The query string as decoded `(name, value)` pairs, in order (`+` is a space, `%XX` decoded).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query()
            .map(crate::app::extract::query_pairs)
            .unwrap_or_default()
    }

    /// The first value of query parameter `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Every cookie from the `Cookie` header fields, as `(name, value)` pairs in order.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.head
            .headers_named("cookie")
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(crate::app::extract::cookie_pairs)
            .collect()
    }

    /// The value of cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.head.peer()
    }

    /// The jobs to run after the response is written (FastAPI's `BackgroundTasks`).
    pub fn background(&self) -> &BackgroundTasks {
        &self.background
    }

    /// The body, to read it chunk by chunk (`body_mut().chunk().await`).
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Takes the body out, leaving an empty one.
    pub fn take_body(&mut self) -> Body {
        std::mem::replace(&mut self.body, Body::empty())
    }

    /// Replaces the body (e.g. with bytes already read).
    pub fn set_body(&mut self, body: Body) {
        self.body = body;
    }

    /// The whole body as bytes.
    pub async fn bytes(&mut self) -> Result<Vec<u8>, HttpError> {
        self.body.bytes().await
    }

    /// The whole body as UTF-8 text (400 if it is not UTF-8).
    pub async fn text(&mut self) -> Result<String, HttpError> {
        let bytes = self.bytes().await?;
        String::from_utf8(bytes)
            .map_err(|_| HttpError::new(400, "the request body is not valid UTF-8"))
    }

    /// The whole body parsed as JSON into `T` (422 with the parser's message if it does not fit).
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, HttpError> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| HttpError::new(422, format!("invalid JSON: {e}")))
    }
}

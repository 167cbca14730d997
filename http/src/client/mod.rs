//! `spindle_http::client`: an async HTTP/1.1 client on the spindle runtime (the role of Python's
//! httpx or hyper's client): [`Client::new`], `client.get(url).header(k, v).send().await`,
//! [`Response`] with status, headers and a body read as bytes, text, JSON or chunk by chunk.
//!
//! Talks to: `url` (what to connect to), `conn` (one connection: send, read a head), `parse`
//! (strict response parsing and body framing), `pool` (keep-alive connections per host, and the
//! per-host limit), `error` (what can go wrong); `spindle::time::timeout` for every deadline.
//!
//! Scope: `http://` only. TLS (`https://`) is out of scope and refused with
//! [`Error::UnsupportedScheme`]. One request at a time per connection unless
//! [`ClientBuilder::pipeline_depth`] is above 1: then idempotent requests to one host share
//! pipelined connections (`pipeline`), up to that many written ahead of their responses.
//!
//! # Retries, and why they are safe
//! A pooled connection may be closed by the server at the moment we reuse it. A request is sent
//! again on a fresh connection (once) only when the server cannot have acted on it:
//! * no byte of it was accepted by the socket (any method), or
//! * the connection was reused, the whole request was sent, the server closed or reset the
//!   connection without one byte of response, *and* the method is idempotent (GET, HEAD, PUT,
//!   DELETE, OPTIONS, TRACE: RFC 9110 §9.2.2), so running it twice is harmless.
//!
//! A POST in the second situation fails with [`Error::Closed`] instead: it may have been
//! processed, and only the caller can know whether repeating it is right.
//!
//! Pipelined requests (all idempotent) are sent again once, on another connection, when they
//! were never written or were written and never answered because the connection ended; the
//! request whose answer was being read when it broke mid-way gets the error.
//!
//! ```no_run
//! use spindle_http::client::Client;
//!
//! spindle::Runtime::new().unwrap().block_on(async {
//!     let client = Client::new();
//!     let response = client
//!         .get("http://127.0.0.1:8080/users/7")
//!         .header("accept", "text/plain")
//!         .send()
//!         .await?;
//!     println!("{} {:?}", response.status(), response.headers().get("content-type"));
//!     println!("{}", response.text().await?);
//!     Ok::<_, spindle_http::client::Error>(())
//! })
//! .unwrap();
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spindle::net::TcpStream;
use spindle::time::timeout;

mod conn;
mod error;
mod parse;
mod pipeline;
mod pool;
mod url;

pub use error::{Error, ParseError, Phase};
pub use parse::{
    framing, keep_alive, parse_head, parse_head_summary, BodyDecoder, Decoded, Framing, HeadLimits,
    HeadSummary, Headers, ResponseHead,
};
pub use url::Url;

use conn::{Conn, Failure};
use pool::{Pool, PoolConfig};
use url::Key;

/// An HTTP client with a keep-alive connection pool. Cheap to clone: clones share the pool.
///
/// ```no_run
/// # spindle::Runtime::new().unwrap().block_on(async {
/// let client = spindle_http::client::Client::new();
/// let body = client.get("http://127.0.0.1:8080/").send().await?.bytes().await?;
/// # let _ = body; Ok::<_, spindle_http::client::Error>(()) }).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    /// Settings and pool, shared by clones.
    inner: Arc<Inner>,
}

/// What every clone of a [`Client`] shares.
#[derive(Debug)]
struct Inner {
    /// Idle connections and the per-host limit.
    pool: Pool,
    /// Deadline for a TCP connect.
    connect_timeout: Duration,
    /// Deadline from sending a request to its response head, and for each body read.
    timeout: Duration,
    /// Limits on a response head.
    head_limits: HeadLimits,
    /// Requests written ahead of their responses on one connection (1: no pipelining).
    pipeline_depth: usize,
    /// How long an idle connection is kept (also ends an idle pipelined connection).
    idle_timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("connect_timeout", &self.inner.connect_timeout)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

/// Settings for a [`Client`].
///
/// ```
/// use std::time::Duration;
/// let client = spindle_http::client::Client::builder()
///     .connect_timeout(Duration::from_secs(2))
///     .timeout(Duration::from_secs(10))
///     .pool_idle_timeout(Duration::from_secs(30))
///     .pool_max_idle_per_host(8)
///     .max_connections_per_host(64)
///     .build();
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    /// The pool settings being built.
    pool: PoolConfig,
    /// See [`ClientBuilder::connect_timeout`].
    connect_timeout: Duration,
    /// See [`ClientBuilder::timeout`].
    timeout: Duration,
    /// See [`ClientBuilder::max_head_bytes`].
    head_limits: HeadLimits,
    /// See [`ClientBuilder::pipeline_depth`].
    pipeline_depth: usize,
}

impl ClientBuilder {
    /// Deadline for opening a TCP connection (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> ClientBuilder {
        self.connect_timeout = d;
        self
    }

    /// Deadline from sending a request until its response head has arrived, and for each
    /// read of its body (default 30 s).
    pub fn timeout(mut self, d: Duration) -> ClientBuilder {
        self.timeout = d;
        self
    }

    /// How long an idle keep-alive connection is kept for reuse (default 90 s).
    pub fn pool_idle_timeout(mut self, d: Duration) -> ClientBuilder {
        self.pool.idle_timeout = d;
        self
    }

    /// Most idle connections kept per host (default 32; 0 turns keep-alive reuse off).
    pub fn pool_max_idle_per_host(mut self, n: usize) -> ClientBuilder {
        self.pool.max_idle_per_host = n;
        self
    }

    /// Most requests in flight per host at once; more wait for a free slot (default: no limit).
    pub fn max_connections_per_host(mut self, n: usize) -> ClientBuilder {
        self.pool.max_connections_per_host = Some(n.max(1));
        self
    }

    /// Largest response head accepted, in bytes (default 64 KiB).
    pub fn max_head_bytes(mut self, n: usize) -> ClientBuilder {
        self.head_limits.max_head_bytes = n;
        self
    }

    /// HTTP/1.1 pipelining: up to `n` requests written on one connection before their
    /// responses are read (default 1: none). Only idempotent methods (GET, HEAD, PUT, DELETE,
    /// OPTIONS, TRACE) are pipelined; others keep one request per connection. Responses are
    /// matched to requests in order; a pipelined response's body is read whole before the next
    /// one (so [`Response::chunk`] then returns it from memory). With pipelining,
    /// [`max_connections_per_host`](ClientBuilder::max_connections_per_host) caps the
    /// pipelined connections per host; when all are full, requests queue on the least loaded.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let client = spindle_http::client::Client::builder()
    ///     .pipeline_depth(4)
    ///     .max_connections_per_host(1)
    ///     .build();
    /// // Four GETs at once: written back to back on one connection.
    /// let urls = ["/a", "/b", "/c", "/d"].map(|p| format!("http://127.0.0.1:8080/users{p}"));
    /// let answers = spindle::future::join_all(urls.iter().map(|u| client.get(u).send())).await;
    /// for a in answers {
    ///     println!("{}", a?.text().await?);
    /// }
    /// # Ok::<_, spindle_http::client::Error>(()) }).unwrap();
    /// ```
    pub fn pipeline_depth(mut self, n: usize) -> ClientBuilder {
        self.pipeline_depth = n.max(1);
        self
    }

    /// The client.
    pub fn build(self) -> Client {
        Client {
            inner: Arc::new(Inner {
                idle_timeout: self.pool.idle_timeout,
                pool: Pool::new(self.pool),
                connect_timeout: self.connect_timeout,
                timeout: self.timeout,
                head_limits: self.head_limits,
                pipeline_depth: self.pipeline_depth,
            }),
        }
    }
}

impl Client {
    /// A client with the default settings (see [`ClientBuilder`]).
    pub fn new() -> Client {
        Client::builder().build()
    }

    /// Settings to build a client from.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            pool: PoolConfig {
                max_idle_per_host: 32,
                max_connections_per_host: None,
                idle_timeout: Duration::from_secs(90),
            },
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            head_limits: HeadLimits::default(),
            pipeline_depth: 1,
        }
    }

    /// A GET request to `url`.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request("GET", url)
    }

    /// A POST request to `url`.
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request("POST", url)
    }

    /// A PUT request to `url`.
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.request("PUT", url)
    }

    /// A DELETE request to `url`.
    pub fn delete(&self, url: &str) -> RequestBuilder {
        self.request("DELETE", url)
    }

    /// A HEAD request to `url` (its response has no body).
    pub fn head(&self, url: &str) -> RequestBuilder {
        self.request("HEAD", url)
    }

    /// A request with any `method` (a token such as `PATCH`).
    pub fn request(&self, method: &str, url: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// How many idle connections the pool keeps for `host:port` right now.
    pub fn idle_connections(&self, host: &str, port: u16) -> usize {
        self.inner
            .pool
            .idle_count(&(host.to_ascii_lowercase(), port))
    }

    /// How many pipelined connections to `host:port` are open right now (see
    /// [`ClientBuilder::pipeline_depth`]).
    pub fn pipelined_connections(&self, host: &str, port: u16) -> usize {
        self.inner
            .pool
            .pipe_count(&(host.to_ascii_lowercase(), port))
    }
}

/// A request being put together; [`RequestBuilder::send`] sends it.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    /// The client (and pool) to send it with.
    client: Client,
    /// The method token.
    method: String,
    /// The URL, parsed when sent (so a bad one is an error from `send`).
    url: String,
    /// Extra header fields, in order.
    headers: Vec<(String, String)>,
    /// The body (empty for none).
    body: Vec<u8>,
    /// A per-request replacement for the client's `timeout`.
    timeout: Option<Duration>,
}

impl RequestBuilder {
    /// Adds a header field. `Host` replaces the default; `Content-Length` and
    /// `Transfer-Encoding` are the client's to set and are refused at `send`.
    pub fn header(mut self, name: &str, value: &str) -> RequestBuilder {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body (sent with a `Content-Length`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> RequestBuilder {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> RequestBuilder {
        // Serializing to a Vec fails only for maps with non-string keys; send `null` then,
        // which the server will refuse visibly.
        self.body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
        self.header("content-type", "application/json")
    }

    /// Overrides the client's request timeout for this request.
    pub fn timeout(mut self, d: Duration) -> RequestBuilder {
        self.timeout = Some(d);
        self
    }

    /// Sends the request and waits for the response head; the body is read from the
    /// [`Response`].
    pub async fn send(self) -> Result<Response, Error> {
        let url = Url::parse(&self.url)?;
        let bytes = self.serialize(&url)?;
        let inner = self.client.inner.clone();
        let key = url.key();
        let deadline = self.timeout.unwrap_or(inner.timeout);
        let is_head = self.method == "HEAD";
        let idempotent = matches!(
            self.method.as_str(),
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
        );
        if idempotent && inner.pipeline_depth > 1 {
            return send_pipelined(inner, key, bytes, is_head, deadline).await;
        }
        let mut retried = false;
        loop {
            // 1. A slot under the per-host limit, then an idle connection or a new one.
            //    A retry always opens a new connection: other idle ones may be stale too.
            let permit = inner.pool.permit(&key).await;
            let idle = if retried { None } else { inner.pool.take(&key) };
            let mut conn = match idle {
                Some(conn) => conn,
                None => connect(&key, inner.connect_timeout).await?,
            };
            conn.permit = permit;
            // 2. Send, and wait for the head, within the deadline.
            let exchange = async {
                conn.send(&bytes).await?;
                conn.read_head(inner.head_limits).await
            };
            let outcome = match timeout(deadline, exchange).await {
                Ok(outcome) => outcome,
                Err(_) => return Err(Error::Timeout(Phase::Request)),
            };
            match outcome {
                Ok(head) => return Response::start(head, conn, key, is_head, inner, deadline),
                // 3. Retry once, and only when the server cannot have acted on the request.
                Err(Failure {
                    nothing_sent,
                    closed_unanswered,
                    error,
                }) => {
                    let safe = nothing_sent || (closed_unanswered && idempotent);
                    if conn.reused && safe && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// The request's bytes: request line, `Host`, the caller's fields, `Content-Length`, body.
    fn serialize(&self, url: &Url) -> Result<Vec<u8>, Error> {
        if self.method.is_empty() || !self.method.bytes().all(is_tchar) {
            return Err(Error::InvalidHeader(format!(
                "bad method {:?}",
                self.method
            )));
        }
        let mut out = Vec::with_capacity(128 + self.body.len());
        out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", self.method, url.target()).as_bytes());
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            out.extend_from_slice(format!("host: {}\r\n", url.authority()).as_bytes());
        }
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(Error::InvalidHeader(format!("bad name {name:?}")));
            }
            if value.bytes().any(|b| b < b' ' && b != b'\t' || b == 0x7f) {
                return Err(Error::InvalidHeader(format!("bad value for {name}")));
            }
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding")
            {
                return Err(Error::InvalidHeader(format!(
                    "{name} is set by the client from the body"
                )));
            }
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        let needs_length =
            !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if needs_length {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

/// Sends an idempotent request on a pipelined connection (see `pipeline`), and once more on
/// another when it was never written, or written and never answered.
async fn send_pipelined(
    inner: Arc<Inner>,
    key: Key,
    bytes: Vec<u8>,
    is_head: bool,
    deadline: Duration,
) -> Result<Response, Error> {
    let settings = pipeline::Settings {
        depth: inner.pipeline_depth,
        connect_timeout: inner.connect_timeout,
        timeout: deadline,
        idle_timeout: inner.idle_timeout,
        head_limits: inner.head_limits,
    };
    let bytes = Arc::new(bytes);
    let mut retried = false;
    // A connection that ended just before taking the request sent nothing; trying another
    // is always safe, but bounded.
    let mut unsent = 0;
    loop {
        let pipe = inner.pool.pipe(&key, settings);
        let error = match pipe.send(bytes.clone(), is_head).await {
            Ok(Ok(d)) => return Ok(Response::delivered(d, key, inner, deadline)),
            Err(()) if unsent < 3 => {
                unsent += 1;
                continue;
            }
            Err(()) => Error::Closed,
            Ok(Err(f)) if f.nothing_sent || f.closed_unanswered => f.error,
            Ok(Err(f)) => return Err(f.error),
        };
        if retried {
            return Err(error);
        }
        retried = true;
    }
}

/// `tchar`: the characters of a method or field name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Opens a new connection to `key` within `limit`.
async fn connect(key: &Key, limit: Duration) -> Result<Conn, Error> {
    match timeout(limit, TcpStream::connect((key.0.as_str(), key.1))).await {
        Ok(Ok(stream)) => Ok(Conn::new(stream, None)),
        Ok(Err(e)) => Err(Error::Connect(e)),
        Err(_) => Err(Error::Timeout(Phase::Connect)),
    }
}

/// A response: status and headers at once, the body as it is read.
///
/// Reading the body to its end returns the connection to the pool (if the response allowed
/// keep-alive); dropping a response before that closes the connection.
#[derive(Debug)]
pub struct Response {
    /// Status line and fields.
    head: ResponseHead,
    /// The connection the body comes from; `None` once the body is complete.
    conn: Option<Conn>,
    /// The body's framing state.
    decoder: BodyDecoder,
    /// Whether the connection may carry another request after this body.
    keep_alive: bool,
    /// Pool key, for giving the connection back.
    key: Key,
    /// The client's shared state (the pool).
    inner: Arc<Inner>,
    /// Deadline for each body read.
    read_timeout: Duration,
    /// A body already read whole (by a pipelined connection), not yet handed out.
    buffered: Option<Vec<u8>>,
}

impl Response {
    /// Sets up body reading for `head` (received on `conn`).
    fn start(
        head: ResponseHead,
        conn: Conn,
        key: Key,
        request_was_head: bool,
        inner: Arc<Inner>,
        read_timeout: Duration,
    ) -> Result<Response, Error> {
        let framing = framing(&head, request_was_head)?;
        let keep_alive = keep_alive(&head, framing);
        let mut response = Response {
            head,
            conn: Some(conn),
            decoder: BodyDecoder::new(framing),
            keep_alive,
            key,
            inner,
            read_timeout,
            buffered: None,
        };
        if response.decoder.is_done() {
            response.finish();
        }
        Ok(response)
    }

    /// A response whose body a pipelined connection already read whole.
    fn delivered(
        d: pipeline::Delivered,
        key: Key,
        inner: Arc<Inner>,
        read_timeout: Duration,
    ) -> Response {
        Response {
            head: d.head,
            conn: None,
            decoder: d.decoder,
            keep_alive: false,
            key,
            inner,
            read_timeout,
            buffered: Some(d.body),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The reason phrase (informational).
    pub fn reason(&self) -> &str {
        &self.head.reason
    }

    /// The HTTP version, as `"HTTP/1.1"` or `"HTTP/1.0"`.
    pub fn version(&self) -> &'static str {
        if self.head.minor_version == 1 {
            "HTTP/1.1"
        } else {
            "HTTP/1.0"
        }
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.head.headers
    }

    /// The trailer fields of a chunked body (empty until the body has been read).
    pub fn trailers(&self) -> &Headers {
        self.decoder.trailers()
    }

    /// The server's address, while the connection is held.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.conn.as_ref().and_then(|c| c.peer_addr().ok())
    }

    /// The next piece of the body, or `None` at its end.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let client = spindle_http::client::Client::new();
    /// let mut response = client.get("http://127.0.0.1:8080/stream").send().await?;
    /// while let Some(chunk) = response.chunk().await? {
    ///     println!("got {} bytes", chunk.len());
    /// }
    /// # Ok::<_, spindle_http::client::Error>(()) }).unwrap();
    /// ```
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if let Some(body) = self.buffered.take() {
            if !body.is_empty() {
                return Ok(Some(body));
            }
        }
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            // 1. Decode from what is buffered.
            if conn.start < conn.end {
                let decoded = self.decoder.decode(&conn.buf[conn.start..conn.end]);
                let decoded = match decoded {
                    Ok(d) => d,
                    Err(e) => {
                        self.conn = None; // framing in doubt: close
                        return Err(Error::Parse(e));
                    }
                };
                match decoded {
                    Decoded::Data { consumed, data } => {
                        let bytes =
                            conn.buf[conn.start + data.start..conn.start + data.end].to_vec();
                        conn.start += consumed;
                        if self.decoder.is_done() {
                            self.finish();
                        }
                        return Ok(Some(bytes));
                    }
                    Decoded::Done { consumed } => {
                        conn.start += consumed;
                        self.finish();
                        return Ok(None);
                    }
                    Decoded::NeedMore { consumed } => conn.start += consumed,
                }
                continue;
            }
            if self.decoder.is_done() {
                self.finish();
                return Ok(None);
            }
            // 2. Nothing buffered: read more, within the deadline.
            let read = match timeout(self.read_timeout, conn.read_more()).await {
                Ok(read) => read,
                Err(_) => {
                    self.conn = None;
                    return Err(Error::Timeout(Phase::Body));
                }
            };
            match read {
                Ok(0) => {
                    // End of stream: the end of a close-delimited body, or a truncated one.
                    self.keep_alive = false;
                    let end = self.decoder.finish_at_eof();
                    self.conn = None;
                    end?;
                    return Ok(None);
                }
                Ok(_) => {}
                Err(e) => {
                    self.conn = None;
                    return Err(Error::Io(e));
                }
            }
        }
    }

    /// The whole body.
    pub async fn bytes(mut self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The whole body as text (invalid UTF-8 is replaced with U+FFFD).
    pub async fn text(self) -> Result<String, Error> {
        let bytes = self.bytes().await?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The whole body parsed as JSON.
    #[cfg(feature = "json")]
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(Error::Json)
    }

    /// The body is complete: give the connection back if it can carry another request.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Bytes beyond this response that nobody asked for mean the connection's framing
            // cannot be trusted; such a connection is closed, not reused.
            if self.keep_alive && conn.start == conn.end {
                self.inner.pool.put(self.key.clone(), conn);
            }
        }
    }
}

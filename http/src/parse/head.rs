//! [`RequestHead`]: a parsed request head that owns one copy of its bytes (in one buffer with
//! its field table, behind one pointer, both recycled per thread). The small value types it is
//! described with ([`Method`], [`Version`], [`TargetForm`], [`BodyFraming`]) are in `types.rs`.
//!
//! [`super::RequestParser`] builds a `RequestHead` in place: once the request line is judged
//! it takes a [`HeadParts`] allocation from this thread's pool and writes the line into it,
//! appends each field's table entry as the field line is judged, and once the blank line has
//! arrived appends a copy of the head's bytes after the table and fills in the framing facts. The connection reads the head to
//! route the request and to pick a body decoder from [`crate::body`]; dropping it gives the
//! allocation back to the pool of the thread that drops it.
//!
//! Invariants: every [`Span`] stored in a `RequestHead` lies inside its head bytes; the spans of
//! the method, the target, field names and the authority cover ASCII only, because the parser
//! accepted nothing else there. That is what lets the accessors hand out `&str`.

use std::fmt;
use std::net::SocketAddr;

use super::request_line::RequestLine;
use super::target::Target;
use super::types::{BodyFraming, FieldSpan, Method, Span, TargetForm, Version};

/// Most spare head allocations a thread keeps (see [`HEAD_PARTS`]).
const HEAD_POOL_MAX: usize = 64;

/// Largest capacity a head's byte buffer may have to go back to the pool; bigger ones are
/// freed, so the pool holds at most `HEAD_POOL_MAX * HEAD_POOL_CAPACITY` bytes of buffers per
/// thread.
const HEAD_POOL_CAPACITY: usize = 2048;

/// The room a new buffer gets for its field table when the first entry arrives: sixteen
/// fields, enough for most requests at once rather than growing it 1, 2, 4, 8, 16 entries.
const FIRST_TABLE_BYTES: usize = 16 * FieldSpan::ENCODED_LEN;

thread_local! {
    /// The allocations of dropped heads (the box and its byte buffer), reused by the next
    /// heads parsed on this thread: a request then costs no `malloc` and no `free` for its
    /// head (a dropped head goes back to the pool of whichever thread drops it).
    /// INVARIANT: every entry's `bytes` is empty with capacity at most `HEAD_POOL_CAPACITY`.
    // The boxes are the point: a pooled box is the allocation the next head reuses.
    #[allow(clippy::vec_box)]
    static HEAD_PARTS: std::cell::RefCell<Vec<Box<HeadParts>>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The one allocation dropped last, in front of [`HEAD_PARTS`]: a connection answering
    /// requests one after the other drops each head before parsing the next, so the same
    /// allocation goes round through this slot, with no borrow flag or length to check.
    /// Same INVARIANT as `HEAD_PARTS`.
    static SPARE_HEAD: std::cell::Cell<Option<Box<HeadParts>>> = const { std::cell::Cell::new(None) };
}

/// Everything a [`RequestHead`] describes, in one heap allocation so that the head itself is
/// one pointer: a request moves from the parser through the router into the handler's future
/// by value, and a pointer moves for free where a hundred-odd bytes would be copied at every
/// step. Allocations come from (and go back to) the per-thread pool [`HEAD_PARTS`].
///
/// The parser builds it as it judges the head (see [`super::RequestParser`]): the request
/// line goes into `line` once judged; each field line's entry is appended to the table at the
/// front of `bytes` ([`HeadParts::push_field`]); once the blank line is in, the head's bytes
/// go after the table ([`HeadParts::finish_bytes`]) and the framing facts are filled in. The table comes
/// first because its length grows while the head's does not exist yet: the head's bytes are
/// copied only once they are all there, so nothing is ever moved to make room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HeadParts {
    /// The field table, one [`FieldSpan::ENCODED_LEN`]-byte entry per field line in received
    /// order, followed by a copy of the consumed bytes (any skipped empty lines, the request
    /// line, the fields and the blank line). Keeping both in one buffer makes a head one
    /// buffer whatever its field count. INVARIANT: `bytes[..table_len]` is a whole number of
    /// table entries; `bytes[table_len..]` is the head, and every span (which counts from the
    /// head's first byte) lies inside it. While the parser is still building the head,
    /// `bytes` is the table alone.
    pub(crate) bytes: Vec<u8>,
    /// How many bytes at the start of `bytes` are the field table (set when the head's bytes
    /// are appended).
    pub(crate) table_len: usize,
    /// The request line, as judged (written here by the parser as soon as it is): method,
    /// target and its parts, version. The path of an absolute-form target without one is
    /// empty, which [`RequestHead::path`] reports as `/`.
    pub(crate) line: RequestLine,
    /// The authority: from the target in absolute- and authority-form, otherwise the `Host`
    /// value. `None` only for an HTTP/1.0 request without `Host`.
    pub(crate) authority: Option<Span>,
    /// How the body is delimited.
    pub(crate) framing: BodyFraming,
    /// Whether the connection may serve another request after this one.
    pub(crate) keep_alive: bool,
    /// Whether the client waits for `100 Continue` before sending the body.
    pub(crate) expect_continue: bool,
    /// Not part of the head: the client's address, set by the connection for the
    /// [`crate::Request`] this head becomes. It rides in this allocation (rather than in the
    /// `Request`, which moves by value from the connection into the handler's future)
    /// because it is rarely read. `None` for heads the parser returns.
    pub(crate) peer: Option<SocketAddr>,
    /// Not part of the head either: the `{name}` segments the router captured for the
    /// request, in path order; kept here for the same reason. Empty for heads the parser
    /// returns.
    pub(crate) params: Vec<(String, String)>,
}

impl HeadParts {
    /// A head allocation with an empty buffer, from this thread's pool when it has one. The
    /// parts are for the parser to fill in.
    #[inline]
    pub(crate) fn from_pool() -> Box<HeadParts> {
        if let Some(parts) = SPARE_HEAD.try_with(|spare| spare.take()).ok().flatten() {
            return parts;
        }
        HEAD_PARTS
            .try_with(|pool| pool.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_else(HeadParts::fresh)
    }

    /// A new allocation, for when the pool is empty (only while a thread warms up, or while
    /// more heads are alive at once than ever before): the rare case, kept apart from taking
    /// one from the pool.
    #[cold]
    #[inline(never)]
    fn fresh() -> Box<HeadParts> {
        Box::new(HeadParts {
            bytes: Vec::new(),
            table_len: 0,
            line: RequestLine {
                method: Method::Get,
                method_span: Span::default(),
                target_span: Span::default(),
                target: Target {
                    form: TargetForm::Origin,
                    path: Span::default(),
                    query: None,
                    authority: None,
                },
                version: Version::Http11,
            },
            authority: None,
            framing: BodyFraming::None,
            keep_alive: false,
            expect_continue: false,
            peer: None,
            params: Vec::new(),
        })
    }

    /// While the head is being built: how many fields its table holds so far.
    #[inline]
    pub(crate) fn field_count(&self) -> usize {
        debug_assert_eq!(self.bytes.len() % FieldSpan::ENCODED_LEN, 0);
        self.bytes.len() / FieldSpan::ENCODED_LEN
    }

    /// While the head is being built: append `field`'s entry to the table.
    #[inline(always)]
    pub(crate) fn push_field(&mut self, field: FieldSpan) {
        // A recycled buffer nearly always has room already; growing is the rare case, apart.
        if self.bytes.capacity() - self.bytes.len() < FieldSpan::ENCODED_LEN {
            self.grow_table();
        }
        self.bytes.extend_from_slice(&field.encode());
    }

    /// Room for more table entries: sixteen at first, then as many again as there are.
    #[cold]
    #[inline(never)]
    fn grow_table(&mut self) {
        self.bytes.reserve(FIRST_TABLE_BYTES.max(self.bytes.len()));
    }

    /// Close the table and append a copy of `head`, the consumed bytes.
    #[inline]
    pub(crate) fn finish_bytes(&mut self, head: &[u8]) {
        self.table_len = self.bytes.len();
        // As in `push_field`: reserve only when there is not room already.
        if self.bytes.capacity() - self.bytes.len() < head.len() {
            self.bytes.reserve_exact(head.len());
        }
        self.bytes.extend_from_slice(head);
    }

    /// Give the allocation to this thread's pool for the next head, emptied; too big a
    /// buffer, or a full pool, frees it instead.
    // Everything beyond the common case is in functions of its own: a connection drops one
    // head per request, and in the steady state the spare slot is empty then (the next
    // head's `from_pool` took what was there), so the common case is a few loads and stores
    // (measured: docs/benchmarks.md, "Why the hot paths look the way they do").
    #[inline(always)]
    pub(crate) fn recycle(mut parts: Box<HeadParts>) {
        if parts.bytes.capacity() > HEAD_POOL_CAPACITY || !parts.params.is_empty() {
            return HeadParts::recycle_slow(parts);
        }
        parts.bytes.clear();
        parts.peer = None;
        // Into the spare slot; whatever was there moves on to the pool.
        if let Ok(Some(parts)) = SPARE_HEAD.try_with(|spare| spare.replace(Some(parts))) {
            HeadParts::into_pool(parts);
        }
    }

    /// [`recycle`](Self::recycle) for an allocation that needs more than emptying its byte
    /// buffer: too big a buffer (freed), or router parameters to drop.
    #[inline(never)]
    fn recycle_slow(mut parts: Box<HeadParts>) {
        if parts.bytes.capacity() > HEAD_POOL_CAPACITY {
            return;
        }
        parts.params.clear();
        HeadParts::recycle(parts);
    }

    /// The end of [`recycle`](Self::recycle) when the spare slot was taken: the allocation
    /// that was there goes into the pool, or is freed if the pool is full.
    #[inline(never)]
    fn into_pool(parts: Box<HeadParts>) {
        let _ = HEAD_PARTS.try_with(|pool| {
            let mut pool = pool.borrow_mut();
            if pool.len() < HEAD_POOL_MAX {
                pool.push(parts);
            }
        });
    }
}

impl Drop for RequestHead {
    /// Gives the head's allocation to this thread's pool for the next head.
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(parts) = self.parts.take() {
            HeadParts::recycle(parts);
        }
    }
}

/// Bytes the parser validated as ASCII, viewed as `&str`.
pub(crate) fn ascii(bytes: &[u8]) -> &str {
    // The parser only creates spans over bytes it checked to be tokens, URI characters or host
    // characters, all of which are ASCII, so this never fails.
    std::str::from_utf8(bytes).expect("INVARIANT: span was validated as ASCII")
}

/// A parsed request head. It owns one copy of the head's bytes and describes everything else as
/// ranges into them, so a head costs the same two allocations however many fields it has, and
/// usually none: they are recycled from heads dropped earlier on the same thread. The head
/// itself is one pointer, cheap to move.
///
/// ```
/// use spindle_http::{Method, RequestParser, Version};
///
/// let mut parser = RequestParser::default();
/// let buf = b"GET /items?id=7 HTTP/1.1\r\nHost: example.com\r\nX-Tag:  a b \r\n\r\n";
/// let head = parser.parse(buf).unwrap().expect("a complete head");
/// assert_eq!(head.method(), Method::Get);
/// assert_eq!(head.path(), "/items");
/// assert_eq!(head.query(), Some("id=7"));
/// assert_eq!(head.version(), Version::Http11);
/// assert_eq!(head.header_str("x-tag"), Some("a b"));
/// assert_eq!(head.host(), Some("example.com"));
/// assert!(head.keep_alive());
/// assert_eq!(head.consumed(), buf.len());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The parts, boxed (see [`HeadParts`]). INVARIANT: `Some` except inside `drop`.
    parts: Option<Box<HeadParts>>,
}

impl RequestHead {
    /// The head the parser filled in.
    pub(crate) fn from_parts(parts: Box<HeadParts>) -> RequestHead {
        RequestHead { parts: Some(parts) }
    }

    /// The parts (always there outside `drop`).
    #[inline]
    pub(super) fn parts(&self) -> &HeadParts {
        self.parts
            .as_deref()
            .expect("INVARIANT: a head has its parts until it is dropped")
    }

    /// The parts, to set the request-level extras (`peer`, `params`).
    #[inline]
    fn parts_mut(&mut self) -> &mut HeadParts {
        self.parts
            .as_deref_mut()
            .expect("INVARIANT: a head has its parts until it is dropped")
    }

    /// The client's address, if the connection set one (see [`HeadParts::peer`]).
    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        self.parts().peer
    }

    /// Records the client's address (see [`HeadParts::peer`]).
    pub(crate) fn set_peer(&mut self, peer: SocketAddr) {
        self.parts_mut().peer = Some(peer);
    }

    /// The router's captured parameters (see [`HeadParts::params`]).
    pub(crate) fn params(&self) -> &[(String, String)] {
        &self.parts().params
    }

    /// Records the router's captured parameters (see [`HeadParts::params`]).
    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>) {
        self.parts_mut().params = params;
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.parts().line.method
    }

    /// The method as received (`"GET"`, `"PROPFIND"`).
    pub fn method_str(&self) -> &str {
        // Methods are case-sensitive, so a standard method was received as exactly its name:
        // no need to look at the bytes (or check them as UTF-8 again).
        let p = self.parts();
        match p.line.method.as_str() {
            Some(name) => name,
            None => ascii(p.line.method_span.of(self.head_bytes())),
        }
    }

    /// The request-target as received (`"/a?b"`, `"http://h/a"`, `"h:443"`, `"*"`).
    pub fn target(&self) -> &str {
        ascii(self.parts().line.target_span.of(self.head_bytes()))
    }

    /// Which form the request-target had.
    pub fn target_form(&self) -> TargetForm {
        self.parts().line.target.form
    }

    /// The path, still percent-encoded: `"/a/b"` for `/a/b?c`, `"/"` for `http://h`, `"*"` for
    /// `OPTIONS *`, `""` for `CONNECT h:443`.
    pub fn path(&self) -> &str {
        ascii(self.path_bytes())
    }

    /// [`path`](Self::path) as bytes, without the UTF-8 check that `&str` needs (the router
    /// matches bytes, once per request).
    pub(crate) fn path_bytes(&self) -> &[u8] {
        let t = &self.parts().line.target;
        if t.form == TargetForm::Absolute && t.path.start == t.path.end {
            return b"/";
        }
        t.path.of(self.head_bytes())
    }

    /// The query without its `?`, still percent-encoded; `None` when the target has no `?`.
    pub fn query(&self) -> Option<&str> {
        self.parts()
            .line
            .target
            .query
            .map(|q| ascii(q.of(self.head_bytes())))
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.parts().line.version
    }

    /// The authority the request is for: the target's in absolute- and authority-form (RFC 9112
    /// §3.2.2 makes it override `Host`), otherwise the `Host` value. `None` only for HTTP/1.0
    /// without `Host`.
    pub fn host(&self) -> Option<&str> {
        self.parts()
            .authority
            .map(|a| ascii(a.of(self.head_bytes())))
    }

    /// The header fields in received order, names as received.
    ///
    /// ```
    /// use spindle_http::RequestParser;
    /// let head = RequestParser::default()
    ///     .parse(b"GET / HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n").unwrap().unwrap();
    /// let names: Vec<&str> = head.headers().map(|f| f.name()).collect();
    /// assert_eq!(names, ["Host", "Accept"]);
    /// ```
    pub fn headers(&self) -> Headers<'_> {
        let p = self.parts();
        let (table, head) = p.bytes.split_at(p.table_len);
        Headers {
            bytes: head,
            fields: table.chunks_exact(FieldSpan::ENCODED_LEN),
        }
    }

    /// The number of header field lines.
    pub fn header_count(&self) -> usize {
        self.parts().table_len / FieldSpan::ENCODED_LEN
    }

    /// The value of the first field named `name` (compared case-insensitively), trimmed of
    /// surrounding whitespace. Values may hold obs-text bytes, hence `&[u8]`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|f| f.name().eq_ignore_ascii_case(name))
            .map(|f| f.value())
    }

    /// [`header`](Self::header) as `&str`, or `None` if absent or not UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of every field named `name`, in received order.
    ///
    /// ```
    /// use spindle_http::RequestParser;
    /// let head = RequestParser::default()
    ///     .parse(b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\n\r\n").unwrap().unwrap();
    /// let values: Vec<&[u8]> = head.headers_named("ACCEPT").collect();
    /// assert_eq!(values, [b"a", b"b"]);
    /// ```
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers()
            .filter(move |f| f.name().eq_ignore_ascii_case(name))
            .map(|f| f.value())
    }

    /// How the body is delimited.
    pub fn body_framing(&self) -> BodyFraming {
        self.parts().framing
    }

    /// Whether the connection may stay open after the response: HTTP/1.1 unless `Connection`
    /// lists `close`; HTTP/1.0 only if it lists `keep-alive` and not `close`.
    pub fn keep_alive(&self) -> bool {
        self.parts().keep_alive
    }

    /// Whether an HTTP/1.1 client sent `Expect: 100-continue` and waits for `100 Continue`
    /// before the body. Ignored (false) for HTTP/1.0, as RFC 9110 §10.1.1 requires.
    pub fn expects_continue(&self) -> bool {
        self.parts().expect_continue
    }

    /// How many bytes of the parsed buffer the head took, up to and including its blank line.
    /// The body (or the next pipelined request) starts there.
    pub fn consumed(&self) -> usize {
        let p = self.parts();
        p.bytes.len() - p.table_len
    }

    /// The head's bytes, without the field table before them.
    fn head_bytes(&self) -> &[u8] {
        let p = self.parts();
        &p.bytes[p.table_len..]
    }
}

impl fmt::Debug for RequestHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, String)> = self
            .headers()
            .map(|h| (h.name(), String::from_utf8_lossy(h.value()).into_owned()))
            .collect();
        f.debug_struct("RequestHead")
            .field("method", &self.method_str())
            .field("target", &self.target())
            .field("form", &self.target_form())
            .field("version", &self.version())
            .field("host", &self.host())
            .field("headers", &headers)
            .field("framing", &self.parts().framing)
            .field("keep_alive", &self.parts().keep_alive)
            .field("expect_continue", &self.parts().expect_continue)
            .field("consumed", &self.consumed())
            .finish()
    }
}

/// One header field of a [`RequestHead`].
///
/// ```
/// use spindle_http::RequestParser;
/// let head = RequestParser::default()
///     .parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap();
/// let field = head.headers().next().unwrap();
/// assert_eq!((field.name(), field.value()), ("Host", &b"h"[..]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    /// The name as received.
    name: &'a str,
    /// The value without surrounding whitespace.
    value: &'a [u8],
}

impl<'a> HeaderField<'a> {
    /// The name as received (compare it with `eq_ignore_ascii_case`).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The value without surrounding whitespace.
    pub fn value(&self) -> &'a [u8] {
        self.value
    }

    /// The value as `&str`, or `None` if it holds non-UTF-8 obs-text.
    pub fn value_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.value).ok()
    }
}

/// Iterator over the fields of a [`RequestHead`], from [`RequestHead::headers`].
///
/// ```
/// use spindle_http::RequestParser;
/// let head = RequestParser::default()
///     .parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap();
/// assert_eq!(head.headers().count(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Headers<'a> {
    /// The head's bytes, which the spans index.
    bytes: &'a [u8],
    /// The remaining entries of the field table.
    fields: std::slice::ChunksExact<'a, u8>,
}

impl<'a> Iterator for Headers<'a> {
    type Item = HeaderField<'a>;

    fn next(&mut self) -> Option<HeaderField<'a>> {
        let f = FieldSpan::decode(self.fields.next()?);
        Some(HeaderField {
            name: ascii(f.name.of(self.bytes)),
            value: f.value.of(self.bytes),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.fields.size_hint()
    }
}

impl ExactSizeIterator for Headers<'_> {}

#[cfg(test)]
mod tests {
    use crate::parse::RequestParser;

    /// A dropped head's buffer is reused by the next head parsed on the same thread, and the
    /// reused buffer holds the new head exactly (nothing of the old one shows through).
    #[test]
    fn dropped_head_buffers_are_reused() {
        let mut parser = RequestParser::default();
        let long = b"GET /a/rather/long/path?with=query HTTP/1.1\r\nHost: example.com\r\nX-Pad: 0123456789\r\n\r\n";
        let first = parser.parse(long).unwrap().unwrap();
        let address = first.parts().bytes.as_ptr();
        drop(first);
        let short = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let second = parser.parse(short).unwrap().unwrap();
        assert_eq!(
            second.parts().bytes.as_ptr(),
            address,
            "the pooled buffer was reused"
        );
        assert_eq!(second.path(), "/");
        assert_eq!(second.header_str("host"), Some("h"));
        assert_eq!(second.headers().count(), 1);
        assert_eq!(second.consumed(), short.len());
    }

    /// A head dropped with a client address and router parameters (the rare case of
    /// `recycle`, taken out of line) still goes back to the pool, emptied of both, and the
    /// next head parsed on the thread reuses its allocation.
    #[test]
    fn heads_with_extras_are_emptied_and_reused() {
        let mut parser = RequestParser::default();
        let buf = b"GET /users/7 HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let mut first = parser.parse(buf).unwrap().unwrap();
        first.set_peer("127.0.0.1:9".parse().unwrap());
        first.set_params(vec![("id".to_string(), "7".to_string())]);
        let address = std::ptr::from_ref(first.parts());
        drop(first);
        let second = parser.parse(buf).unwrap().unwrap();
        assert_eq!(std::ptr::from_ref(second.parts()), address, "reused");
        assert_eq!(second.peer(), None);
        assert!(second.params().is_empty());
        assert_eq!(second.path(), "/users/7");
    }
}

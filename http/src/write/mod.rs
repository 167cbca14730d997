//! Serializing a [`Response`] head into the connection's write buffer, with framing decided
//! here and nowhere else.
//!
//! The rules (RFC 9112 section 6, RFC 9110 section 6.4.1):
//! - 1xx, 204 and 304 responses have no body and no `content-length`.
//! - A response to HEAD has the header fields a GET would have (including `content-length`)
//!   and no body.
//! - A complete body gets `content-length`; a streamed body gets `transfer-encoding: chunked`
//!   on HTTP/1.1, and on HTTP/1.0 is delimited by closing the connection.
//! - The handler's own `content-length`, `transfer-encoding` and `connection` fields are
//!   dropped (a handler's `connection: close` still closes the connection).

pub(crate) mod date;

use crate::app::response::{reason_phrase, Response};
use crate::parse::Version;

/// How the body of the response being written is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFrame {
    /// No body bytes follow the head.
    None,
    /// Exactly this many bytes follow.
    Length(usize),
    /// Chunks follow, ended by `0\r\n\r\n`.
    Chunked,
    /// Bytes follow until the connection closes (HTTP/1.0 streaming).
    UntilClose,
}

/// What the writer needs to know about the exchange.
///
/// The alignment keeps the three flags together as one value (measured: docs/benchmarks.md, "Why the hot paths look the way they do").
#[derive(Debug, Clone, Copy)]
#[repr(C, align(4))]
pub(crate) struct Exchange {
    /// The request's version.
    pub(crate) version: Version,
    /// The request was HEAD.
    pub(crate) is_head: bool,
    /// The connection will stay open after this response (the writer may turn this off).
    pub(crate) keep_alive: bool,
}

/// What kind of body the response has, before framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// A complete body of this length (0 for none).
    Full(usize),
    /// A stream of unknown length.
    Stream,
}

/// Appends the status line and header fields. Returns the framing of the body and whether the
/// connection stays open after this response.
/// `date` is the current IMF-fixdate (see `date.rs`); the connection fetches it once per batch.
pub(crate) fn write_head(
    out: &mut Vec<u8>,
    resp: &Response,
    body: BodyKind,
    ex: Exchange,
    date: &[u8; crate::write::date::DATE_LEN],
) -> (BodyFrame, bool) {
    let status = resp.status();
    let bodyless_status = (100..200).contains(&status) || status == 204 || status == 304;
    let mut keep_alive = ex.keep_alive
        && !resp
            .header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")));

    let frame = match body {
        _ if bodyless_status => BodyFrame::None,
        BodyKind::Full(n) => BodyFrame::Length(n),
        BodyKind::Stream if ex.version == Version::Http11 => BodyFrame::Chunked,
        BodyKind::Stream => {
            if !ex.is_head {
                keep_alive = false;
            }
            BodyFrame::UntilClose
        }
    };

    // Status line: we speak HTTP/1.1 to every client (RFC 9110 section 2.5). The most common
    // one is a single copy; the rest are assembled.
    out.reserve(128);
    if status == 200 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\nserver: spindle\r\ndate: ");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        push_u64(out, u64::from(status));
        out.push(b' ');
        out.extend_from_slice(reason_phrase(status).as_bytes());
        out.extend_from_slice(b"\r\nserver: spindle\r\ndate: ");
    }
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");

    let (content_type, others) = resp.head_parts();
    if let Some((value, trusted)) = content_type {
        if trusted || valid_field("content-type", value) {
            out.extend_from_slice(b"content-type: ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in others {
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("connection")
            || !valid_field(name, value)
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    match frame {
        BodyFrame::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_u64(out, n as u64);
            out.extend_from_slice(b"\r\n");
        }
        BodyFrame::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        BodyFrame::None | BodyFrame::UntilClose => {}
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if ex.version == Version::Http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");

    let frame = if ex.is_head { BodyFrame::None } else { frame };
    (frame, keep_alive)
}

/// Everything a complete response's bytes depend on, apart from the date. Only heads without
/// extra fields and with a static content type get a key (comparing those is a few integer
/// compares; the rest are rendered every time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeadKey {
    /// The status code.
    status: u16,
    /// The static content type's address and length (the same `&'static str` twice is the
    /// same text; equal texts at different addresses merely miss the cache).
    content_type: Option<(usize, usize)>,
    /// The body length.
    body_len: usize,
    /// A static body's address: such a body is the same bytes every time, so it is kept
    /// with the head and copied along with it. `None` for other bodies.
    static_body: Option<usize>,
    /// The request's version.
    version: Version,
    /// The request was HEAD.
    is_head: bool,
    /// The connection stays open (as far as the request goes).
    keep_alive: bool,
}

/// The response this thread rendered last, with what it was rendered for.
#[derive(Debug)]
struct CachedHead {
    /// What the bytes depend on besides the date.
    key: HeadKey,
    /// The date they carry.
    date: [u8; crate::write::date::DATE_LEN],
    /// The rendered head, followed by the body when the body is static and was written.
    bytes: Vec<u8>,
    /// Whether `bytes` ends with the body.
    with_body: bool,
    /// What `write_head` returned for the head.
    result: (BodyFrame, bool),
}

thread_local! {
    /// The last response rendered on this thread, so that the next identical one (same key,
    /// same date: the same route answered again within the second, on any connection of
    /// this worker) is one copy instead of a rendering. Most responses of a busy server
    /// repeat a handful of heads; this keeps just the last one, which already covers a burst
    /// of requests to one route.
    static LAST_HEAD: std::cell::RefCell<Option<CachedHead>> = const { std::cell::RefCell::new(None) };
}

/// Whether two dates are the same, compared as two overlapping 16-byte words (why:
/// docs/benchmarks.md, "Why the hot paths look the way they do").
fn same_date(
    a: &[u8; crate::write::date::DATE_LEN],
    b: &[u8; crate::write::date::DATE_LEN],
) -> bool {
    const TAIL: usize = crate::write::date::DATE_LEN - 16;
    let word = |d: &[u8; crate::write::date::DATE_LEN], at: usize| {
        let mut w = [0u8; 16];
        w.copy_from_slice(&d[at..at + 16]);
        u128::from_ne_bytes(w)
    };
    word(a, 0) == word(b, 0) && word(a, TAIL) == word(b, TAIL)
}

/// Appends a response with the complete body `body` to `out` and returns whether the
/// connection stays open. `body_is_static` says the body lives for the whole program (a
/// [`crate::ResponseBody::Static`]). Copies this thread's last response instead of rendering
/// when it is identical: the head, and a static body along with it.
pub(crate) fn write_full(
    out: &mut Vec<u8>,
    resp: &Response,
    body: &[u8],
    body_is_static: bool,
    ex: Exchange,
    date: &[u8; crate::write::date::DATE_LEN],
) -> bool {
    let Some(content_type) = resp.static_head_parts() else {
        let (frame, keep_alive) = write_head(out, resp, BodyKind::Full(body.len()), ex, date);
        if let BodyFrame::Length(_) = frame {
            out.extend_from_slice(body);
        }
        return keep_alive;
    };
    let key = HeadKey {
        status: resp.status(),
        content_type: content_type.map(|ct| (ct.as_ptr() as usize, ct.len())),
        body_len: body.len(),
        static_body: body_is_static.then_some(body.as_ptr() as usize),
        version: ex.version,
        is_head: ex.is_head,
        keep_alive: ex.keep_alive,
    };
    let copied = LAST_HEAD
        .try_with(|last| match &*last.borrow() {
            Some(cached) if cached.key == key && same_date(&cached.date, date) => {
                out.extend_from_slice(&cached.bytes);
                Some((cached.result, cached.with_body))
            }
            _ => None,
        })
        .ok()
        .flatten();
    if let Some(((frame, keep_alive), with_body)) = copied {
        if !with_body && matches!(frame, BodyFrame::Length(_)) {
            out.extend_from_slice(body);
        }
        return keep_alive;
    }
    #[cfg(test)]
    tests::RENDERED.with(|n| n.set(n.get() + 1));
    let start = out.len();
    let result = write_head(out, resp, BodyKind::Full(body.len()), ex, date);
    let head_end = out.len();
    let has_body = matches!(result.0, BodyFrame::Length(_));
    if has_body {
        out.extend_from_slice(body);
    }
    let with_body = has_body && body_is_static;
    let kept = if with_body { out.len() } else { head_end };
    let _ = LAST_HEAD.try_with(|last| {
        let mut last = last.borrow_mut();
        // Reuse the kept buffer's capacity for the new bytes.
        let mut bytes = last.take().map(|c| c.bytes).unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(&out[start..kept]);
        *last = Some(CachedHead {
            key,
            date: *date,
            bytes,
            with_body,
            result,
        });
    });
    result.1
}

/// A handler-supplied field is written only if it cannot break the framing (no CR/LF, a token name).
fn valid_field(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && value
            .bytes()
            .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Appends one chunk of a chunked body.
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    debug_assert!(!data.is_empty(), "an empty chunk would end the body");
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The end of a chunked body (no trailers).
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends `v` in decimal, pushing the digits one by one: the numbers of a response head (a
/// status, a content length) are short (why not a slice copy: docs/benchmarks.md, "Why the hot paths look the way they do").
fn push_u64(out: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// How many keyed responses `write_full` rendered on this thread (not copied).
        pub(super) static RENDERED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn head(
        resp: &Response,
        body: BodyKind,
        version: Version,
        is_head: bool,
        keep_alive: bool,
    ) -> (String, BodyFrame, bool) {
        let mut out = Vec::new();
        let date = crate::write::date::now();
        let (frame, ka) = write_head(
            &mut out,
            resp,
            body,
            Exchange {
                version,
                is_head,
                keep_alive,
            },
            &date,
        );
        (String::from_utf8(out).unwrap(), frame, ka)
    }

    #[test]
    fn framing_table() {
        use BodyFrame::*;
        use Version::*;
        // (status, body, version, HEAD?, keep-alive in) -> frame, keep-alive out, must contain, must not contain
        type Row = (
            u16,
            BodyKind,
            Version,
            bool,
            bool,
            BodyFrame,
            bool,
            &'static [&'static str],
            &'static [&'static str],
        );
        let table: &[Row] = &[
            (
                200,
                BodyKind::Full(5),
                Http11,
                false,
                true,
                Length(5),
                true,
                &["content-length: 5\r\n"],
                &["connection:"],
            ),
            (
                200,
                BodyKind::Full(5),
                Http11,
                true,
                true,
                None,
                true,
                &["content-length: 5\r\n"],
                &[],
            ),
            (
                204,
                BodyKind::Full(0),
                Http11,
                false,
                true,
                None,
                true,
                &[],
                &["content-length"],
            ),
            (
                304,
                BodyKind::Full(9),
                Http11,
                false,
                true,
                None,
                true,
                &[],
                &["content-length"],
            ),
            (
                200,
                BodyKind::Stream,
                Http11,
                false,
                true,
                Chunked,
                true,
                &["transfer-encoding: chunked\r\n"],
                &["content-length"],
            ),
            (
                200,
                BodyKind::Stream,
                Http10,
                false,
                true,
                UntilClose,
                false,
                &["connection: close\r\n"],
                &["transfer-encoding", "content-length"],
            ),
            (
                200,
                BodyKind::Full(2),
                Http10,
                false,
                true,
                Length(2),
                true,
                &["connection: keep-alive\r\n"],
                &[],
            ),
            (
                200,
                BodyKind::Full(2),
                Http11,
                false,
                false,
                Length(2),
                false,
                &["connection: close\r\n"],
                &[],
            ),
            (
                404,
                BodyKind::Full(0),
                Http11,
                false,
                true,
                Length(0),
                true,
                &["HTTP/1.1 404 Not Found\r\n", "content-length: 0\r\n"],
                &[],
            ),
        ];
        for (i, &(status, body, version, is_head, ka_in, frame, ka_out, has, hasnt)) in
            table.iter().enumerate()
        {
            let resp = Response::new(status).with_header("x-a", "1");
            let (text, f, ka) = head(&resp, body, version, is_head, ka_in);
            assert_eq!((f, ka), (frame, ka_out), "row {i}: {text}");
            for s in has.iter() {
                assert!(text.contains(s), "row {i}: missing {s:?} in {text:?}");
            }
            for s in hasnt.iter() {
                assert!(!text.contains(s), "row {i}: unexpected {s:?} in {text:?}");
            }
            assert!(
                text.ends_with("\r\n\r\n")
                    && text.contains("x-a: 1\r\n")
                    && text.contains("date: ")
            );
        }
    }

    #[test]
    fn handler_framing_fields_are_ignored_and_close_is_honoured() {
        let resp = Response::text("hi")
            .with_header("content-length", "999")
            .with_header("transfer-encoding", "chunked")
            .with_header("connection", "close")
            .with_header("bad\r\nname", "x")
            .with_header("x-evil", "a\r\nset-cookie: b");
        let (text, frame, ka) = head(&resp, BodyKind::Full(2), Version::Http11, false, true);
        assert_eq!((frame, ka), (BodyFrame::Length(2), false));
        assert!(
            !text.contains("999")
                && !text.contains("chunked")
                && !text.contains("x-evil")
                && !text.contains("bad")
        );
        assert!(text.contains("connection: close\r\n"));
    }

    /// A run of responses through `write_full` gives exactly the bytes `write_head` plus the
    /// body give for each, whether they were copied (same key and date) or rendered (anything
    /// differs: status, body length, a static or an owned body, keep-alive, version, HEAD, an
    /// extra field, an owned content type, the date).
    #[test]
    fn repeated_responses_are_copied_exactly() {
        let date = crate::write::date::now();
        let mut later = date;
        later[crate::write::date::DATE_LEN - 6] = if later[crate::write::date::DATE_LEN - 6] == b'0'
        {
            b'1'
        } else {
            b'0'
        };
        let ex = |version, is_head, keep_alive| Exchange {
            version,
            is_head,
            keep_alive,
        };
        const HELLO: &[u8] = b"Hello, World!";
        const HELLO2: &[u8] = b"Hello, World?";
        let hello = || Response::static_text("Hello, World!");
        let ka11 = ex(Version::Http11, false, true);
        // (response, body, body is static, exchange, date, expect a copy)
        #[allow(clippy::type_complexity)]
        let runs: Vec<(
            Response,
            &[u8],
            bool,
            Exchange,
            [u8; crate::write::date::DATE_LEN],
            bool,
        )> = vec![
            (hello(), HELLO, true, ka11, date, false),
            (hello(), HELLO, true, ka11, date, true),
            (hello(), HELLO, true, ka11, date, true),
            // Same length, another static body: its own bytes, not the kept ones.
            (hello(), HELLO2, true, ka11, date, false),
            (hello(), HELLO, true, ka11, later, false),
            (hello().with_status(404), HELLO, true, ka11, date, false),
            // An owned body of the same length: the head is kept, the body is not.
            (hello(), b"owned body 13", false, ka11, date, false),
            (hello(), b"other body 13", false, ka11, date, true),
            (hello(), b"twelve bytes", false, ka11, date, false),
            (
                hello(),
                b"twelve bytes",
                false,
                ex(Version::Http11, false, false),
                date,
                false,
            ),
            (
                hello(),
                b"twelve bytes",
                false,
                ex(Version::Http10, false, true),
                date,
                false,
            ),
            (
                hello(),
                HELLO,
                true,
                ex(Version::Http10, true, true),
                date,
                false,
            ),
            (
                hello(),
                HELLO,
                true,
                ex(Version::Http10, true, true),
                date,
                true,
            ),
            (
                hello().with_header("x-a", "1"),
                HELLO,
                true,
                ka11,
                date,
                false,
            ),
            (
                hello().with_header("x-a", "1"),
                HELLO,
                true,
                ka11,
                date,
                false,
            ),
            (
                hello().with_header("content-type", String::from("text/csv")),
                HELLO,
                true,
                ka11,
                date,
                false,
            ),
            (Response::new(204), b"", true, ka11, date, false),
            (Response::new(204), b"", true, ka11, date, true),
        ];
        for (i, (resp, body, is_static, ex, date, should_copy)) in runs.iter().enumerate() {
            let mut cached = b"earlier bytes".to_vec();
            let mut fresh = b"earlier bytes".to_vec();
            let rendered_before = RENDERED.with(|n| n.get());
            let got = write_full(&mut cached, resp, body, *is_static, *ex, date);
            let (frame, want) = write_head(&mut fresh, resp, BodyKind::Full(body.len()), *ex, date);
            if let BodyFrame::Length(_) = frame {
                fresh.extend_from_slice(body);
            }
            assert_eq!(got, want, "run {i}");
            assert_eq!(
                String::from_utf8_lossy(&cached),
                String::from_utf8_lossy(&fresh),
                "run {i}"
            );
            let rendered = RENDERED.with(|n| n.get()) - rendered_before;
            let keyed = resp.static_head_parts().is_some();
            let expect = usize::from(keyed && !*should_copy);
            assert_eq!(rendered, expect, "run {i}: copied = {should_copy}");
        }
    }

    /// `same_date` agrees with comparing the arrays, for a difference at every position.
    #[test]
    fn same_date_sees_every_byte() {
        let date = crate::write::date::now();
        assert!(same_date(&date, &date));
        for i in 0..crate::write::date::DATE_LEN {
            let mut other = date;
            other[i] ^= 1;
            assert!(!same_date(&date, &other), "difference at {i}");
        }
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        write_chunk(&mut out, &[b'a'; 26]);
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(out, b"1a\r\naaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n");
    }
}

//! Table-driven tests of the whole head parser: every rejection with its status, the edge
//! cases that must be accepted, the limits at their exact boundaries, and the promise that any
//! split of the input gives the same result as the input in one piece.
//!
//! Also home of [`with_deadline`], the timeout wrapper the crate's unit tests share.

use super::*;
use std::sync::mpsc;
use std::time::Duration;
use ParseError::*;

/// Run `f` on its own thread and fail if it takes more than 120 seconds: a parser bug that
/// loops forever fails the test instead of hanging the suite. Panics inside `f` propagate.
/// The bound is generous on purpose: it catches hangs, not slowness (the randomized tests take
/// a few seconds in a debug build, and over 10 s on a heavily loaded machine).
pub(crate) fn with_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The closure panicked: re-raise its panic here.
            std::panic::resume_unwind(worker.join().expect_err("sender dropped without panic"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test exceeded its 120 s deadline"),
    }
}

/// One line describing everything a head says, so tables can state expectations compactly.
fn summary(h: &RequestHead) -> String {
    let mut s = format!(
        "{} {} {:?} path={} query={:?} {} host={:?} {:?} keep_alive={} continue={}",
        h.method_str(),
        h.target(),
        h.target_form(),
        h.path(),
        h.query(),
        h.version().as_str(),
        h.host(),
        h.body_framing(),
        h.keep_alive(),
        h.expects_continue(),
    );
    for f in h.headers() {
        s.push_str(&format!(
            " [{}={}]",
            f.name(),
            String::from_utf8_lossy(f.value())
        ));
    }
    s
}

/// Parse `input` all at once, then split in two at every offset, then a byte at a time, and
/// check that the outcomes agree. Returns the all-at-once outcome.
fn parse_every_way(input: &[u8], limits: Limits) -> Result<Option<RequestHead>, ParseError> {
    let whole = RequestParser::new(limits).parse(input);
    for split in 0..=input.len() {
        let mut p = RequestParser::new(limits);
        let got = match p.parse(&input[..split]) {
            Ok(None) => p.parse(input),
            other => other,
        };
        assert_eq!(
            got,
            whole,
            "split at {split} of {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let mut p = RequestParser::new(limits);
    let mut got = Ok(None);
    for end in 0..=input.len() {
        got = p.parse(&input[..end]);
        if !matches!(got, Ok(None)) {
            break;
        }
    }
    assert_eq!(
        got,
        whole,
        "byte at a time: {:?}",
        String::from_utf8_lossy(input)
    );
    whole
}

/// Heads that must be accepted, with everything derived from them.
#[test]
fn accepted_heads() {
    with_deadline(|| {
        let table: &[(&[u8], &str)] = &[
            (
                b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
                r#"GET / Origin path=/ query=None HTTP/1.1 host=Some("h") None keep_alive=true continue=false [Host=h]"#,
            ),
            // HTTP/1.0 needs no Host and closes by default.
            (
                b"GET /a?b=c HTTP/1.0\r\n\r\n",
                r#"GET /a?b=c Origin path=/a query=Some("b=c") HTTP/1.0 host=None None keep_alive=false continue=false"#,
            ),
            // ... unless it asks to keep alive; Expect is ignored on 1.0.
            (
                b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nExpect: 100-continue\r\n\r\n",
                r#"GET / Origin path=/ query=None HTTP/1.0 host=None None keep_alive=true continue=false [Connection=Keep-Alive] [Expect=100-continue]"#,
            ),
            // Absolute-form: the target's authority wins over Host.
            (
                b"GET http://example.com:8080/a?q HTTP/1.1\r\nHost: other\r\n\r\n",
                r#"GET http://example.com:8080/a?q Absolute path=/a query=Some("q") HTTP/1.1 host=Some("example.com:8080") None keep_alive=true continue=false [Host=other]"#,
            ),
            (
                b"GET https://h HTTP/1.1\r\nHost: h\r\n\r\n",
                r#"GET https://h Absolute path=/ query=None HTTP/1.1 host=Some("h") None keep_alive=true continue=false [Host=h]"#,
            ),
            (
                b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
                r#"OPTIONS * Asterisk path=* query=None HTTP/1.1 host=Some("h") None keep_alive=true continue=false [Host=h]"#,
            ),
            (
                b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                r#"CONNECT example.com:443 Authority path= query=None HTTP/1.1 host=Some("example.com:443") None keep_alive=true continue=false [Host=example.com:443]"#,
            ),
            // Empty values, tabs inside values, OWS trimmed on both sides.
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Blank: \t \r\nX-Tab: a\tb\r\nX-Ows:\t  v  v \t\r\n\r\n",
                "GET / Origin path=/ query=None HTTP/1.1 host=Some(\"h\") None keep_alive=true continue=false [Host=h] [X-Empty=] [X-Blank=] [X-Tab=a\tb] [X-Ows=v  v]",
            ),
            // Case-insensitive names, comma lists, framing from Content-Length.
            (
                b"POST /p HTTP/1.1\r\nhOsT: h\r\ncontent-LENGTH: 5, 5\r\nConnection: foo, CLOSE\r\nEXPECT: 100-Continue\r\n\r\n",
                r#"POST /p Origin path=/p query=None HTTP/1.1 host=Some("h") Length(5) keep_alive=false continue=true [hOsT=h] [content-LENGTH=5, 5] [Connection=foo, CLOSE] [EXPECT=100-Continue]"#,
            ),
            (
                b"PUT /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                r#"PUT /p Origin path=/p query=None HTTP/1.1 host=Some("h") Chunked keep_alive=true continue=false [Host=h] [Transfer-Encoding=chunked]"#,
            ),
            // Empty lines before the request line are skipped (and consumed).
            (
                b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                r#"GET / Origin path=/ query=None HTTP/1.1 host=Some("h") None keep_alive=true continue=false [Host=h]"#,
            ),
            // Extension methods; obs-text in a value.
            (
                b"PROPFIND /d HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n",
                "PROPFIND /d Origin path=/d query=None HTTP/1.1 host=Some(\"h\") None keep_alive=true continue=false [Host=h] [X=caf\u{fffd}]",
            ),
            // Escapes in the target and in Host (which leaves the common Host check), a long
            // name and whitespace around a value: the fast paths and the careful path agree.
            (
                b"DELETE /a%2Fb?x=%41&y HTTP/1.1\r\nHost: a%41b:80\r\nX-Long-Field-Name: \t v \t\r\n\r\n",
                r#"DELETE /a%2Fb?x=%41&y Origin path=/a%2Fb query=Some("x=%41&y") HTTP/1.1 host=Some("a%41b:80") None keep_alive=true continue=false [Host=a%41b:80] [X-Long-Field-Name=v]"#,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\nContent-Length: 0\r\n\r\n",
                r#"GET / Origin path=/ query=None HTTP/1.1 host=Some("[::1]:8080") Length(0) keep_alive=true continue=false [Host=[::1]:8080] [Content-Length=0]"#,
            ),
        ];
        for &(input, expected) in table {
            let head = parse_every_way(input, Limits::default())
                .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(input)))
                .expect("complete head");
            assert_eq!(summary(&head), expected);
            assert_eq!(head.consumed(), input.len());
        }
    });
}

/// Every rejection the head parser makes, with the status it answers.
#[test]
fn rejected_heads() {
    with_deadline(|| {
        let table: &[(&[u8], ParseError, u16)] = &[
            // Request line.
            (b"GET\r\n\r\n", InvalidRequestLine, 400),
            (b"GET /\r\n\r\n", InvalidRequestLine, 400),
            (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", InvalidMethod, 400),
            (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", InvalidRequestLine, 400),
            (b"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", InvalidTarget, 400),
            (b"GET /%zz HTTP/1.1\r\nHost: h\r\n\r\n", InvalidTarget, 400),
            (b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", InvalidTarget, 400),
            (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", TargetFormMismatch, 400),
            (b"GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", TargetFormMismatch, 400),
            (b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", TargetFormMismatch, 400),
            (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", InvalidVersion, 400),
            (b"GET / HTTP/11\r\nHost: h\r\n\r\n", InvalidVersion, 400),
            (b"GET / FTP/1.1\r\nHost: h\r\n\r\n", InvalidVersion, 400),
            (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", UnsupportedVersion, 505),
            (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", UnsupportedVersion, 505),
            // RFC 9112 §3: a method longer than any implemented (32 bytes by default).
            (b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456 / HTTP/1.1\r\nHost: h\r\n\r\n", MethodTooLong, 501),
            // Line endings.
            (b"GET / HTTP/1.1\nHost: h\r\n\r\n", BareLf, 400),
            (b"GET / HTTP/1.1\r\nHost: h\n\r\n", BareLf, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\n", BareLf, 400),
            (b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", BareLf, 400),
            (b"GET / HTTP/1.1\rHost: h\r\n\r\n", BareCr, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n", BareCr, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", BareCr, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", BareCr, 400),
            // Field lines.
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", ObsFold, 400),
            (b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", ObsFold, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\n\tX: a\r\n\r\n", ObsFold, 400),
            (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", WhitespaceBeforeColon, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\t: chunked\r\n\r\n", WhitespaceBeforeColon, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", InvalidFieldName, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", InvalidFieldName, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX\0: v\r\n\r\n", InvalidFieldName, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX@Y: v\r\n\r\n", InvalidFieldName, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", InvalidFieldValue, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n", InvalidFieldValue, 400),
            (b"GET / HTTP/1.1\r\nHost: h\r\nX: \x7f\r\n\r\n", InvalidFieldValue, 400),
            // Host.
            (b"GET / HTTP/1.1\r\n\r\n", MissingHost, 400),
            (b"GET http://h/ HTTP/1.1\r\n\r\n", MissingHost, 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", MultipleHost, 400),
            (b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", MultipleHost, 400),
            (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", InvalidHost, 400),
            (b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", InvalidHost, 400),
            (b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", InvalidHost, 400),
            (b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", InvalidHost, 400),
            // Content-Length.
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", InvalidContentLength, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", InvalidContentLength, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", InvalidContentLength, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", InvalidContentLength, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n", InvalidContentLength, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 6\r\n\r\n", ConflictingContentLength, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", ConflictingContentLength, 400),
            // Transfer-Encoding.
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ContentLengthWithTransferEncoding, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ContentLengthWithTransferEncoding, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", ChunkedNotFinal, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", ChunkedNotFinal, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ChunkedRepeated, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ,chunked\r\n\r\n", InvalidTransferEncoding, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", ChunkedNotFinal, 400),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", TransferEncodingInHttp10, 400),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", UnsupportedTransferCoding, 501),
            (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n\r\n", UnsupportedTransferCoding, 501),
            // Connection.
            (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: clo se\r\n\r\n", InvalidConnection, 400),
            // Expect (RFC 9110 §10.1.1).
            (b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\n", UnsupportedExpectation, 417),
            // Body limit, decided from the head.
            (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2097153\r\n\r\n", BodyTooLarge, 413),
        ];
        for &(input, err, status) in table {
            let got = parse_every_way(input, Limits::default());
            assert_eq!(got, Err(err), "{:?}", String::from_utf8_lossy(input));
            assert_eq!(err.status(), status, "{err:?}");
        }
    });
}

/// Each limit accepts exactly its value and rejects one more, with 413, 414 or 431.
#[test]
fn limits_at_their_boundaries() {
    with_deadline(|| {
        let limits = Limits {
            max_head_bytes: 64,
            max_headers: 3,
            max_target_bytes: 10,
            max_body_bytes: 100,
            ..Limits::default()
        };
        let head_of = |len: usize| {
            // "GET / HTTP/1.1\r\nHost: h\r\nX: " is 28 bytes, then padding, then "\r\n\r\n".
            let mut s = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
            s.resize(len - 4, b'a');
            s.extend_from_slice(b"\r\n\r\n");
            s
        };
        let table: Vec<(Vec<u8>, Result<(), ParseError>)> = vec![
            (head_of(64), Ok(())),
            (head_of(65), Err(HeadTooLarge)),
            (
                b"GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
                Ok(()),
            ),
            (
                b"GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
                Err(TargetTooLong),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n".to_vec(),
                Ok(()),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n".to_vec(),
                Err(TooManyFields),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n".to_vec(),
                Ok(()),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n".to_vec(),
                Err(BodyTooLarge),
            ),
            // The empty lines before the request line count towards the head.
            ([&b"\r\n"[..]; 20].concat(), Ok(())),
            ([&b"\r\n"[..]; 33].concat(), Err(HeadTooLarge)),
        ];
        for (input, expected) in table {
            let got = parse_every_way(&input, limits).map(|h| h.is_some());
            let expected = match expected {
                Ok(()) => Ok(!input.starts_with(b"\r\n")),
                Err(e) => Err(e),
            };
            assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(&input));
        }
    });
}

/// 501 (method), 414 and 431 are decided on a head that is still arriving, as soon as it is over the limit.
#[test]
fn limits_decided_before_the_line_ends() {
    let limits = Limits {
        max_head_bytes: 64,
        max_target_bytes: 10,
        ..Limits::default()
    };
    // 414: the target passes 10 bytes while the request line is incomplete.
    let mut p = RequestParser::new(limits);
    assert_eq!(p.parse(b"GET /123456789"), Ok(None));
    assert_eq!(p.parse(b"GET /1234567890"), Err(TargetTooLong));
    // 501: the method passes 32 bytes (the default) before any SP has arrived; 32 bytes of
    // method still wait.
    let mut p = RequestParser::new(limits);
    let method = [b'M'; 33];
    assert_eq!(p.parse(&method[..32]), Ok(None));
    assert_eq!(p.parse(&method), Err(MethodTooLong));
    // A CR that may end the line is not counted yet; the next byte decides.
    let mut p = RequestParser::new(limits);
    assert_eq!(p.parse(b"GET /123456789\r"), Ok(None));
    assert_eq!(p.parse(b"GET /123456789\r\n"), Err(InvalidRequestLine));
    // 431: a single 65-byte head without an end, and exactly 64 bytes still waits.
    let mut p = RequestParser::new(limits);
    let flood = [&b"GET / HTTP/1.1\r\nX: "[..], &[b'a'; 45]].concat();
    assert_eq!(flood.len(), 64);
    assert_eq!(p.parse(&flood), Ok(None));
    let mut longer = flood.clone();
    longer.push(b'a');
    assert_eq!(p.parse(&longer), Err(HeadTooLarge));
    // The error is sticky.
    assert_eq!(p.parse(&longer), Err(HeadTooLarge));
}

/// A head arriving a byte at a time is scanned once, not once per arrival: the LF search
/// resumes where it stopped, so the bytes it examines add up to the head's length.
#[test]
fn byte_at_a_time_is_linear() {
    with_deadline(|| {
        let mut head = b"GET /a HTTP/1.1\r\nHost: h\r\n".to_vec();
        for i in 0..80 {
            head.extend_from_slice(format!("X-Field-{i}: {}\r\n", "v".repeat(100)).as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert!(head.len() > 8000);
        let mut p = RequestParser::default();
        for end in 1..head.len() {
            assert_eq!(p.parse(&head[..end]), Ok(None));
        }
        let examined_before_last = p.examined;
        assert!(p.parse(&head).unwrap().is_some());
        assert!(
            examined_before_last <= head.len(),
            "examined {examined_before_last} bytes for a {}-byte head",
            head.len()
        );
    });
}

/// Pipelined requests: each head reports where it ends; the next parse starts there.
#[test]
fn pipelined_heads() {
    with_deadline(|| {
        let mut buf = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET /3 HTTP/1.1\r\nHost: h\r\n\r\n".to_vec();
        let mut p = RequestParser::default();
        let mut paths = Vec::new();
        while !buf.is_empty() {
            let head = p.parse(&buf).unwrap().expect("complete head");
            paths.push(head.path().to_owned());
            let body = match head.body_framing() {
                BodyFraming::Length(n) => n as usize,
                _ => 0,
            };
            buf.drain(..head.consumed() + body);
        }
        assert_eq!(paths, ["/1", "/2", "/3"]);
    });
}

/// Exactly the limit of header fields is fine, in received order, looked up by any case.
#[test]
fn many_fields_and_lookup() {
    with_deadline(|| {
        let mut input = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            input.extend_from_slice(format!("Name-{i}: value {i}\r\n").as_bytes());
        }
        // The 100 fields leave no room for Host: replace the first one.
        let input = String::from_utf8(input)
            .unwrap()
            .replacen("Name-0: value 0", "Host: h", 1);
        let input = format!("{input}\r\n");
        let head = RequestParser::default()
            .parse(input.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(head.header_count(), 100);
        assert_eq!(head.header_str("NAME-99"), Some("value 99"));
        assert_eq!(head.header("name-100"), None);
        assert_eq!(head.headers().len(), 100);
        let names: Vec<&str> = head.headers().map(|f| f.name()).take(3).collect();
        assert_eq!(names, ["Host", "Name-1", "Name-2"]);
        let one_more = input.replacen("\r\n\r\n", "\r\nX: y\r\n\r\n", 1);
        assert_eq!(
            RequestParser::default().parse(one_more.as_bytes()),
            Err(TooManyFields)
        );
    });
}

/// Bytes after the head (a body, the next request) do not count towards the head limit, even
/// when the buffer holds far more than the limit.
#[test]
fn bytes_after_the_head_do_not_count() {
    with_deadline(|| {
        let mut buf = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 40000\r\n\r\n".to_vec();
        let head_len = buf.len();
        buf.resize(head_len + 40000, b'x');
        let limits = Limits {
            max_head_bytes: 1024,
            ..Limits::default()
        };
        let head = RequestParser::new(limits)
            .parse(&buf)
            .unwrap()
            .expect("complete head");
        assert_eq!(head.consumed(), head_len);
        assert_eq!(head.body_framing(), BodyFraming::Length(40000));
    });
}

/// The parser remembers the last valid `Host` value to skip re-checking it on the next head;
/// that never changes a verdict. After a head whose Host is remembered, a second head on the
/// same parser gets exactly what a fresh parser gives it: the same value and values close to it
/// (a prefix, an extension, one byte changed, empty, a second Host line), and values too long
/// to be remembered.
#[test]
fn remembered_host_never_changes_a_verdict() {
    with_deadline(|| {
        let long = "a-rather-long-host-name.example.com:8443"; // over 31 bytes
        let firsts = ["127.0.0.1:18081", "h", long, "a%41b"];
        let seconds = [
            "127.0.0.1:18081",
            "127.0.0.1:1808",
            "127.0.0.1:180811",
            "127.0.0.1:1808x",
            "127.0.0.1:18081 ",
            "127.0.0.1:18081\r\nHost: 127.0.0.1:18081",
            "h",
            "h@",
            "",
            long,
            "a-rather-long-host-name.example.com:844x",
            "a%41b",
            "a%4",
        ];
        for first in firsts {
            let mut parser = RequestParser::default();
            let head = format!("GET / HTTP/1.1\r\nHost: {first}\r\n\r\n");
            assert_eq!(parser.parse(head.as_bytes()).map(|h| h.is_some()), Ok(true));
            for second in seconds {
                let head = format!("GET /2 HTTP/1.1\r\nHost: {second}\r\n\r\n");
                let fresh = RequestParser::default().parse(head.as_bytes());
                let mut again = parser.clone();
                assert_eq!(
                    again.parse(head.as_bytes()),
                    fresh,
                    "{first:?} then {second:?}"
                );
            }
        }
        // The table holds both verdicts, or it proves little.
        let verdict = |v: &str| {
            let head = format!("GET / HTTP/1.1\r\nHost: {v}\r\n\r\n");
            RequestParser::default().parse(head.as_bytes()).is_ok()
        };
        assert!(seconds.iter().any(|v| verdict(v)) && seconds.iter().any(|v| !verdict(v)));
    });
}

/// The fast run changes no verdict: 30,000 heads drawn by a seeded xorshift from common and
/// uncommon request lines and field lines (good ones, among them the `Host` line a warm parser
/// remembers and near misses of it, and ones with every kind of flaw: bad bytes, whitespace,
/// missing colons, bare CR or LF, a second `Host`, invalid hosts, conflicting lengths),
/// sometimes cut short, give the same result (the same head, the same error, or "not yet")
/// from a parser that takes the fast run and from one held to the careful path alone, both
/// fresh and after a first head on the same connection.
#[test]
fn fast_run_agrees_with_careful_path() {
    with_deadline(|| {
        let lines = [
            "GET / HTTP/1.1",
            "POST /a?b=c HTTP/1.1",
            "GET / HTTP/1.0",
            "OPTIONS * HTTP/1.1",
            "PROPFIND /x HTTP/1.1",
            "GET http://h/ HTTP/1.1",
            "GET  / HTTP/1.1",
            "GET / HTTP/2.0",
            "GET /\x7f HTTP/1.1",
            "",
        ];
        let fields = [
            "Host: 127.0.0.1:18081",
            "Host: 127.0.0.1:18081",
            "HOST: 127.0.0.1:18081",
            "Host: 127.0.0.1:1808",
            "Host:127.0.0.1:18081",
            "host:h",
            "Host: a b",
            "Accept: */*",
            "User-Agent:  x y \t",
            "Content-Length: 5",
            "Content-Length: 6",
            "Transfer-Encoding: chunked",
            "Connection: close",
            "Connection: Keep-Alive",
            "Expect: 100-continue",
            "X-Empty:",
            " Folded: a",
            "X : a",
            "NoColon",
            "X: a\rb",
            "X: a\x01",
            "X: caf\u{e9}",
            "Host: 127.0.0.1:18081x",
            "Host: 127.0.0.1:18081 x",
        ];
        let ends = [
            "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r",
        ];
        // The first `GOOD` field lines are well-formed; the rest each have a flaw.
        const GOOD: usize = 16;
        let mut state = 0x0123_4567_89AB_CDEF_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let limits = Limits {
            max_headers: 4,
            max_target_bytes: 12,
            ..Limits::default()
        };
        let (mut heads, mut errors) = (0, 0);
        for _ in 0..30_000 {
            let mut input = String::new();
            input.push_str(lines[next(lines.len())]);
            input.push_str(ends[next(ends.len())]);
            for _ in 0..next(6) {
                let field = match next(6) {
                    0 => fields[next(fields.len())],
                    _ => fields[next(GOOD)],
                };
                input.push_str(field);
                input.push_str(ends[next(ends.len())]);
            }
            input.push_str("\r\n");
            let mut input = input.into_bytes();
            if next(5) == 0 {
                input.truncate(next(input.len() + 1));
            }
            let first = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18081\r\n\r\n";
            for warm in [false, true] {
                let mut fast = RequestParser::new(limits);
                let mut careful = RequestParser::new(limits);
                careful.careful_only = true;
                if warm {
                    assert!(matches!(fast.parse(first), Ok(Some(_))));
                    assert!(matches!(careful.parse(first), Ok(Some(_))));
                }
                let got = fast.parse(&input);
                assert_eq!(
                    got,
                    careful.parse(&input),
                    "{:?}",
                    String::from_utf8_lossy(&input)
                );
                heads += usize::from(matches!(got, Ok(Some(_))));
                errors += usize::from(got.is_err());
            }
        }
        // Both verdicts must be common, or the comparison proves little.
        assert!(
            heads > 3_000 && errors > 3_000,
            "{heads} heads, {errors} errors"
        );
    });
}

/// A head of `count` fields (a `Host` first unless `count` is 0, then `Name-i` fields with
/// values padded by whitespace) and the (name, value) list its `headers()` must give.
fn head_with_fields(count: usize, path: &str) -> (Vec<u8>, Vec<(String, String)>) {
    let version = if count == 0 { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut input = format!("GET {path} {version}\r\n");
    let mut expected = Vec::new();
    for i in 0..count {
        let (name, value) = match i {
            0 => ("Host".to_string(), "h".to_string()),
            _ => (format!("Name-{i}"), format!("value {i}")),
        };
        input.push_str(&format!("{name}: \t{value} \r\n"));
        expected.push((name, value));
    }
    input.push_str("\r\n");
    (input.into_bytes(), expected)
}

/// What a head's field table gives, as owned pairs.
fn fields_of(head: &RequestHead) -> Vec<(String, String)> {
    head.headers()
        .map(|f| {
            let value = String::from_utf8(f.value().to_vec()).expect("ASCII values");
            (f.name().to_string(), value)
        })
        .collect()
}

/// The field table the parser writes straight into the head's allocation gives exactly the
/// fields of the head, with 0, 1, 16, 17 (one past the first reservation) and 100 fields: in
/// a fresh allocation, in recycled ones that held a longer head (more fields, longer bytes)
/// or a shorter one before, while an earlier head is still alive (so each has its own
/// allocation), byte at a time, and on the careful path alone.
#[test]
fn field_table_built_in_place() {
    with_deadline(|| {
        let limits = Limits::default();
        let check = |head: &RequestHead, input: &[u8], expected: &[(String, String)]| {
            assert_eq!(
                fields_of(head),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(head.header_count(), expected.len());
            assert_eq!(head.headers().len(), expected.len());
            assert_eq!(head.consumed(), input.len());
            assert_eq!(head.path(), "/p");
            let host = expected.first().map(|(_, v)| v.as_str());
            assert_eq!(head.host(), host);
        };
        let long_path = format!("/{}", "x".repeat(300));
        for count in [0, 1, 16, 17, 100] {
            let (input, expected) = head_with_fields(count, "/p");
            // A fresh allocation (nothing was ever dropped on this thread yet, or the pool
            // was emptied by the heads held below).
            let mut parser = RequestParser::new(limits);
            let first = parser.parse(&input).unwrap().expect("complete");
            check(&first, &input, &expected);
            // While `first` is alive, the next head gets an allocation of its own.
            let second = parser.parse(&input).unwrap().expect("complete");
            check(&second, &input, &expected);
            check(&first, &input, &expected);
            assert_ne!(first.parts().bytes.as_ptr(), second.parts().bytes.as_ptr());
            drop((first, second));
            // Recycled allocations that held a longer head (small enough to be kept), then a
            // shorter one. The box is the one the dropped head had; its buffer too, unless it
            // had to grow.
            for (other_count, other_path) in [(30, long_path.as_str()), (1, "/q")] {
                let (other, other_expected) = head_with_fields(other_count, other_path);
                let held = parser.parse(&other).unwrap().expect("complete");
                assert_eq!(fields_of(&held), other_expected);
                let address = std::ptr::from_ref(held.parts());
                drop(held);
                let head = parser.parse(&input).unwrap().expect("complete");
                assert_eq!(std::ptr::from_ref(head.parts()), address, "recycled");
                check(&head, &input, &expected);
            }
            // Byte at a time, and the careful path alone.
            let mut slow = RequestParser::new(limits);
            let mut got = None;
            for end in 0..=input.len() {
                if let Some(head) = slow.parse(&input[..end]).unwrap() {
                    got = Some((head, end));
                    break;
                }
            }
            let (head, end) = got.expect("complete");
            assert_eq!(end, input.len());
            check(&head, &input, &expected);
            let mut careful = RequestParser::new(limits);
            careful.careful_only = true;
            let head = careful.parse(&input).unwrap().expect("complete");
            check(&head, &input, &expected);
        }
    });
}

/// A head abandoned part way through its fields (by `reset`, or by an error and then
/// `reset`) leaves nothing of its field table in the next head.
#[test]
fn reset_discards_a_partial_field_table() {
    with_deadline(|| {
        let (input, expected) = head_with_fields(3, "/p");
        let partial = b"GET /old HTTP/1.1\r\nHost: old\r\nOld-1: a\r\nOld-2: b\r\nOld-3";
        let failing = b"GET /old HTTP/1.1\r\nHost: old\r\nOld-1: a\r\nHost: again\r\n\r\n";
        // Fails at the blank line, after `complete` has copied the head's bytes.
        let unhosted = b"GET /old HTTP/1.1\r\nOld-1: a\r\nOld-2: b\r\n\r\n";
        // (input, outcome, fields in the table it leaves)
        for (abandoned, outcome, fields) in [
            (&partial[..], Ok(None), 3),
            (&failing[..], Err(MultipleHost), 2),
            (&unhosted[..], Err(MissingHost), 2),
        ] {
            let mut parser = RequestParser::default();
            assert_eq!(parser.parse(abandoned), outcome);
            assert_eq!(parser.parse(abandoned), outcome, "an error is repeated");
            let held = parser.head.as_ref().expect("the partial table is held");
            let table = fields * super::types::FieldSpan::ENCODED_LEN;
            assert_eq!(held.bytes.len(), table, "the table alone");
            parser.reset();
            assert!(parser.head.is_none(), "reset gives the allocation back");
            let head = parser.parse(&input).unwrap().expect("complete");
            assert_eq!(fields_of(&head), expected);
            assert_eq!(head.consumed(), input.len());
        }
    });
}

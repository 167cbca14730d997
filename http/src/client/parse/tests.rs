//! Table-driven tests of the response parser: each case is decoded whole, then split into two
//! pieces at every offset (and byte by byte), and every way must give the same outcome, since a
//! server may deliver a response in any number of reads.

use super::*;

/// What a whole exchange produced: status, body, trailers, whether the connection is reusable.
type Outcome = Result<(u16, Vec<u8>, Vec<(String, Vec<u8>)>, bool), ParseError>;

/// Decodes one response arriving in `pieces`, then end of stream, the way `Response` does
/// (1xx heads are skipped).
fn decode(pieces: &[&[u8]], request_was_head: bool) -> Outcome {
    let mut buf: Vec<u8> = Vec::new();
    let mut start = 0;
    let mut pieces = pieces.iter();
    // 1. The head (skipping interim 1xx responses).
    let head = loop {
        match parse_head(&buf[start..], HeadLimits::default())? {
            Some((head, len)) => {
                start += len;
                if head.status == 101 {
                    return Err(ParseError::UnexpectedUpgrade);
                }
                if head.status >= 200 {
                    break head;
                }
            }
            None => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => return Err(ParseError::Truncated),
            },
        }
    };
    // 2. The body.
    let framing = framing(&head, request_was_head)?;
    let mut decoder = BodyDecoder::new(framing);
    let mut body = Vec::new();
    loop {
        match decoder.decode(&buf[start..])? {
            Decoded::Data { consumed, data } => {
                body.extend_from_slice(&buf[start + data.start..start + data.end]);
                start += consumed;
            }
            Decoded::Done { .. } => break,
            Decoded::NeedMore { consumed } => {
                start += consumed;
                assert_eq!(start, buf.len(), "NeedMore left input unconsumed");
                match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => {
                        decoder.finish_at_eof()?;
                        break;
                    }
                }
            }
        }
        if decoder.is_done() {
            break;
        }
    }
    let trailers = decoder
        .trailers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect();
    let reusable = keep_alive(&head, framing);
    Ok((head.status, body, trailers, reusable))
}

/// Checks that `raw` decodes to `want` whole, in two pieces split at every offset, and one
/// byte at a time.
fn check(raw: &[u8], request_was_head: bool, want: &Outcome) {
    let whole = decode(&[raw], request_was_head);
    assert_eq!(&whole, want, "whole: {:?}", String::from_utf8_lossy(raw));
    for k in 0..=raw.len() {
        let split = decode(&[&raw[..k], &raw[k..]], request_was_head);
        assert_eq!(
            &split,
            want,
            "split at {k}: {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    let bytes: Vec<&[u8]> = raw.chunks(1).collect();
    assert_eq!(&decode(&bytes, request_was_head), want, "byte by byte");
}

/// A successful outcome.
fn ok(status: u16, body: &str, trailers: &[(&str, &str)], reusable: bool) -> Outcome {
    Ok((
        status,
        body.as_bytes().to_vec(),
        trailers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect(),
        reusable,
    ))
}

/// Well-formed responses in every framing, and the HEAD / 204 / 304 / 1xx rules.
#[test]
fn well_formed_responses() {
    let cases: &[(&str, bool, Outcome)] = &[
        ("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", false, ok(200, "hello", &[], true)),
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, ok(200, "", &[], true)),
        ("HTTP/1.1 200\r\ncontent-length: 1\r\n\r\nx", false, ok(200, "x", &[], true)),
        ("HTTP/1.1 200 \r\ncontent-length: 1\r\n\r\nx", false, ok(200, "x", &[], true)),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
            false,
            ok(200, "hello world", &[], true),
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\nx-checksum: abc\r\nx-two:  2 \r\n\r\n",
            false,
            ok(200, "0123456789", &[("x-checksum", "abc"), ("x-two", "2")], true),
        ),
        ("HTTP/1.1 200 OK\r\n\r\nuntil close", false, ok(200, "until close", &[], false)),
        ("HTTP/1.0 200 OK\r\n\r\nold", false, ok(200, "old", &[], false)),
        ("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nab", false, ok(200, "ab", &[], false)),
        (
            "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 2\r\n\r\nab",
            false,
            ok(200, "ab", &[], true),
        ),
        (
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nab",
            false,
            ok(200, "ab", &[], false),
        ),
        // HEAD: the fields describe the GET response, but there is no body.
        ("HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n", true, ok(200, "", &[], true)),
        ("HTTP/1.1 204 No Content\r\n\r\n", false, ok(204, "", &[], true)),
        ("HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n", false, ok(304, "", &[], true)),
        (
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok",
            false,
            ok(201, "ok", &[], true),
        ),
        // obs-text in a value and a reason phrase is allowed.
        ("HTTP/1.1 200 \u{e9}\r\nx: caf\u{e9}\r\ncontent-length: 0\r\n\r\n", false, ok(200, "", &[], true)),
    ];
    for (raw, head, want) in cases {
        check(raw.as_bytes(), *head, want);
    }
}

/// Every malformed shape gets its precise error, however it is split.
#[test]
fn malformed_responses() {
    use ParseError::*;
    let cases: &[(&[u8], ParseError)] = &[
        (b"HTTP/1.1 200 OK\n\n", BareCrOrLf),
        (b"HTTP/1.1 200 OK\r\nx: y\n\r\n\r\n", BareCrOrLf),
        (b"HTTP/1.1 200 OK\rX\r\n\r\n", BareCrOrLf),
        (b"HTTP/2 200 OK\r\n\r\n", BadStatusLine),
        (b"HTTP/2.0 200 OK\r\n\r\n", UnsupportedVersion),
        (b"HTTP/1.1 20 OK\r\n\r\n", BadStatusCode),
        (b"HTTP/1.1 2000 OK\r\n\r\n", BadStatusCode),
        (b"HTTP/1.1 099 OK\r\n\r\n", BadStatusCode),
        (b"HTTP/1.1 600 OK\r\n\r\n", BadStatusCode),
        (b"HTTP/1.1  200 OK\r\n\r\n", BadStatusCode),
        (b"HTTP/1.1 200 O\x01K\r\n\r\n", BadStatusLine),
        (b"http/1.1 200 OK\r\n\r\n", BadStatusLine),
        (b"SSH-2.0-OpenSSH\r\n\r\n", BadStatusLine),
        // Found by the fuzz target: the error must not depend on where the bytes were split.
        (b"00 OK\r\n\rni\nluc\r\n\r\nhello", BadStatusLine),
        (b"HTTP/1.1 200 OK\r\n\rni\nluc\r\n\r\nhello", BareCrOrLf),
        (b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n", BadHeaderName),
        (b"HTTP/1.1 200 OK\r\nx : y\r\n\r\n", BadHeaderName),
        (b"HTTP/1.1 200 OK\r\n: y\r\n\r\n", BadHeaderName),
        (b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", BadHeaderName),
        (b"HTTP/1.1 200 OK\r\nx: a\x00b\r\n\r\n", BadHeaderValue),
        (
            b"HTTP/1.1 200 OK\r\nx: a\r\n folded\r\n\r\n",
            ObsoleteFolding,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nx",
            DuplicateContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\nx",
            DuplicateContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: +1\r\n\r\nx",
            BadContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n",
            BadContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length:\r\n\r\n",
            BadContentLength,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            ContentLengthWithTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            UnsupportedTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, chunked\r\n\r\n",
            UnsupportedTransferEncoding,
        ),
        (
            b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            UnsupportedTransferEncoding,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            BadChunkSize,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\r\n",
            BadChunkSize,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-1\r\n",
            BadChunkSize,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10000000000000000\r\n",
            BadChunkSize,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\nx\r\n",
            BareCrOrLf,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nxy\r\n",
            BadChunkTerminator,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
            BadTrailer,
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort",
            Truncated,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
            Truncated,
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n",
            Truncated,
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-le", Truncated),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            UnexpectedUpgrade,
        ),
    ];
    for (raw, err) in cases {
        check(raw, false, &Err(*err));
    }
}

/// A head that never ends is refused at the size limit, not buffered forever; so is one with
/// too many fields.
#[test]
fn head_limits() {
    let limits = HeadLimits {
        max_head_bytes: 64,
        max_headers: 2,
    };
    let long = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(100));
    assert_eq!(
        parse_head(long.as_bytes(), limits),
        Err(ParseError::HeadTooLarge)
    );
    let complete_but_long = format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(60));
    assert_eq!(
        parse_head(complete_but_long.as_bytes(), limits),
        Err(ParseError::HeadTooLarge)
    );
    let many = b"HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n";
    assert_eq!(parse_head(many, limits), Err(ParseError::TooManyHeaders));
    let two = b"HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\n\r\n";
    assert!(parse_head(two, limits).unwrap().is_some());
}

/// No input panics the parser or the decoders: a deterministic pseudo-random sweep of byte
/// strings built from response-like pieces (the fuzz target explores further).
#[test]
fn no_panic_on_random_bytes() {
    let pieces: &[&[u8]] = &[
        b"HTTP/1.1 ",
        b"HTTP/1.0 ",
        b"200",
        b"204",
        b"100",
        b" OK",
        b"\r\n",
        b"\n",
        b"\r",
        b"content-length: ",
        b"transfer-encoding: chunked",
        b"5",
        b"0",
        b"ff",
        b";x",
        b":",
        b" ",
        b"hello",
        b"\x00",
        b"\xff",
        b"connection: close",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..20_000 {
        let mut raw = Vec::new();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut s = seed;
        for _ in 0..(s % 24) {
            raw.extend_from_slice(pieces[(s % pieces.len() as u64) as usize]);
            s = s.rotate_right(5) ^ 0x9e37_79b9;
        }
        let _ = decode(&[&raw], false);
        let _ = decode(&raw.chunks(3).collect::<Vec<_>>(), seed & 1 == 0);
    }
}

//! Proves the fast path agrees with the strict parser: a table of heads (each must be accepted
//! or declined as listed, and agree), every prefix of a pipelined stream (split at every
//! offset), and a randomized differential run on mutated heads. "Agree" is the module contract:
//! a summary from the fast path equals what `parse_head` + `framing` + `keep_alive` say.

use super::super::{
    framing, is_field_value_byte, is_tchar, keep_alive, parse_head, BodyDecoder, Decoded,
};
use super::*;

/// Checks the contract on `buf`; returns whether the fast path gave an answer.
fn agrees(buf: &[u8], limits: HeadLimits, request_was_head: bool) -> bool {
    let Some((fast, len)) = parse_head_summary(buf, limits, request_was_head) else {
        return false;
    };
    let strict = parse_head(buf, limits);
    let Ok(Some((head, strict_len))) = strict else {
        panic!(
            "fast path accepted what the strict parser did not ({strict:?}): {:?}",
            String::from_utf8_lossy(buf)
        );
    };
    let show = String::from_utf8_lossy(buf);
    assert_eq!(len, strict_len, "head length: {show:?}");
    assert_eq!(fast.status, head.status, "status: {show:?}");
    let fr = framing(&head, request_was_head);
    assert_eq!(Ok(fast.framing), fr, "framing: {show:?}");
    assert_eq!(
        fast.keep_alive,
        keep_alive(&head, fast.framing),
        "keep-alive: {show:?}"
    );
    true
}

/// Heads the fast path must answer (and agree on), with the framing it must find.
const ACCEPTED: &[(&[u8], Framing, bool)] = &[
    (b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\nHello, World!", Framing::Length(13), true),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: Wed, 02 Dec 2026 03:00:00 GMT\r\n\r\n", Framing::Length(0), true),
    (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Framing::Chunked, true),
    (b"HTTP/1.1 200\r\ncontent-length:5\r\n\r\n", Framing::Length(5), true),
    (b"HTTP/1.1 200 \r\ncontent-length: \t5 \r\n\r\n", Framing::Length(5), true),
    (b"HTTP/1.1 200 OK\r\n\r\n", Framing::CloseDelimited, false),
    (b"HTTP/1.1 204 No Content\r\n\r\n", Framing::Empty, true),
    (b"HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\n\r\n", Framing::Empty, true),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi", Framing::Length(2), false),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", Framing::Length(2), false),
    (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\n", Framing::Length(2), false),
    (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n", Framing::Length(2), true),
    (b"HTTP/1.1 599 X \xff\xfe obs-text\r\nx-empty:\r\nx-tab:\ta\tb\t\r\ncontent-length: 1\r\n\r\n", Framing::Length(1), true),
    (b"HTTP/1.1 500 Internal Server Error\r\n!#$%&'*+-.^_`|~09az:v\r\ncontent-length: 9223372036854775807\r\n\r\n", Framing::Length(i64::MAX as u64), true),
];

/// Heads the fast path must decline; the strict parser either errs, wants more, or (for the
/// unusual but valid shapes) answers on its own.
const DECLINED: &[&[u8]] = &[
    b"",
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    b"HTTP/1.1 099 X\r\n\r\n",
    b"HTTP/1.1 600 X\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 20x OK\r\n\r\n",
    b"HTTP/2.0 200 OK\r\n\r\n",
    b"HTTP/1.2 200 OK\r\n\r\n",
    b"http/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1  200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nname : x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nno-colon\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nx: a\x01b\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nx: a\x7fb\r\n\r\n",
    b"HTTP/1.1 200 O\x00K\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ncontent-length: 18446744073709551616\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 2\r\n\r\n",
    b"HTTP/1.0 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
];

#[test]
fn the_table_is_answered_as_listed_and_agrees() {
    for &(raw, fr, ka) in ACCEPTED {
        assert!(
            agrees(raw, HeadLimits::default(), false),
            "declined: {:?}",
            String::from_utf8_lossy(raw)
        );
        let (s, _) = parse_head_summary(raw, HeadLimits::default(), false).unwrap();
        assert_eq!(
            (s.framing, s.keep_alive),
            (fr, ka),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
        // A response to HEAD never has a body, whatever the fields say.
        assert!(agrees(raw, HeadLimits::default(), true));
    }
    for &raw in DECLINED {
        assert!(
            !agrees(raw, HeadLimits::default(), false),
            "accepted: {:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn limits_are_respected() {
    let raw = b"HTTP/1.1 200 OK\r\na: 1\r\nb: 2\r\ncontent-length: 0\r\n\r\n";
    let tight_count = HeadLimits {
        max_headers: 2,
        ..HeadLimits::default()
    };
    assert!(!agrees(raw, tight_count, false));
    assert!(agrees(
        raw,
        HeadLimits {
            max_headers: 3,
            ..tight_count
        },
        false
    ));
    let tight_bytes = HeadLimits {
        max_head_bytes: raw.len() - 1,
        ..HeadLimits::default()
    };
    assert!(!agrees(raw, tight_bytes, false));
    assert!(agrees(
        raw,
        HeadLimits {
            max_head_bytes: raw.len(),
            ..tight_bytes
        },
        false
    ));
}

/// Every prefix of three pipelined answers: a prefix that ends inside a head is declined (the
/// strict parser would ask for more), and once a head is whole both agree; the heads are then
/// found at the same offsets when the stream is consumed answer by answer.
#[test]
fn split_at_every_offset_agrees() {
    let stream: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello\
HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n";
    // Where each head starts and ends, found by the strict parser and the body decoder.
    let mut heads = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let (head, len) = parse_head(&stream[at..], HeadLimits::default())
            .unwrap()
            .unwrap();
        heads.push((at, at + len));
        at += len;
        let mut body = BodyDecoder::new(framing(&head, false).unwrap());
        while !body.is_done() {
            match body.decode(&stream[at..]).unwrap() {
                Decoded::Data { consumed, .. } | Decoded::Done { consumed } => at += consumed,
                Decoded::NeedMore { .. } => unreachable!("the stream holds whole answers"),
            }
        }
    }
    assert_eq!(heads.len(), 3);
    for &(start, end) in &heads {
        for cut in start..=stream.len() {
            let piece = &stream[start..cut];
            let answered = agrees(piece, HeadLimits::default(), false);
            assert_eq!(answered, cut >= end, "head at {start}, cut at {cut}");
            if !answered {
                assert_eq!(parse_head(piece, HeadLimits::default()), Ok(None));
            }
        }
    }
}

/// The class table holds exactly the parent's byte classes.
#[test]
fn class_table_matches_the_grammar_functions() {
    for b in 0..=255u8 {
        let class = CLASSES[usize::from(b)];
        assert_eq!(class & TCHAR != 0, is_tchar(b), "tchar {b:#04x}");
        assert_eq!(class & VALUE != 0, is_field_value_byte(b), "value {b:#04x}");
    }
}

/// The word-at-a-time value scan ends where a byte-at-a-time scan with the grammar function
/// ends, for values that put every kind of byte at every position of a word.
#[test]
fn value_scan_agrees_with_the_byte_loop() {
    let reference = |buf: &[u8], i: usize| (i..buf.len()).find(|&j| !is_field_value_byte(buf[j]));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..50_000 {
        let len = rng.below(40);
        let mut buf: Vec<u8> = (0..len).map(|_| b'a' + (rng.below(26) as u8)).collect();
        // One or two odd bytes anywhere: controls, HTAB, DEL, obs-text, the edges of each range.
        for _ in 0..1 + round % 2 {
            if !buf.is_empty() {
                const ODD: &[u8] = b"\x00\x08\t\n\r\x1f \x20\x21\x7e\x7f\x80\xff";
                let at = rng.below(buf.len());
                buf[at] = ODD[rng.below(ODD.len())];
            }
        }
        let start = rng.below(len.max(1));
        assert_eq!(
            value_end(&buf, start),
            reference(&buf, start),
            "{buf:?} from {start}"
        );
    }
    for b in 0..=255u8 {
        let word = [b'x', b'x', b'x', b, b'x', b'x', b'x', b'x'];
        assert_eq!(
            plain_word(&word),
            b != b'\t' && is_field_value_byte(b),
            "{b:#04x}"
        );
    }
}

/// A small deterministic generator (xorshift), so a failure can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

/// A plausible head built from parts that touch every rule, then perhaps mutated.
fn random_head(rng: &mut Rng) -> Vec<u8> {
    const STATUS: &[&[u8]] = &[
        b"HTTP/1.1 200 OK",
        b"HTTP/1.0 200 OK",
        b"HTTP/1.1 204",
        b"HTTP/1.1 304 Not Modified",
        b"HTTP/1.1 100 Continue",
        b"HTTP/1.1 404 ",
        b"HTTP/1.1 599 \xc3\xa9",
        b"HTTP/1.1 600 X",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.2 200 OK",
        b"HTTP/1.1 200 O\tK",
    ];
    const NAMES: &[&[u8]] = &[
        b"content-length",
        b"Content-Length",
        b"transfer-encoding",
        b"Transfer-Encoding",
        b"connection",
        b"Connection",
        b"date",
        b"x-a",
        b"x b",
        b"",
        b" x",
    ];
    const VALUES: &[&[u8]] = &[
        b" 5",
        b"5",
        b" 0 ",
        b"\t12\t",
        b" chunked",
        b"Chunked",
        b" gzip, chunked",
        b" close",
        b" keep-alive",
        b" Keep-Alive, close",
        b" upgrade",
        b"",
        b" 1, 1",
        b" -1",
        b" x\x01y",
        b" 99999999999999999999",
        b" \xff",
        b" text/plain; charset=utf-8",
        b" Wed, 02 Dec 2026 03:00:00 GMT",
        b" Wed, 02 Dec\x1f2026 03:00:00 GMT",
        b" Wed, 02 Dec 2026\x7f03:00:00 GMT",
        b" Wed,\t02 Dec 2026 03:00:00\tGMT",
    ];
    const NOISE: &[u8] = b"\r\n :\t0aZ,\x00\x7f\xff";
    let mut h = rng.pick(STATUS).to_vec();
    h.extend_from_slice(b"\r\n");
    for _ in 0..rng.below(5) {
        h.extend_from_slice(rng.pick(NAMES));
        h.push(b':');
        h.extend_from_slice(rng.pick(VALUES));
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(b"\r\n");
    // Mutate about half of them: insert, replace or remove a byte anywhere.
    for _ in 0..rng.below(4).saturating_sub(1) {
        let at = rng.below(h.len() + 1);
        let b = NOISE[rng.below(NOISE.len())];
        match rng.below(3) {
            0 => h.insert(at, b),
            1 if at < h.len() => h[at] = b,
            _ if at < h.len() => {
                h.remove(at);
            }
            _ => {}
        }
    }
    h.extend_from_slice(b"body");
    h
}

#[test]
fn randomized_heads_agree_with_the_strict_parser() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut answered, mut declined) = (0, 0);
    for _ in 0..20_000 {
        let h = random_head(&mut rng);
        let was_head = rng.below(8) == 0;
        if agrees(&h, HeadLimits::default(), was_head) {
            answered += 1;
        } else {
            declined += 1;
        }
        // Every prefix agrees too (or is declined).
        let cut = rng.below(h.len() + 1);
        agrees(&h[..cut], HeadLimits::default(), was_head);
    }
    // The generator must exercise both outcomes, or the test proves nothing.
    assert!(
        answered > 2_000 && declined > 2_000,
        "{answered} answered, {declined} declined"
    );
}

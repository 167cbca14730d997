//! Differential test of the client's response-head parser against `httparse` (hyper's parser):
//! on generated heads, valid and mutated, whenever ours accepts a complete head, httparse must
//! accept the same bytes with the same length, version, status and fields. Ours is allowed to be
//! stricter (it refuses bare LF, status codes outside 100-599, and a few more), never looser.

use spindle_http::client::{parse_head, HeadLimits};

/// A small deterministic generator (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    /// The next pseudo-random number.
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One of the byte strings in `items`.
    fn bytes<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

/// A response head built from plausible pieces (every other case) or from plausible and odd
/// pieces with byte mutations (the rest).
fn generate(rng: &mut Rng) -> Vec<u8> {
    let odd = rng.below(2) == 0;
    let pick = |rng: &mut Rng, good: &[&'static [u8]], bad: &[&'static [u8]]| -> &'static [u8] {
        if odd && rng.below(3) == 0 {
            rng.bytes(bad)
        } else {
            rng.bytes(good)
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(pick(
        rng,
        &[b"HTTP/1.1", b"HTTP/1.0"],
        &[b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 "],
    ));
    out.extend_from_slice(pick(rng, &[b" "], &[b"  ", b"\t"]));
    out.extend_from_slice(pick(
        rng,
        &[b"200", b"404", b"204", b"301", b"500", b"100"],
        &[b"999", b"099", b"20", b"2000", b"2x0"],
    ));
    out.extend_from_slice(pick(
        rng,
        &[b" OK", b"", b" ", b" Not Found", b" caf\xc3\xa9", b" a\tb"],
        &[b" \x7f", b" a\x00"],
    ));
    out.extend_from_slice(b"\r\n");
    for _ in 0..rng.below(8) {
        out.extend_from_slice(pick(
            rng,
            &[
                b"content-length",
                b"Content-Type",
                b"x-a",
                b"x_b",
                b"set-cookie",
                b"X-!#$%&'*+.^`|~",
            ],
            &[b"bad name", b"", b"x(y)", b"x\x80"],
        ));
        out.extend_from_slice(pick(rng, &[b": ", b":", b":\t", b":  "], &[b" : ", b" :"]));
        out.extend_from_slice(pick(
            rng,
            &[
                b"5",
                b"text/plain",
                b"",
                b"a b",
                b"  padded  ",
                b"\x80\xff",
                b"a=b; c=d",
            ],
            &[b"a\x01b", b"a\x7fb"],
        ));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    // Mutations (odd cases only): replace, insert or delete a byte.
    for _ in 0..if odd { rng.below(3) } else { 0 } {
        let at = rng.below(out.len());
        let byte = *rng.pick(&[b'\r', b'\n', b' ', b'\t', b':', 0u8, 0x7f, b'a', 0xc3]);
        match rng.below(3) {
            0 => out[at] = byte,
            1 => out.insert(at, byte),
            _ => {
                out.remove(at);
            }
        }
    }
    out.extend_from_slice(b"body");
    out
}

/// Whatever ours accepts, httparse accepts identically.
#[test]
fn ours_accepts_only_what_httparse_accepts_identically() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut accepted = 0;
    let mut refused = 0;
    for case in 0..50_000 {
        let raw = generate(&mut rng);
        let ours = parse_head(&raw, HeadLimits::default());
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut theirs = httparse::Response::new(&mut fields);
        let their_status = theirs.parse(&raw);
        match ours {
            Ok(Some((head, len))) => {
                accepted += 1;
                let what = String::from_utf8_lossy(&raw);
                match their_status {
                    Ok(httparse::Status::Complete(n)) => {
                        assert_eq!(n, len, "case {case}: {what:?}")
                    }
                    other => {
                        panic!("case {case}: ours accepted, httparse said {other:?}: {what:?}")
                    }
                }
                assert_eq!(
                    theirs.version,
                    Some(head.minor_version),
                    "case {case}: {what:?}"
                );
                assert_eq!(theirs.code, Some(head.status), "case {case}: {what:?}");
                let their_fields: Vec<(String, Vec<u8>)> = theirs
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), trim(h.value).to_vec()))
                    .collect();
                let our_fields: Vec<(String, Vec<u8>)> = head
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_vec()))
                    .collect();
                assert_eq!(our_fields, their_fields, "case {case}: {what:?}");
            }
            Ok(None) => {
                // Ours waits for more only if httparse does not see a complete head either.
                let complete = matches!(their_status, Ok(httparse::Status::Complete(_)));
                assert!(
                    !complete,
                    "case {case}: httparse complete, ours waiting: {:?}",
                    String::from_utf8_lossy(&raw)
                );
            }
            Err(_) => refused += 1,
        }
    }
    // The generator must exercise both sides, or this test proves nothing.
    assert!(accepted > 5_000, "only {accepted} accepted");
    assert!(refused > 5_000, "only {refused} refused");
}

/// `value` without surrounding spaces and tabs (httparse keeps trailing whitespace in some
/// versions; the field value itself excludes it, RFC 9110 §5.5).
fn trim(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

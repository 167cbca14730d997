//! Differential test: on valid requests, our parser must agree with `httparse` (a widely used,
//! independently written parser) on the method, target, version, and every header name and
//! value, and it must agree with itself when the input arrives in two pieces.
//!
//! The corpus is a hand-written list plus a few thousand requests from a seeded xorshift
//! generator, so a failure names a seed-stable request that can be replayed. The generator also
//! knows which framing and keep-alive it chose, which checks our derived facts, which httparse
//! does not compute.

mod common;

use common::within;

use spindle_http::{BodyFraming, Limits, RequestHead, RequestParser};

/// xorshift64*: a tiny deterministic generator (Vigna), enough to vary requests reproducibly.
struct XorShift(
    /// The generator state. INVARIANT: never 0 (xorshift would stay at 0 forever).
    u64,
);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// `min_len` to `min_len + extra - 1` bytes drawn from `alphabet`.
    fn string(&mut self, alphabet: &[u8], min_len: usize, extra: usize) -> String {
        let len = min_len + self.below(extra);
        (0..len).map(|_| *self.pick(alphabet) as char).collect()
    }
}

/// What httparse saw in a request.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// The method as received.
    method: String,
    /// The request-target as received.
    target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 (httparse's representation).
    minor_version: u8,
    /// Names as received and values without surrounding whitespace, in order.
    headers: Vec<(String, Vec<u8>)>,
    /// Bytes of the head, up to and including the blank line.
    consumed: usize,
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

fn with_httparse(input: &[u8]) -> Seen {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    let status = req
        .parse(input)
        .expect("httparse rejected a request from the valid corpus");
    let consumed = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => panic!("httparse saw an incomplete head"),
    };
    Seen {
        method: req.method.unwrap().to_owned(),
        target: req.path.unwrap().to_owned(),
        minor_version: req.version.unwrap(),
        // httparse may keep trailing whitespace in a value; RFC 9112 says it is not part of
        // the value, and we strip it, so compare trimmed.
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), trim(h.value).to_vec()))
            .collect(),
        consumed,
    }
}

fn with_spindle(head: &RequestHead) -> Seen {
    Seen {
        method: head.method_str().to_owned(),
        target: head.target().to_owned(),
        minor_version: match head.version() {
            spindle_http::Version::Http10 => 0,
            spindle_http::Version::Http11 => 1,
        },
        headers: head
            .headers()
            .map(|h| (h.name().to_owned(), h.value().to_vec()))
            .collect(),
        consumed: head.consumed(),
    }
}

/// Parse `input` with both parsers, in one piece and split at `split`, and compare.
fn compare(input: &[u8], split: usize) -> RequestHead {
    let show = || String::from_utf8_lossy(input).into_owned();
    let head = RequestParser::default()
        .parse(input)
        .unwrap_or_else(|e| panic!("we rejected {:?}: {e:?}", show()))
        .unwrap_or_else(|| panic!("we saw an incomplete head in {:?}", show()));
    assert_eq!(with_spindle(&head), with_httparse(input), "{:?}", show());

    let mut parser = RequestParser::default();
    let first = parser
        .parse(&input[..split])
        .expect("a prefix of a valid head");
    let again = match first {
        Some(h) => h,
        None => parser.parse(input).unwrap().expect("complete"),
    };
    assert_eq!(again, head, "split at {split}: {:?}", show());
    head
}

/// Hand-written valid requests, including the edge cases most likely to differ.
#[test]
fn hand_written_corpus_agrees_with_httparse() {
    within(|| {
        let corpus: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
            b"GET /index.html?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"HEAD /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            b"GET http://example.com/a/b?c HTTP/1.1\r\nHost: example.com\r\n\r\n",
            b"POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
            b"PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Tabs:\ta\tb\t\r\nX-Spaces:   a  b   \r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: h\r\nUSER-AGENT: curl/8.0\r\naccept-encoding: gzip, deflate\r\n\r\n",
            b"PROPFIND /dav/ HTTP/1.1\r\nHost: h\r\nDepth: 1\r\n\r\n",
            b"M-SEARCH * HTTP/1.1\r\nHost: 239.255.255.250:1900\r\n\r\n",
            b"GET /~user/a;b=c/%7E!$&'()*+,=:@ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=b; c=d\r\nX: \"quoted, string\"\r\n\r\n",
        ];
        for input in corpus {
            // M-SEARCH * is not OPTIONS: we refuse asterisk-form for it, httparse does not.
            if input.starts_with(b"M-SEARCH") {
                let ours = RequestParser::default().parse(input);
                assert_eq!(ours, Err(spindle_http::ParseError::TargetFormMismatch));
                continue;
            }
            for split in 0..=input.len() {
                compare(input, split);
            }
        }
    });
}

/// What the generator decided about the framing and persistence of a request.
struct Plan {
    /// The framing the generated headers imply.
    framing: BodyFraming,
    /// Whether the generated version and `Connection` imply keep-alive.
    keep_alive: bool,
    /// Whether an HTTP/1.1 request got `Expect: 100-continue`.
    expect_continue: bool,
}

/// Generate one valid request and what it should mean.
fn generate(rng: &mut XorShift) -> (Vec<u8>, Plan) {
    const TCHAR: &[u8] =
        b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const PCHAR: &[u8] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
    const VALUE: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \t!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    const HOSTS: &[&str] = &[
        "h",
        "example.com",
        "example.com:8080",
        "127.0.0.1",
        "[::1]:443",
        "a-b.c_d~e",
    ];

    let version_11 = rng.chance(80);
    let mut method = rng
        .pick(&[
            "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "X",
        ])
        .to_string();
    if method == "X" {
        method = rng.string(TCHAR, 1, 12);
    }
    let host = *rng.pick(HOSTS);
    let target = match rng.below(10) {
        0 if method == "OPTIONS" => "*".to_owned(),
        1 => {
            // CONNECT with authority-form.
            method = "CONNECT".to_owned();
            format!(
                "{}:{}",
                rng.pick(&["example.com", "10.0.0.1", "[2001:db8::1]"]),
                rng.below(65536)
            )
        }
        2 => format!(
            "{}://{host}{}",
            rng.pick(&["http", "https", "HTTP"]),
            random_path(rng, PCHAR)
        ),
        _ => random_path(rng, PCHAR),
    };
    let target = if target.is_empty() {
        "/".to_owned()
    } else {
        target
    };

    let mut fields: Vec<(String, String)> = Vec::new();
    let send_host = version_11 || rng.chance(50);
    if send_host {
        fields.push((case_mix(rng, "Host"), host.to_owned()));
    }
    for _ in 0..rng.below(12) {
        let name = rng.string(TCHAR, 1, 20);
        // Skip names that would change framing; those are chosen on purpose below.
        let lower = name.to_ascii_lowercase();
        if [
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
            "expect",
        ]
        .contains(&lower.as_str())
        {
            continue;
        }
        let mut value = rng.string(VALUE, 0, 40);
        // Values start and end with a visible character; OWS goes around them.
        value = value.trim_matches(|c| c == ' ' || c == '\t').to_owned();
        fields.push((name, value));
    }
    let framing = match rng.below(3) {
        0 => BodyFraming::None,
        1 => {
            let n = rng.below(5000) as u64;
            fields.push((case_mix(rng, "Content-Length"), n.to_string()));
            BodyFraming::Length(n)
        }
        _ if version_11 => {
            fields.push((case_mix(rng, "Transfer-Encoding"), "chunked".to_owned()));
            BodyFraming::Chunked
        }
        _ => BodyFraming::None,
    };
    let connection = *rng.pick(&[
        "",
        "close",
        "keep-alive",
        "Upgrade, close",
        "keep-alive, foo",
    ]);
    if !connection.is_empty() {
        fields.push((case_mix(rng, "Connection"), connection.to_owned()));
    }
    let close = connection.contains("close");
    let keep_alive = if version_11 {
        !close
    } else {
        connection.contains("keep-alive") && !close
    };
    let expect = rng.chance(10);
    if expect {
        fields.push((case_mix(rng, "Expect"), "100-continue".to_owned()));
    }
    // Shuffle so the framing fields are not always last (Host may move too: that is fine).
    for i in (1..fields.len()).rev() {
        let j = rng.below(i + 1);
        fields.swap(i, j);
    }

    let version = if version_11 { "HTTP/1.1" } else { "HTTP/1.0" };
    let mut out = format!("{method} {target} {version}\r\n").into_bytes();
    for (name, value) in &fields {
        let before = rng.pick(&["", " ", "  ", "\t", " \t"]);
        let after = rng.pick(&["", "", " ", "\t"]);
        out.extend_from_slice(format!("{name}:{before}{value}{after}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let plan = Plan {
        framing,
        keep_alive,
        expect_continue: expect && version_11,
    };
    (out, plan)
}

fn random_path(rng: &mut XorShift, pchar: &[u8]) -> String {
    let mut path = String::new();
    for _ in 0..rng.below(5) {
        path.push('/');
        path.push_str(&rng.string(pchar, 0, 10));
        if rng.chance(20) {
            path.push_str(&format!("%{:02X}", rng.below(256)));
        }
    }
    if rng.chance(40) {
        path.push('?');
        path.push_str(&rng.string(pchar, 0, 20));
        if rng.chance(30) {
            path.push_str("/?");
        }
    }
    if path.starts_with('?') {
        path.insert(0, '/');
    }
    path
}

/// Randomly change the case of a field name: the parser must not care.
fn case_mix(rng: &mut XorShift, name: &str) -> String {
    name.chars()
        .map(|c| {
            if rng.chance(50) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// A few thousand generated requests: both parsers agree, and our derived facts match the plan.
#[test]
fn generated_corpus_agrees_with_httparse() {
    within(|| {
        let mut rng = XorShift(0x5EED_1234_ABCD_0001);
        let limits = Limits::default();
        for case in 0..5000 {
            let (input, plan) = generate(&mut rng);
            assert!(input.len() <= limits.max_head_bytes);
            let split = rng.below(input.len() + 1);
            let head = compare(&input, split);
            let show = String::from_utf8_lossy(&input);
            assert_eq!(head.body_framing(), plan.framing, "case {case}: {show:?}");
            assert_eq!(head.keep_alive(), plan.keep_alive, "case {case}: {show:?}");
            assert_eq!(
                head.expects_continue(),
                plan.expect_continue,
                "case {case}: {show:?}"
            );
        }
    });
}

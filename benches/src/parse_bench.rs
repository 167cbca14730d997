//! `spindle-bench parse`: the request-head parser of `spindle-http` timed against `httparse`
//! on the same inputs, in one process, with the ratio of the two.
//!
//! Three inputs (`CASES`): the exact request `wrk` sends for `GET /`, a browser-like request
//! with eleven fields, and sixteen pipelined copies of the `wrk` request in one buffer (what
//! `benches/pipeline.lua` makes wrk send in one write). The plan, per input:
//! 1. check once, untimed, that both parsers accept it and agree on where each head ends;
//! 2. warm both up with one untimed batch each;
//! 3. time `--batches` batches of `--iters` requests on each side, alternating who goes first
//!    (ABBA), so noise from the rest of the machine falls on both sides evenly;
//! 4. report the median batch as nanoseconds per request, and the ratio spindle / httparse.
//!
//! The two sides do not do the same work, and the numbers should be read with that in mind:
//! spindle's parser validates every rule of `docs/http.md` (target grammar, `Host`, framing,
//! keep-alive) and builds an owned `RequestHead` (as the connection does for each request),
//! while `httparse` only splits the head into borrowed slices of a caller-provided 32-slot
//! header array. The ratio says how much the extra guarantees cost.
//!
//! Invariant: nothing here compares a time against a threshold.

use std::hint::black_box;
use std::time::Instant;

use spindle_http::RequestParser;

/// The request wrk sends for `wrk http://127.0.0.1:18081/` (benches/http.sh), byte for byte.
const WRK_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18081\r\n\r\n";

/// A request shaped like a browser's page load: a query, eleven fields, long values.
const BROWSER: &[u8] = b"GET /static/app.js?v=3&lang=en HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/index.html\r\n\
Connection: keep-alive\r\n\
Cookie: session=3f2a9c81d0e4b7a6; theme=dark; consent=yes\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Cache-Control: max-age=0\r\n\
\r\n";

/// How many copies of [`WRK_GET`] the pipelined case holds (what benches/pipeline.lua sends).
const PIPELINE_DEPTH: usize = 16;

/// What the user asked for on the command line.
#[derive(Debug)]
pub(crate) struct Options {
    /// Requests parsed per timed batch, per side.
    pub(crate) iterations: usize,
    /// Timed batches per side; the median batch is reported.
    pub(crate) batches: usize,
    /// Run only the case whose name starts with this (all of them when `None`); handy under
    /// `perf record`.
    pub(crate) only: Option<String>,
}

/// One input: a name for the table and a buffer of one or more complete heads.
#[derive(Debug)]
struct Case {
    /// Shown in the first column.
    name: &'static str,
    /// The bytes parsed; holds `requests` heads back to back and nothing else.
    buf: Vec<u8>,
    /// How many heads `buf` holds: times are divided by this too.
    requests: usize,
}

/// The three inputs, built once.
fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "wrk GET /",
            buf: WRK_GET.to_vec(),
            requests: 1,
        },
        Case {
            name: "browser, 11 fields",
            buf: BROWSER.to_vec(),
            requests: 1,
        },
        Case {
            name: "16 x wrk GET, pipelined",
            buf: WRK_GET.repeat(PIPELINE_DEPTH),
            requests: PIPELINE_DEPTH,
        },
    ]
}

/// Runs every case and prints one table row each.
pub(crate) fn run(options: &Options) -> Result<(), String> {
    if options.iterations == 0 || options.batches == 0 {
        return Err("--iters and --batches must be at least 1".into());
    }
    println!(
        "request-head parsing: spindle RequestParser (+ RequestHead) vs httparse::Request (32 header slots)"
    );
    println!(
        "{} batches of {} requests per side, alternating; ns per request, median batch [min .. max]",
        options.batches, options.iterations
    );
    println!();
    println!(
        "{:<26} {:>26} {:>26} {:>16}",
        "input", "spindle", "httparse", "spindle/httparse"
    );
    let selected: Vec<Case> = cases()
        .into_iter()
        .filter(|c| match &options.only {
            Some(prefix) => c.name.starts_with(prefix.as_str()),
            None => true,
        })
        .collect();
    if selected.is_empty() {
        return Err("--only matches no case; try `wrk`, `browser` or `16`".into());
    }
    for case in selected {
        // 1. Both parsers must see the same heads, or the comparison means nothing.
        let ours = parse_all_spindle(&mut RequestParser::default(), &case.buf)?;
        let theirs = parse_all_httparse(&case.buf)?;
        if ours != theirs || ours != case.requests {
            return Err(format!(
                "{}: spindle parsed {ours} heads, httparse {theirs}, expected {}",
                case.name, case.requests
            ));
        }
        let (spindle, httparse) = measure(&case, options);
        println!(
            "{:<26} {:>26} {:>26} {:>16.2}",
            case.name,
            spindle.to_string(),
            httparse.to_string(),
            spindle.median / httparse.median
        );
    }
    Ok(())
}

/// Steps 2–4 of the module plan for one case: returns (spindle, httparse).
fn measure(case: &Case, options: &Options) -> (Summary, Summary) {
    // The parser lives as long as a connection would: built once, reused for every request.
    let mut parser = RequestParser::default();
    // Enough passes over the buffer to make up `iterations` requests (at least one).
    let passes = options.iterations.div_ceil(case.requests).max(1);
    let per_request = |nanos: f64| nanos / (passes * case.requests) as f64;
    let mut spindle_batch = || {
        let start = Instant::now();
        for _ in 0..passes {
            // The buffer is known to parse (checked in `run`), so this cannot fail.
            let _ = black_box(parse_all_spindle(&mut parser, black_box(&case.buf)));
        }
        per_request(start.elapsed().as_nanos() as f64)
    };
    let httparse_batch = || {
        let start = Instant::now();
        for _ in 0..passes {
            let _ = black_box(parse_all_httparse(black_box(&case.buf)));
        }
        per_request(start.elapsed().as_nanos() as f64)
    };

    // 2. Warm-up: caches, branch predictors, the allocator's free lists.
    spindle_batch();
    httparse_batch();

    // 3. Alternate which side goes first.
    let mut ours = Vec::with_capacity(options.batches);
    let mut theirs = Vec::with_capacity(options.batches);
    for i in 0..options.batches {
        if i % 2 == 0 {
            ours.push(spindle_batch());
            theirs.push(httparse_batch());
        } else {
            theirs.push(httparse_batch());
            ours.push(spindle_batch());
        }
    }

    // 4.
    (Summary::of(ours), Summary::of(theirs))
}

/// Parse every head in `buf` the way the connection does: parse, drop the consumed bytes,
/// parse the rest. Returns how many heads there were; the heads are built and dropped.
fn parse_all_spindle(parser: &mut RequestParser, mut buf: &[u8]) -> Result<usize, String> {
    let mut count = 0;
    while !buf.is_empty() {
        match parser.parse(buf) {
            Ok(Some(head)) => {
                buf = &buf[head.consumed()..];
                black_box(&head);
                count += 1;
            }
            Ok(None) => return Err("spindle: incomplete head".into()),
            Err(e) => return Err(format!("spindle: {e:?}")),
        }
    }
    Ok(count)
}

/// Parse every head in `buf` with `httparse`, a fresh 32-slot header array per request as a
/// server would. Returns how many heads there were.
fn parse_all_httparse(mut buf: &[u8]) -> Result<usize, String> {
    let mut count = 0;
    while !buf.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => {
                black_box(&req);
                buf = &buf[n..];
                count += 1;
            }
            Ok(httparse::Status::Partial) => return Err("httparse: incomplete head".into()),
            Err(e) => return Err(format!("httparse: {e}")),
        }
    }
    Ok(count)
}

/// Median, fastest and slowest batch of one side, in ns per request.
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// The number compared.
    median: f64,
    /// The quietest batch.
    min: f64,
    /// The noisiest batch.
    max: f64,
}

impl Summary {
    /// Summarises a non-empty set of batch results.
    fn of(mut samples: Vec<f64>) -> Summary {
        samples.sort_by(f64::total_cmp);
        let n = samples.len();
        let median = if n % 2 == 1 {
            samples[n / 2]
        } else {
            (samples[n / 2 - 1] + samples[n / 2]) / 2.0
        };
        Summary {
            median,
            min: samples[0],
            max: samples[n - 1],
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1} [{:.1} .. {:.1}]", self.median, self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every case parses completely on both sides, with the number of heads it claims.
    #[test]
    fn cases_parse_on_both_sides() {
        for case in cases() {
            let ours = parse_all_spindle(&mut RequestParser::default(), &case.buf);
            assert_eq!(ours, Ok(case.requests), "{}", case.name);
            assert_eq!(
                parse_all_httparse(&case.buf),
                Ok(case.requests),
                "{}",
                case.name
            );
        }
    }

    /// The median of an odd count is the middle sample, of an even count the mean of the two.
    #[test]
    fn summary_median() {
        let s = Summary::of(vec![5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(Summary::of(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
    }
}

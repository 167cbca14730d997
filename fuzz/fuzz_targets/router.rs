//! Fuzz target: the router's path matching, on arbitrary route tables and paths.
//!
//! Input layout: byte 0 is the number of routes (`% 9`); each route is a method byte, a
//! segment count byte (`% 5`) and one byte per segment choosing a static segment, a
//! `{param}`, a catch-all or a malformed piece (see `segment`). The rest, split at `\n`, are
//! lookups: a method byte, then either the raw path bytes, or (method byte with its high bit
//! set) a path made from a route's pattern with `,`-separated values put in its parameters.
//!
//! Checked, besides "never panics": a `Found` route serves the method (itself, `GET` for
//! `HEAD`, or any-method), its parameters carry the pattern's names in order, and putting the
//! decoded values into the pattern rebuilds the percent-decoded path; `MethodNotAllowed` and
//! `Options` only for a path some route's pattern matches; `NotFound` only when no route's
//! pattern matches, or one that does has a capture that is not UTF-8 once decoded. "Matches"
//! is decided by `shape_match` below, written from the matching rules in `router.rs`'s docs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_http::fuzzing::{percent_decode_bytes, FuzzLookup, FuzzRouter};

const METHODS: &[&str] = &[
    "GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "CONNECT", "get", "X-Y",
];
const STATICS: &[&str] = &["", "a", "b", "users", "%41", "a%2Fb", "x.y", "%E2%82%AC"];
const NAMES: &[&str] = &["id", "name", "x", "id2"];

/// The pattern segment for byte `b`.
fn segment(b: u8) -> String {
    match b % 16 {
        s @ 0..=7 => STATICS[usize::from(s)].to_string(),
        s @ 8..=11 => format!("{{{}}}", NAMES[usize::from(s - 8)]),
        12 => "{*rest}".to_string(),
        13 => "{*id}".to_string(),
        14 => "{".to_string(),
        _ => "{*}".to_string(),
    }
}

/// One pattern segment, as the matcher sees it.
#[derive(Clone, Copy, Debug)]
enum Piece<'p> {
    Static(&'p str),
    Param(&'p str),
    CatchAll(&'p str),
}

/// The pieces of a pattern the router accepted.
fn pieces(pattern: &str) -> Vec<Piece<'_>> {
    pattern[1..]
        .split('/')
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) => match inner.strip_prefix('*') {
                    Some(name) => Piece::CatchAll(name),
                    None => Piece::Param(inner),
                },
                None => Piece::Static(s),
            },
        )
        .collect()
}

/// The raw captures if `path` has the shape of `pattern`, else `None`.
fn shape_match<'p>(pattern: &str, path: &'p [u8]) -> Option<Vec<&'p [u8]>> {
    let rest = path.strip_prefix(b"/")?;
    let segs: Vec<&[u8]> = rest.split(|&b| b == b'/').collect();
    let pieces = pieces(pattern);
    let (prefix, catch_all) = match pieces.last() {
        Some(Piece::CatchAll(_)) => (&pieces[..pieces.len() - 1], true),
        _ => (&pieces[..], false),
    };
    if catch_all && segs.len() <= prefix.len() || !catch_all && segs.len() != prefix.len() {
        return None;
    }
    let mut captures = Vec::new();
    for (piece, seg) in prefix.iter().zip(&segs) {
        match piece {
            Piece::Static(s) if s.as_bytes() == *seg => {}
            Piece::Param(_) if !seg.is_empty() => captures.push(*seg),
            _ => return None,
        }
    }
    if catch_all {
        // The rest of the path after the prefix's segments and their slashes.
        let used: usize = segs[..prefix.len()].iter().map(|s| s.len() + 1).sum();
        let tail = &rest[used..];
        if tail.is_empty() {
            return None;
        }
        captures.push(tail);
    }
    Some(captures)
}

/// Whether a raw capture decodes to UTF-8 (the router's rule for a usable capture).
fn decodes(raw: &[u8]) -> bool {
    std::str::from_utf8(raw).is_ok_and(|s| String::from_utf8(percent_decode_bytes(s)).is_ok())
}

/// A path made from `pattern`, with `values` (cycled) in its parameters.
fn derive_path(pattern: &str, values: &[&[u8]]) -> Vec<u8> {
    let mut path = Vec::new();
    let mut next = values.iter().cycle();
    for piece in pieces(pattern) {
        path.push(b'/');
        match piece {
            Piece::Static(s) => path.extend_from_slice(s.as_bytes()),
            Piece::Param(_) | Piece::CatchAll(_) => {
                path.extend_from_slice(next.next().copied().unwrap_or(b"v"))
            }
        }
    }
    path
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = data.iter().copied();
    let mut router = FuzzRouter::new();
    let mut accepted: Vec<(Option<&str>, String)> = Vec::new();
    let routes = bytes.next().unwrap_or(0) % 9;
    for _ in 0..routes {
        let m = bytes.next().unwrap_or(0);
        let method = (m % 11 != 10).then(|| METHODS[usize::from(m % 11) % METHODS.len()]);
        let n = bytes.next().unwrap_or(0) % 5;
        let segs: Vec<String> = (0..n).map(|_| segment(bytes.next().unwrap_or(0))).collect();
        let pattern = format!("/{}", segs.join("/"));
        if router.insert(method, &pattern).is_ok() {
            accepted.push((method, pattern));
        } else {
            accepted.push((None, String::new())); // keeps indexes aligned; never matched
        }
    }
    let rest: Vec<u8> = bytes.collect();
    for entry in rest.split(|&b| b == b'\n') {
        let Some((&m, raw)) = entry.split_first() else {
            continue;
        };
        let method = METHODS[usize::from(m & 0x7f) % METHODS.len()];
        let path = match (m & 0x80 != 0, accepted.len()) {
            (true, n) if n > 0 => {
                let (pattern, values) = match raw.split_first() {
                    Some((&r, values)) => (&accepted[usize::from(r) % n].1, values),
                    None => (&accepted[0].1, &[][..]),
                };
                if pattern.is_empty() {
                    continue;
                }
                let values: Vec<&[u8]> = values.split(|&b| b == b',').collect();
                derive_path(pattern, &values)
            }
            _ => raw.to_vec(),
        };
        check(&router, &accepted, method, &path);
    }
});

/// Looks `path` up and checks the answer against the rules in the module docs.
fn check(router: &FuzzRouter, accepted: &[(Option<&str>, String)], method: &str, path: &[u8]) {
    let show = || String::from_utf8_lossy(path).into_owned();
    let matching: Vec<(usize, Vec<&[u8]>)> = accepted
        .iter()
        .enumerate()
        .filter(|(_, (_, p))| !p.is_empty())
        .filter_map(|(i, (_, p))| shape_match(p, path).map(|c| (i, c)))
        .collect();
    if method == "CONNECT" && !path.starts_with(b"/") {
        // An authority-form target: only a CONNECT route (on `*`) serves it, else 501.
        match router.lookup(method, path) {
            FuzzLookup::Found { route, .. } => {
                assert_eq!(accepted[route].1, "*", "CONNECT found a path route")
            }
            FuzzLookup::NotImplemented => {}
            other => panic!("CONNECT {}: {other:?}", show()),
        }
        return;
    }
    match router.lookup(method, path) {
        FuzzLookup::NotImplemented => panic!("501 for {method} {}", show()),
        FuzzLookup::Found { route, params } => {
            let (route_method, pattern) = &accepted[route];
            assert!(
                shape_match(pattern, path).is_some(),
                "{} matched {pattern:?}",
                show()
            );
            assert!(
                match route_method {
                    None => true,
                    Some(m) => *m == method || (method == "HEAD" && *m == "GET"),
                },
                "{method} {} found route {route_method:?} {pattern:?}",
                show()
            );
            // Put the decoded values back into the pattern: that is the decoded path.
            let mut rebuilt = Vec::new();
            let mut values = params.iter();
            for piece in pieces(pattern) {
                rebuilt.push(b'/');
                match piece {
                    Piece::Static(s) => rebuilt.extend(percent_decode_bytes(s)),
                    Piece::Param(name) | Piece::CatchAll(name) => {
                        let (n, v) = values.next().expect("a value for every parameter");
                        assert_eq!(n, name, "parameter names in pattern order");
                        rebuilt.extend_from_slice(v.as_bytes());
                    }
                }
            }
            assert!(values.next().is_none(), "more values than parameters");
            let path_str = std::str::from_utf8(path).expect("a matched path is text");
            assert_eq!(
                rebuilt,
                percent_decode_bytes(path_str),
                "{pattern:?} {params:?} for {}",
                show()
            );
        }
        FuzzLookup::MethodNotAllowed(allow) => {
            assert!(!matching.is_empty(), "405 ({allow}) for {}", show());
        }
        FuzzLookup::Options(allow) => {
            assert_eq!(method, "OPTIONS");
            assert!(
                path == b"*" || !matching.is_empty(),
                "OPTIONS ({allow}) for {}",
                show()
            );
        }
        FuzzLookup::NotFound => {
            let all_decode = matching
                .iter()
                .all(|(_, captures)| captures.iter().all(|c| decodes(c)));
            assert!(
                matching.is_empty() || !all_decode,
                "404 for {} though {:?} match",
                show(),
                matching
                    .iter()
                    .map(|(i, _)| &accepted[*i].1)
                    .collect::<Vec<_>>()
            );
        }
    }
}

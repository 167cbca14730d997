//! The router: a segment trie from path patterns (`/users/{id}`, `/static/{*rest}`) to
//! per-method values, built once and then only read.
//!
//! `app/mod.rs` inserts one handler per (method, pattern) while the app is built, then calls
//! [`Router::lookup`] for every request; this module knows nothing about requests or handlers
//! (it is generic over the stored value), so its tests are plain tables.
//!
//! Matching rules:
//! - A path is split at `/` into segments; `/` is one empty segment, and a trailing slash is an
//!   extra empty segment, so `/users` and `/users/` are different paths.
//! - A static segment matches itself, compared with the path *as received* (percent-encoded).
//! - `{name}` matches one non-empty segment; `{*name}` (last segment only) matches the non-empty
//!   rest of the path, slashes included.
//! - At each position a static child is tried before the parameter, and the parameter before
//!   the catch-all; if a branch fails further down, the next one is tried (backtracking), so
//!   `/users/me` and `/users/{id}/posts` both work.
//! - Captured values are percent-decoded after the match. A capture that is not UTF-8 once
//!   decoded makes the lookup [`Lookup::NotFound`]: handlers only ever see real text.
//! - The path is chosen first, then the method: a path that matches with no route for the
//!   method gives [`Lookup::MethodNotAllowed`] with the `Allow` list. `HEAD` falls back to the
//!   `GET` route, then to an any-method route; `OPTIONS` without a route of its own gives
//!   [`Lookup::Options`]. `OPTIONS *` answers for the whole server.
//! - `CONNECT` has no path: its target is `host:port` (authority-form). An app that tunnels
//!   registers one `CONNECT` route on the pattern `*`; without it, `CONNECT` is
//!   [`Lookup::NotImplemented`] (501: RFC 9110 §9.3.6 leaves CONNECT to proxies, and an
//!   origin server that does not tunnel supports it for no resource at all).
//!
//! Invariants: one endpoint per path shape (the same pattern up to parameter names), and within
//! it at most one value per method; [`Router::insert`] rejects anything else. A lookup allocates
//! only for captured parameters.

use std::fmt;

use crate::app::extract::decode_bytes;
use crate::parse::Method;

/// Which methods a route serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Methods<'m> {
    /// Exactly this method (case-sensitive, as HTTP methods are).
    One(&'m str),
    /// Every method (a fallback behind routes for a specific method).
    Any,
}

/// Why a route could not be added. The message names the pattern and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteError(String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of [`Router::lookup`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'r, T> {
    /// A route matched: its value, and the decoded parameters in path order.
    Found {
        /// The stored value (the handler).
        value: &'r T,
        /// `(name, decoded value)` for each `{name}` / `{*name}` of the pattern.
        params: Vec<(String, String)>,
    },
    /// No pattern matches the path: 404.
    NotFound,
    /// The path matches but no route serves the method: 405 with this `Allow` value.
    MethodNotAllowed {
        /// The methods the path does serve, sorted, `", "`-separated.
        allow: &'r str,
    },
    /// `OPTIONS` for a known path (or `*`) with no `OPTIONS` route: 204 with this `Allow`.
    Options {
        /// As in [`Lookup::MethodNotAllowed`].
        allow: &'r str,
    },
    /// `CONNECT` (an authority-form target) and no `CONNECT` route: 501.
    NotImplemented,
}

/// A path router from patterns to values of type `T`.
#[derive(Clone)]
pub(crate) struct Router<T> {
    /// The trie; the root stands for the position right after the leading `/`.
    root: Node<T>,
    /// Every route as `(method, pattern)`, in registration order (`*` for any-method routes).
    routes: Vec<(String, String)>,
    /// The `Allow` value for `OPTIONS *`: every method any route serves.
    /// INVARIANT: recomputed by every successful insert.
    all_allow: String,
    /// The value for `CONNECT` requests, registered on the pattern `*` (their target is an
    /// authority, not a path); `None`: they are answered 501.
    connect: Option<T>,
}

/// One position in the trie: what may come next, and the route that ends here.
#[derive(Clone)]
struct Node<T> {
    /// Children for static segments, keyed by the segment. INVARIANT: unique keys, kept sorted
    /// by `insert` (which finds its place by binary search); a lookup scans the short list
    /// ([`position`]).
    statics: Vec<(Box<str>, Node<T>)>,
    /// The child for a `{name}` segment (the names live in the endpoints).
    param: Option<Box<Node<T>>>,
    /// The route whose pattern ends with `{*name}` here.
    catch_all: Option<Endpoint<T>>,
    /// The route whose pattern ends exactly here.
    endpoint: Option<Endpoint<T>>,
}

/// Everything routed to one path shape.
#[derive(Clone)]
struct Endpoint<T> {
    /// The pattern as first registered, for error messages.
    pattern: Box<str>,
    /// Parameter names in path order. INVARIANT: one per `{..}` segment, no duplicates.
    names: Vec<Box<str>>,
    /// Values by method. INVARIANT: sorted by method, unique.
    methods: Vec<(Box<str>, T)>,
    /// The value for any method without its own entry.
    any: Option<T>,
    /// The `Allow` value: the methods in `methods`, plus `HEAD` when `GET` is there, plus
    /// `OPTIONS`, sorted and `", "`-separated. INVARIANT: recomputed on every insert.
    allow: String,
}

/// One parsed segment of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'p> {
    /// Matches itself.
    Static(&'p str),
    /// `{name}`: one non-empty segment.
    Param(&'p str),
    /// `{*name}`: the non-empty rest of the path.
    CatchAll(&'p str),
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            statics: Vec::new(),
            param: None,
            catch_all: None,
            endpoint: None,
        }
    }
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
            routes: Vec::new(),
            all_allow: String::new(),
            connect: None,
        }
    }
}

impl<T> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes)
            .finish()
    }
}

impl<T> Router<T> {
    /// Adds `value` for `methods` on `pattern`.
    ///
    /// Fails on a malformed pattern, an invalid method name, a method already routed for the
    /// same pattern, or a pattern with the same shape as an earlier one but other parameter
    /// names (`/u/{id}` then `/u/{name}`: the same paths would get different names).
    pub(crate) fn insert(
        &mut self,
        methods: Methods<'_>,
        pattern: &str,
        value: T,
    ) -> Result<(), RouteError> {
        if let Methods::One(m) = methods {
            if Method::from_token(m.as_bytes()).is_none() {
                return Err(RouteError(format!("`{m}` is not a valid method name")));
            }
        }
        // CONNECT's target is an authority, never a path: its one route lives on `*`.
        match (methods, pattern) {
            (Methods::One("CONNECT"), "*") => {
                if self.connect.is_some() {
                    return Err(RouteError("`CONNECT *` is already routed".into()));
                }
                self.connect = Some(value);
                self.note_route("CONNECT", pattern);
                return Ok(());
            }
            (_, "*") => {
                return Err(RouteError(
                    "the pattern `*` is for the `CONNECT` route (authority-form targets) only"
                        .into(),
                ))
            }
            (Methods::One("CONNECT"), _) => {
                return Err(RouteError(format!(
                    "`CONNECT {pattern}` can never match: CONNECT targets are `host:port`; route `CONNECT` on `*`"
                )))
            }
            _ => {}
        }
        let pieces = parse_pattern(pattern)?;
        let names: Vec<Box<str>> = pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Param(n) | Piece::CatchAll(n) => Some(Box::from(*n)),
                Piece::Static(_) => None,
            })
            .collect();

        // Walk (and grow) the trie to the endpoint slot of this shape.
        // A catch-all ends the pattern and has its own slot in the node before it.
        let ends_in_catch_all = matches!(pieces.last(), Some(Piece::CatchAll(_)));
        let walk = &pieces[..pieces.len() - usize::from(ends_in_catch_all)];
        let mut node = &mut self.root;
        for piece in walk {
            node = match *piece {
                Piece::Static(s) => node.static_child_mut(s),
                _ => node.param.get_or_insert_with(Box::default),
            };
        }
        let slot = if ends_in_catch_all {
            &mut node.catch_all
        } else {
            &mut node.endpoint
        };
        let endpoint = slot.get_or_insert_with(|| Endpoint {
            pattern: pattern.into(),
            names: names.clone(),
            methods: Vec::new(),
            any: None,
            allow: allow_value(std::iter::empty()),
        });
        if endpoint.names != names {
            return Err(RouteError(format!(
                "`{pattern}` matches the same paths as `{}` but names its parameters differently",
                endpoint.pattern
            )));
        }
        let label = match methods {
            Methods::One(m) => {
                let at = match endpoint.methods.binary_search_by(|(k, _)| (**k).cmp(m)) {
                    Ok(_) => return Err(RouteError(format!("`{m} {pattern}` is already routed"))),
                    Err(at) => at,
                };
                endpoint.methods.insert(at, (m.into(), value));
                endpoint.allow = allow_value(endpoint.methods.iter().map(|(k, _)| &**k));
                m
            }
            Methods::Any => {
                if endpoint.any.is_some() {
                    return Err(RouteError(format!(
                        "`{pattern}` already has an any-method route"
                    )));
                }
                endpoint.any = Some(value);
                "*"
            }
        };
        self.note_route(label, pattern);
        Ok(())
    }

    /// Records a route that was added, and the server-wide `Allow` value it changes.
    fn note_route(&mut self, label: &str, pattern: &str) {
        self.routes.push((label.to_string(), pattern.to_string()));
        self.all_allow = allow_value(
            self.routes
                .iter()
                .map(|(m, _)| m.as_str())
                .filter(|m| *m != "*"),
        );
    }

    /// Every route as `(method, pattern)` in registration order; `*` marks any-method routes.
    pub(crate) fn routes(&self) -> &[(String, String)] {
        &self.routes
    }

    /// Finds the value for `method` on `path` (the percent-encoded path, without the query).
    #[cfg(test)]
    pub(crate) fn lookup(&self, method: &str, path: &str) -> Lookup<'_, T> {
        self.lookup_bytes(method, path.as_bytes())
    }

    /// [`lookup`](Self::lookup) on the path's bytes: a request's path was validated by the
    /// parser and is matched as bytes, so it needs no UTF-8 check (only captured parameters
    /// are turned into strings).
    pub(crate) fn lookup_bytes(&self, method: &str, path: &[u8]) -> Lookup<'_, T> {
        if path == b"*" && method == "OPTIONS" {
            return Lookup::Options {
                allow: &self.all_allow,
            };
        }
        let Some(rest) = path.strip_prefix(b"/") else {
            // `*` for other methods, or an authority-form target: only `CONNECT` has one (the
            // parser refuses any other pairing).
            if method == "CONNECT" {
                return match &self.connect {
                    Some(value) => Lookup::Found {
                        value,
                        params: Vec::new(),
                    },
                    None => Lookup::NotImplemented,
                };
            }
            return Lookup::NotFound;
        };
        let mut captures = Vec::new();
        let Some(endpoint) = self.root.find(rest, &mut captures) else {
            return Lookup::NotFound;
        };
        let value = match endpoint.value_for(method) {
            Some(value) => value,
            None if method == "OPTIONS" => {
                return Lookup::Options {
                    allow: &endpoint.allow,
                }
            }
            None => {
                return Lookup::MethodNotAllowed {
                    allow: &endpoint.allow,
                }
            }
        };
        if captures.is_empty() {
            return Lookup::Found {
                value,
                params: Vec::new(),
            };
        }
        let mut params = Vec::with_capacity(captures.len());
        for (name, raw) in endpoint.names.iter().zip(captures) {
            let decoded = std::str::from_utf8(raw)
                .ok()
                .and_then(|raw| String::from_utf8(decode_bytes(raw, false).into_owned()).ok());
            match decoded {
                Some(decoded) => params.push((name.to_string(), decoded)),
                None => return Lookup::NotFound,
            }
        }
        Lookup::Found { value, params }
    }
}

impl<T> Node<T> {
    /// The static child for `segment`, created if missing.
    fn static_child_mut(&mut self, segment: &str) -> &mut Node<T> {
        let at = match self.statics.binary_search_by(|(k, _)| (**k).cmp(segment)) {
            Ok(at) => at,
            Err(at) => {
                self.statics.insert(at, (segment.into(), Node::default()));
                at
            }
        };
        &mut self.statics[at].1
    }

    /// The endpoint for `rest` (the path after this node's `/`), pushing each captured raw
    /// segment onto `captures`. Tries static, then parameter, then catch-all; a failed branch
    /// leaves `captures` as it found it. Recursion depth is bounded by the trie's depth.
    fn find<'p>(&self, rest: &'p [u8], captures: &mut Vec<&'p [u8]>) -> Option<&Endpoint<T>> {
        // Segments are short: a plain byte loop beats a general searcher here.
        let (segment, tail) = match rest.iter().position(|&b| b == b'/') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        // 1. The static child for this exact segment.
        if let Some(at) = position(&self.statics, segment) {
            if let Some(found) = self.statics[at].1.descend(tail, captures) {
                return Some(found);
            }
        }
        // 2. The parameter child, for a non-empty segment.
        if let (Some(child), false) = (&self.param, segment.is_empty()) {
            captures.push(segment);
            if let Some(found) = child.descend(tail, captures) {
                return Some(found);
            }
            captures.pop();
        }
        // 3. The catch-all takes the whole (non-empty) rest.
        if let (Some(endpoint), false) = (&self.catch_all, rest.is_empty()) {
            captures.push(rest);
            return Some(endpoint);
        }
        None
    }

    /// This node's endpoint if the path ends here (`tail` is `None`), else keep matching.
    fn descend<'p>(
        &self,
        tail: Option<&'p [u8]>,
        captures: &mut Vec<&'p [u8]>,
    ) -> Option<&Endpoint<T>> {
        match tail {
            None => self.endpoint.as_ref(),
            Some(tail) => self.find(tail, captures),
        }
    }
}

/// Where `key` is in `list`: a linear scan comparing lengths first, then bytes. Route tables
/// are small (a handful of segments or methods per node); why not a binary search:
/// docs/benchmarks.md, "Why the hot paths look the way they do".
#[inline]
fn position<K: std::ops::Deref<Target = str>, V>(
    list: &[(K, V)],
    key: impl AsRef<[u8]>,
) -> Option<usize> {
    let key = key.as_ref();
    list.iter().position(|(k, _)| {
        let k = k.as_bytes();
        k.len() == key.len() && k.iter().zip(key).all(|(a, b)| a == b)
    })
}

impl<T> Endpoint<T> {
    /// The value serving `method`: its own route, else `GET` for `HEAD`, else the any route.
    fn value_for(&self, method: &str) -> Option<&T> {
        let own = |m: &str| position(&self.methods, m).map(|at| &self.methods[at].1);
        own(method)
            .or_else(|| if method == "HEAD" { own("GET") } else { None })
            .or(self.any.as_ref())
    }
}

/// The `Allow` value for a set of routed methods: add `HEAD` if `GET` is there and `OPTIONS`
/// (always answered), then sort, dedupe and join with `", "`.
fn allow_value<'a>(methods: impl Iterator<Item = &'a str>) -> String {
    let mut all: Vec<&str> = methods.collect();
    if all.contains(&"GET") {
        all.push("HEAD");
    }
    all.push("OPTIONS");
    all.sort_unstable();
    all.dedup();
    all.join(", ")
}

/// Splits a pattern into pieces and checks it: it starts with `/`; a `{..}` is a whole segment
/// holding a name of letters, digits and `_`; `{*name}` comes last; names are unique; static
/// segments hold only visible ASCII other than `?`, `#`, `{` and `}` (they are compared with
/// the path as it arrives on the wire, so write them percent-encoded if need be).
fn parse_pattern(pattern: &str) -> Result<Vec<Piece<'_>>, RouteError> {
    let err = |why: &str| Err(RouteError(format!("bad route pattern `{pattern}`: {why}")));
    let Some(rest) = pattern.strip_prefix('/') else {
        return err("it must start with `/`");
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let mut pieces = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        let piece = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(inner) => match inner.strip_prefix('*') {
                Some(name) if i + 1 == segments.len() => Piece::CatchAll(name),
                Some(_) => return err("`{*name}` must be the last segment"),
                None => Piece::Param(inner),
            },
            None => Piece::Static(segment),
        };
        match piece {
            Piece::Static(s) => {
                let bad = |b: u8| !b.is_ascii_graphic() || matches!(b, b'?' | b'#' | b'{' | b'}');
                if s.bytes().any(bad) {
                    return err("a parameter must be a whole `{name}` segment, and a static segment only visible ASCII without `?` or `#`");
                }
            }
            Piece::Param(name) | Piece::CatchAll(name) => {
                let ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
                if name.is_empty() || !name.chars().all(ok) {
                    return err("a parameter name is letters, digits and `_`");
                }
                if pieces.iter().any(
                    |p: &Piece<'_>| matches!(p, Piece::Param(n) | Piece::CatchAll(n) if *n == name),
                ) {
                    return err("a parameter name is used twice");
                }
            }
        }
        pieces.push(piece);
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A router with one value per route, each value naming its route.
    fn router(routes: &[(&'static str, &'static str)]) -> Router<&'static str> {
        let mut r = Router::default();
        for (method, pattern) in routes {
            let methods = match *method {
                "*" => Methods::Any,
                m => Methods::One(m),
            };
            let label: &'static str = Box::leak(format!("{method} {pattern}").into_boxed_str());
            r.insert(methods, pattern, label).unwrap();
        }
        r
    }

    /// What a lookup came to, flattened for comparison in tables.
    #[derive(Debug, PartialEq, Eq)]
    enum Want<'a> {
        /// Found this route with these params.
        Route(&'a str, &'a [(&'a str, &'a str)]),
        /// 404.
        NotFound,
        /// 405 with this Allow.
        NotAllowed(&'a str),
        /// 204 OPTIONS with this Allow.
        Options(&'a str),
    }

    fn check(r: &Router<&'static str>, cases: &[(&str, &str, Want<'_>)]) {
        for (method, path, want) in cases {
            let got = r.lookup(method, path);
            let ok = match (&got, want) {
                (Lookup::Found { value, params }, Want::Route(label, ps)) => {
                    let ps: Vec<(String, String)> = ps
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect();
                    *value == label && *params == ps
                }
                (Lookup::NotFound, Want::NotFound) => true,
                (Lookup::MethodNotAllowed { allow }, Want::NotAllowed(a)) => allow == a,
                (Lookup::Options { allow }, Want::Options(a)) => allow == a,
                _ => false,
            };
            assert!(ok, "{method} {path}: got {got:?}, want {want:?}");
        }
    }

    /// Static segments, parameters, and the precedence of static over parameter.
    #[test]
    fn static_and_param_paths() {
        let r = router(&[
            ("GET", "/"),
            ("GET", "/users"),
            ("GET", "/users/"),
            ("GET", "/users/me"),
            ("GET", "/users/{id}"),
            ("GET", "/users/{id}/posts/{post}"),
            ("GET", "/users/me/settings"),
        ]);
        use Want::*;
        check(
            &r,
            &[
                ("GET", "/", Route("GET /", &[])),
                ("GET", "/users", Route("GET /users", &[])),
                ("GET", "/users/", Route("GET /users/", &[])),
                ("GET", "/users/me", Route("GET /users/me", &[])),
                (
                    "GET",
                    "/users/42",
                    Route("GET /users/{id}", &[("id", "42")]),
                ),
                (
                    "GET",
                    "/users/42/posts/7",
                    Route(
                        "GET /users/{id}/posts/{post}",
                        &[("id", "42"), ("post", "7")],
                    ),
                ),
                // The static `me` branch has no `posts`: backtrack to `{id}`.
                (
                    "GET",
                    "/users/me/posts/1",
                    Route(
                        "GET /users/{id}/posts/{post}",
                        &[("id", "me"), ("post", "1")],
                    ),
                ),
                (
                    "GET",
                    "/users/me/settings",
                    Route("GET /users/me/settings", &[]),
                ),
                ("GET", "/users/42/settings", NotFound),
                ("GET", "/users//posts/1", NotFound), // a parameter is never empty
                ("GET", "/users/42/", NotFound),
                ("GET", "/nope", NotFound),
                ("GET", "", NotFound),
                ("GET", "*", NotFound),
                ("GET", "//", NotFound),
            ],
        );
    }

    /// Parameters are matched encoded and decoded after; non-UTF-8 captures do not match.
    #[test]
    fn percent_decoding_of_params() {
        let r = router(&[("GET", "/files/{name}"), ("GET", "/a%20b")]);
        use Want::*;
        check(
            &r,
            &[
                (
                    "GET",
                    "/files/a%20b",
                    Route("GET /files/{name}", &[("name", "a b")]),
                ),
                (
                    "GET",
                    "/files/a%2Fb",
                    Route("GET /files/{name}", &[("name", "a/b")]),
                ),
                (
                    "GET",
                    "/files/a+b",
                    Route("GET /files/{name}", &[("name", "a+b")]),
                ),
                (
                    "GET",
                    "/files/100%",
                    Route("GET /files/{name}", &[("name", "100%")]),
                ),
                (
                    "GET",
                    "/files/caf%C3%A9",
                    Route("GET /files/{name}", &[("name", "café")]),
                ),
                ("GET", "/files/%FF", NotFound),
                ("GET", "/a%20b", Route("GET /a%20b", &[])), // statics compare encoded
                ("GET", "/a b", NotFound),
            ],
        );
    }

    /// `{*rest}` takes the non-empty rest, slashes included, after static and param lost.
    #[test]
    fn catch_all() {
        let r = router(&[
            ("GET", "/static/{*path}"),
            ("GET", "/static/index.html"),
            ("GET", "/static/{file}/raw"),
        ]);
        use Want::*;
        check(
            &r,
            &[
                (
                    "GET",
                    "/static/index.html",
                    Route("GET /static/index.html", &[]),
                ),
                (
                    "GET",
                    "/static/a/raw",
                    Route("GET /static/{file}/raw", &[("file", "a")]),
                ),
                (
                    "GET",
                    "/static/a",
                    Route("GET /static/{*path}", &[("path", "a")]),
                ),
                (
                    "GET",
                    "/static/css/site%20x.css",
                    Route("GET /static/{*path}", &[("path", "css/site x.css")]),
                ),
                (
                    "GET",
                    "/static/a/raw/b",
                    Route("GET /static/{*path}", &[("path", "a/raw/b")]),
                ),
                ("GET", "/static/", NotFound),
                ("GET", "/static", NotFound),
            ],
        );
    }

    /// 405 with a sorted Allow, HEAD served by GET, OPTIONS answered, any-method fallback.
    #[test]
    fn methods() {
        let r = router(&[
            ("POST", "/items"),
            ("GET", "/items"),
            ("DELETE", "/items/{id}"),
            ("HEAD", "/ping"),
            ("GET", "/ping"),
            ("OPTIONS", "/cors"),
            ("*", "/any"),
            ("GET", "/any"),
            ("PROPFIND", "/dav"),
        ]);
        use Want::*;
        check(
            &r,
            &[
                ("GET", "/items", Route("GET /items", &[])),
                ("POST", "/items", Route("POST /items", &[])),
                ("HEAD", "/items", Route("GET /items", &[])),
                ("PUT", "/items", NotAllowed("GET, HEAD, OPTIONS, POST")),
                ("OPTIONS", "/items", Options("GET, HEAD, OPTIONS, POST")),
                ("get", "/items", NotAllowed("GET, HEAD, OPTIONS, POST")),
                ("GET", "/items/1", NotAllowed("DELETE, OPTIONS")),
                (
                    "DELETE",
                    "/items/1",
                    Route("DELETE /items/{id}", &[("id", "1")]),
                ),
                ("HEAD", "/ping", Route("HEAD /ping", &[])),
                ("OPTIONS", "/cors", Route("OPTIONS /cors", &[])),
                ("GET", "/cors", NotAllowed("OPTIONS")),
                ("GET", "/any", Route("GET /any", &[])),
                ("HEAD", "/any", Route("GET /any", &[])),
                ("PATCH", "/any", Route("* /any", &[])),
                ("OPTIONS", "/any", Route("* /any", &[])),
                ("PROPFIND", "/dav", Route("PROPFIND /dav", &[])),
                ("GET", "/dav", NotAllowed("OPTIONS, PROPFIND")),
                ("GET", "/missing", NotFound),
                (
                    "OPTIONS",
                    "*",
                    Options("DELETE, GET, HEAD, OPTIONS, POST, PROPFIND"),
                ),
            ],
        );
    }

    /// Bad patterns, bad methods and conflicts are refused with a message naming the problem.
    #[test]
    fn insert_errors() {
        /// Routes already there, then the method, pattern and error text of the new one.
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);
        let cases: &[Case<'_>] = &[
            (&[], "GET", "users", "must start with `/`"),
            (&[], "GET", "/u/{}", "letters, digits"),
            (&[], "GET", "/u/{a-b}", "letters, digits"),
            (&[], "GET", "/u/x{id}", "whole `{name}` segment"),
            (&[], "GET", "/u/{id}x", "whole `{name}` segment"),
            (&[], "GET", "/u/{id", "whole `{name}` segment"),
            (&[], "GET", "/u/a?b", "whole `{name}` segment"),
            (&[], "GET", "/u/{*rest}/x", "must be the last segment"),
            (&[], "GET", "/u/{id}/{id}", "used twice"),
            (&[], "GET", "/u/{*}", "letters, digits"),
            (&[], "G T", "/u", "not a valid method name"),
            (&[], "", "/u", "not a valid method name"),
            (&[("GET", "/u/{id}")], "GET", "/u/{id}", "already routed"),
            (
                &[("GET", "/u/{id}")],
                "POST",
                "/u/{name}",
                "names its parameters differently",
            ),
            (&[("*", "/u")], "*", "/u", "already has an any-method route"),
            (&[], "CONNECT", "/u", "route `CONNECT` on `*`"),
            (&[], "GET", "*", "`CONNECT` route"),
            (&[], "*", "*", "`CONNECT` route"),
            (&[("CONNECT", "*")], "CONNECT", "*", "already routed"),
        ];
        for (existing, method, pattern, want) in cases {
            let mut r = router(existing);
            let methods = match *method {
                "*" => Methods::Any,
                m => Methods::One(m),
            };
            let err = r
                .insert(methods, pattern, "new")
                .expect_err(&format!("{method} {pattern} should be refused"));
            assert!(
                err.0.contains(want),
                "{method} {pattern}: `{err}` should mention `{want}`"
            );
        }
    }

    /// Different methods on one pattern, and distinct shapes, coexist; `routes` keeps order.
    #[test]
    fn routes_listing() {
        let r = router(&[
            ("GET", "/a"),
            ("POST", "/a"),
            ("*", "/b/{x}"),
            ("GET", "/b/{x}"),
        ]);
        let want = [
            ("GET", "/a"),
            ("POST", "/a"),
            ("*", "/b/{x}"),
            ("GET", "/b/{x}"),
        ];
        let got: Vec<(&str, &str)> = r
            .routes()
            .iter()
            .map(|(m, p)| (m.as_str(), p.as_str()))
            .collect();
        assert_eq!(got, want);
    }

    /// CONNECT (an authority-form target, path "") is 501 unless `CONNECT *` is routed; then
    /// that route serves every CONNECT, and `OPTIONS *` lists it. Other methods never reach it.
    #[test]
    fn connect_is_501_unless_routed() {
        let r = router(&[("GET", "/"), ("*", "/{*rest}")]);
        assert_eq!(r.lookup("CONNECT", ""), Lookup::NotImplemented);
        let r = router(&[("GET", "/"), ("CONNECT", "*")]);
        assert_eq!(
            r.lookup("CONNECT", ""),
            Lookup::Found {
                value: &"CONNECT *",
                params: Vec::new()
            }
        );
        assert_eq!(r.lookup("GET", ""), Lookup::NotFound);
        assert_eq!(
            r.lookup("OPTIONS", "*"),
            Lookup::Options {
                allow: "CONNECT, GET, HEAD, OPTIONS"
            }
        );
    }

    /// A lookup without parameters does not allocate its capture list.
    #[test]
    fn no_capture_allocation_for_static_paths() {
        let r = router(&[("GET", "/plain/path")]);
        match r.lookup("GET", "/plain/path") {
            Lookup::Found { params, .. } => assert_eq!(params.capacity(), 0),
            other => panic!("unexpected {other:?}"),
        }
    }
}

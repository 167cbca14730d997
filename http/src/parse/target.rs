//! The request-target grammar (RFC 9112 §3.2) and the `Host` grammar (RFC 9110 §7.2): which
//! of the four target forms a target has, where its path, query and authority lie.
//!
//! Called by [`super::request_line`] for the target and by [`super::fields`] for `Host`. Pure
//! functions over complete byte strings; spans come back offset by the caller's `base` so they
//! index the whole head.
//!
//! What is accepted, exactly:
//! - origin-form: `/` followed by pchars and `/`, then optionally `?` and pchars, `/`, `?`;
//!   every `%` must start a `%HH` escape; no `#`, no space, no byte outside ASCII.
//! - absolute-form: `http://` or `https://` (scheme case-insensitive), a non-empty host without
//!   userinfo, optional `:port`, then a path as above (possibly empty) and optional query.
//! - authority-form (only `CONNECT`): `host:port` with a non-empty decimal port.
//! - asterisk-form (only `OPTIONS`): exactly `*`.

use super::chars::{is_path, is_query, is_reg_name, scan_escaped};
use super::types::{Method, Span, TargetForm};
use crate::error::ParseError;

/// The parts of a valid request-target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// Which form it had.
    pub(crate) form: TargetForm,
    /// The path (empty for authority-form and for absolute-form without a path).
    pub(crate) path: Span,
    /// The query without `?`.
    pub(crate) query: Option<Span>,
    /// The authority, in absolute- and authority-form.
    pub(crate) authority: Option<Span>,
}

/// Classify and validate `target` (found at offset `base` of the head) for `method`.
pub(crate) fn parse_target(
    method: Method,
    target: &[u8],
    base: usize,
) -> Result<Target, ParseError> {
    let span = |start: usize, end: usize| Span::new(base + start, base + end);
    let is_connect = method == Method::Connect;

    // 1. Asterisk-form: only `OPTIONS *`.
    if target == b"*" {
        if method != Method::Options {
            return Err(ParseError::TargetFormMismatch);
        }
        return Ok(Target {
            form: TargetForm::Asterisk,
            path: span(0, 1),
            query: None,
            authority: None,
        });
    }

    // 2. CONNECT takes authority-form and nothing else.
    if is_connect {
        if !valid_authority(target, true) {
            return Err(ParseError::TargetFormMismatch);
        }
        return Ok(Target {
            form: TargetForm::Authority,
            path: span(0, 0),
            query: None,
            authority: Some(span(0, target.len())),
        });
    }

    // 3. Origin-form.
    if target.first() == Some(&b'/') {
        let (path, query) = split_path_query(target, 0)?;
        return Ok(Target {
            form: TargetForm::Origin,
            path: span(path.0, path.1),
            query: query.map(|(s, e)| span(s, e)),
            authority: None,
        });
    }

    // 4. Absolute-form: `scheme://authority[path][?query]`.
    if let Some(after_scheme) = http_scheme_end(target) {
        let rest = &target[after_scheme..];
        let auth_len = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let authority = &rest[..auth_len];
        // Userinfo (`user@host`) is deprecated and a classic way to confuse URL parsers
        // (RFC 9110 §4.2.4): the `@` is not a host character, so valid_authority refuses it.
        if !valid_authority(authority, false) {
            return Err(ParseError::InvalidTarget);
        }
        let path_start = after_scheme + auth_len;
        let (path, query) = split_path_query(target, path_start)?;
        return Ok(Target {
            form: TargetForm::Absolute,
            path: span(path.0, path.1),
            query: query.map(|(s, e)| span(s, e)),
            authority: Some(span(after_scheme, path_start)),
        });
    }

    // 5. A `host:port` with another method is the wrong form; anything else is just invalid.
    if valid_authority(target, true) {
        return Err(ParseError::TargetFormMismatch);
    }
    Err(ParseError::InvalidTarget)
}

/// If `target` starts with `http://` or `https://` (any case), the offset after the `//`.
fn http_scheme_end(target: &[u8]) -> Option<usize> {
    for scheme in [&b"http://"[..], b"https://"] {
        if target.len() >= scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return Some(scheme.len());
        }
    }
    None
}

/// Validate `target[start..]` as `path-abempty [ "?" query ]`; return the path and query as
/// offsets into `target`. One pass: the path scan stops at the `?` that starts the query.
#[allow(clippy::type_complexity)] // two (start, end) pairs read better than a new struct here
fn split_path_query(
    target: &[u8],
    start: usize,
) -> Result<((usize, usize), Option<(usize, usize)>), ParseError> {
    let path_end = scan_escaped(target, start, is_path);
    match target.get(path_end) {
        None => Ok(((start, path_end), None)),
        Some(b'?') if scan_escaped(target, path_end + 1, is_query) == target.len() => {
            Ok(((start, path_end), Some((path_end + 1, target.len()))))
        }
        // A byte that belongs in neither part, or a `%` without two hex digits.
        Some(_) => Err(ParseError::InvalidTarget),
    }
}

/// Is `bytes` a valid `uri-host [ ":" port ]` with a non-empty host (RFC 3986 §3.2.2)?
/// With `require_port`, the `:port` must be present and non-empty (authority-form).
///
/// The host is an IP-literal in brackets or a reg-name (which covers IPv4 addresses). Userinfo,
/// spaces, and anything else that some URL parser might read differently is refused.
pub(crate) fn valid_authority(bytes: &[u8], require_port: bool) -> bool {
    let (host_ok, port) = if bytes.first() == Some(&b'[') {
        // IP-literal: `[` IPv6address / IPvFuture `]`. We check the character set, not the
        // full IPv6 grammar: hex digits, `:`, `.` and (for IPvFuture) unreserved / sub-delims.
        let Some(close) = bytes.iter().position(|&b| b == b']') else {
            return false;
        };
        let inner = &bytes[1..close];
        let inner_ok = !inner.is_empty() && inner.iter().all(|&b| is_reg_name(b) || b == b':');
        let rest = &bytes[close + 1..];
        match rest.split_first() {
            None => (inner_ok, None),
            Some((b':', port)) => (inner_ok, Some(port)),
            Some(_) => return false,
        }
    } else {
        // One pass: the reg-name scan stops at the first byte that is not a host byte. For a
        // valid authority that is the `:` of the port (a `:` is never a host byte) or the end.
        let host_end = scan_escaped(bytes, 0, is_reg_name);
        match &bytes[host_end..] {
            [] => (host_end > 0, None),
            [b':', port @ ..] => (host_end > 0, Some(port)),
            _ => return false,
        }
    };
    let port_ok = match port {
        Some(port) => port.iter().all(u8::is_ascii_digit) && !(require_port && port.is_empty()),
        None => !require_port,
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParseError::*;

    /// Every target form is classified and split as documented, with spans offset by `base`.
    #[test]
    fn accepted_targets() {
        // (method, target, form, path, query, authority)
        type Row = (
            Method,
            &'static str,
            TargetForm,
            &'static str,
            Option<&'static str>,
            Option<&'static str>,
        );
        let table: &[Row] = &[
            (Method::Get, "/", TargetForm::Origin, "/", None, None),
            (
                Method::Get,
                "/a/b?c=d",
                TargetForm::Origin,
                "/a/b",
                Some("c=d"),
                None,
            ),
            (Method::Get, "/a?", TargetForm::Origin, "/a", Some(""), None),
            (
                Method::Get,
                "/a?b?c/d",
                TargetForm::Origin,
                "/a",
                Some("b?c/d"),
                None,
            ),
            (
                Method::Get,
                "//double",
                TargetForm::Origin,
                "//double",
                None,
                None,
            ),
            (
                Method::Get,
                "/%20x%2F",
                TargetForm::Origin,
                "/%20x%2F",
                None,
                None,
            ),
            (
                Method::Get,
                "/:@!$&'()*+,;=-._~",
                TargetForm::Origin,
                "/:@!$&'()*+,;=-._~",
                None,
                None,
            ),
            (
                Method::Get,
                "http://h/p?q",
                TargetForm::Absolute,
                "/p",
                Some("q"),
                Some("h"),
            ),
            (
                Method::Get,
                "HTTPS://h:8443",
                TargetForm::Absolute,
                "",
                None,
                Some("h:8443"),
            ),
            (
                Method::Get,
                "http://h?q",
                TargetForm::Absolute,
                "",
                Some("q"),
                Some("h"),
            ),
            (
                Method::Get,
                "http://[::1]:80/",
                TargetForm::Absolute,
                "/",
                None,
                Some("[::1]:80"),
            ),
            (Method::Options, "*", TargetForm::Asterisk, "*", None, None),
            (Method::Options, "/x", TargetForm::Origin, "/x", None, None),
            (
                Method::Connect,
                "example.com:443",
                TargetForm::Authority,
                "",
                None,
                Some("example.com:443"),
            ),
            (
                Method::Connect,
                "[2001:db8::1]:443",
                TargetForm::Authority,
                "",
                None,
                Some("[2001:db8::1]:443"),
            ),
        ];
        let base = 7;
        let mut buf = vec![b'x'; base];
        for &(method, target, form, path, query, authority) in table {
            buf.truncate(base);
            buf.extend_from_slice(target.as_bytes());
            let t = parse_target(method, target.as_bytes(), base)
                .unwrap_or_else(|e| panic!("{target}: {e:?}"));
            let text = |s: Span| std::str::from_utf8(s.of(&buf)).unwrap().to_owned();
            assert_eq!(t.form, form, "{target}");
            assert_eq!(text(t.path), path, "{target}");
            assert_eq!(t.query.map(text).as_deref(), query, "{target}");
            assert_eq!(t.authority.map(text).as_deref(), authority, "{target}");
        }
    }

    /// Every malformed target and every form/method mismatch is refused with its own error.
    #[test]
    fn rejected_targets() {
        let table: &[(Method, &str, ParseError)] = &[
            (Method::Get, "*", TargetFormMismatch),
            (Method::Connect, "*", TargetFormMismatch),
            (Method::Get, "example.com:443", TargetFormMismatch),
            (Method::Connect, "/", TargetFormMismatch),
            (Method::Connect, "http://h/", TargetFormMismatch),
            (Method::Connect, "example.com", TargetFormMismatch),
            (Method::Connect, "example.com:", TargetFormMismatch),
            (Method::Connect, "user@example.com:443", TargetFormMismatch),
            (Method::Get, "a/b", InvalidTarget),
            (Method::Get, "/a#frag", InvalidTarget),
            (Method::Get, "/a\"b", InvalidTarget),
            (Method::Get, "/a<b>", InvalidTarget),
            (Method::Get, "/a\\b", InvalidTarget),
            (Method::Get, "/a{b}|^`", InvalidTarget),
            (Method::Get, "/%zz", InvalidTarget),
            (Method::Get, "/%2", InvalidTarget),
            (Method::Get, "/?%", InvalidTarget),
            (Method::Get, "/\u{e9}", InvalidTarget),
            (Method::Get, "/a\tb", InvalidTarget),
            (Method::Get, "/a\x7fb", InvalidTarget),
            (Method::Get, "http:///p", InvalidTarget),
            (Method::Get, "http://user@h/p", InvalidTarget),
            (Method::Get, "http://h:8x/", InvalidTarget),
            (Method::Get, "http:/h/p", InvalidTarget),
            (Method::Get, "ftp://h/p", InvalidTarget),
            (Method::Get, "http://[::1/", InvalidTarget),
            (Method::Get, "**", InvalidTarget),
        ];
        for &(method, target, err) in table {
            assert_eq!(
                parse_target(method, target.as_bytes(), 0),
                Err(err),
                "{method:?} {target}"
            );
        }
    }

    /// The Host grammar: reg-name or IP-literal, optional digits-only port, nothing else.
    #[test]
    fn authorities() {
        let table: &[(&str, bool, bool)] = &[
            // (value, valid as Host, valid as CONNECT authority)
            ("example.com", true, false),
            ("example.com:8080", true, true),
            ("example.com:", true, false),
            ("127.0.0.1:80", true, true),
            ("[::1]", true, false),
            ("[::1]:443", true, true),
            ("[v1.fe80::a+en1]", true, false),
            ("xn--nxasmq6b.example", true, false),
            ("a%20b", true, false),
            ("", false, false),
            (":80", false, false),
            ("[]:80", false, false),
            ("[::1]x", false, false),
            ("[::1", false, false),
            ("host:port", false, false),
            ("a b", false, false),
            ("user@host", false, false),
            ("host/path", false, false),
            ("h:80:90", false, false),
            ("%zz", false, false),
            ("a.b-c_~!$&'()*+,;=:1", true, true),
            ("0123456789abcdefghij:65535", true, true),
            ("h:8x", false, false),
            ("h::80", false, false),
            ("a%20b:80", true, true),
            ("a%2:80", false, false),
            ("[::1]:", true, false),
            ("h]:80", false, false),
            ("h[:80", false, false),
            ("h\u{e9}:80", false, false),
        ];
        for &(value, host_ok, connect_ok) in table {
            assert_eq!(
                valid_authority(value.as_bytes(), false),
                host_ok,
                "{value:?}"
            );
            assert_eq!(
                valid_authority(value.as_bytes(), true),
                connect_ok,
                "{value:?}"
            );
        }
    }
}

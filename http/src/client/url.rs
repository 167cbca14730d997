//! [`Url`]: the parts of an `http://` URL the client needs (host, port, path and query), parsed
//! strictly. `https://` is refused with [`Error::UnsupportedScheme`]: TLS is out of scope.
//!
//! Talks to: `client::mod` (each request parses its URL here); the result names the pool key
//! (host, port) and the request-target. A leaf: it imports only `client::error`, so the pool
//! and the pipelined connections can both name [`Key`] without importing each other.

use std::fmt;

use super::error::Error;

/// A pool key: the host and port a connection goes to ([`Url::key`]). The idle pool, the
/// per-host limits and the pipelined connections are all kept per key.
pub(crate) type Key = (String, u16);

/// A parsed `http://host[:port][/path][?query]` URL (any `#fragment` is dropped, as browsers do).
///
/// ```
/// use spindle_http::client::Url;
/// let url = Url::parse("http://example.com:8080/a/b?x=1#top").unwrap();
/// assert_eq!((url.host(), url.port(), url.target()), ("example.com", 8080, "/a/b?x=1"));
/// assert!(Url::parse("https://example.com/").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// The host, lower-cased; an IPv6 literal without its brackets.
    host: String,
    /// The port (80 when the URL names none).
    port: u16,
    /// The request-target: path and query, starting with `/`.
    target: String,
}

impl Url {
    /// Parses `s`; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Url, Error> {
        let bad = |why: &str| Error::InvalidUrl(format!("{why}: {s:?}"));
        // 1. The scheme.
        let colon = s.find("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = &s[..colon];
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(Error::UnsupportedScheme(scheme.to_string()));
        }
        let rest = &s[colon + 3..];
        // 2. The authority runs to the first '/', '?' or '#'.
        let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(auth_end);
        if authority.contains('@') {
            return Err(bad("user information in URLs is not supported"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("bad host or port"))?;
        // 3. Path and query, without the fragment; at least "/".
        let target = rest.split('#').next().unwrap_or("");
        if target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("spaces or control characters in the path"));
        }
        let target = if target.starts_with('/') {
            target.to_string()
        } else {
            format!("/{target}")
        };
        Ok(Url {
            host: host.to_ascii_lowercase(),
            port,
            target,
        })
    }

    /// The host (an IPv6 literal without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pool key: host and port.
    pub(crate) fn key(&self) -> Key {
        (self.host.clone(), self.port)
    }

    /// The path and query, as sent in the request line.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header's value: the host, with the port unless it is 80.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.target)
    }
}

/// `host[:port]` or `[v6][:port]`; `None` if either part is malformed.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let close = v6.find(']')?;
        let host = &v6[..close];
        host.parse::<std::net::Ipv6Addr>().ok()?;
        (host, &v6[close + 1..])
    } else {
        let split = authority.find(':').unwrap_or(authority.len());
        let host = &authority[..split];
        let ok = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if host.is_empty() || !host.chars().all(ok) {
            return None;
        }
        (host, &authority[split..])
    };
    let port = match port {
        "" => 80,
        p => {
            let digits = p.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse::<u16>().ok().filter(|&p| p != 0)?
        }
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Good URLs split into the expected parts; bad ones are refused with the right error.
    #[test]
    fn urls() {
        let ok = [
            ("http://a.example", "a.example", 80, "/", "a.example"),
            (
                "HTTP://A.Example:81/x?y#z",
                "a.example",
                81,
                "/x?y",
                "a.example:81",
            ),
            (
                "http://127.0.0.1:8080?q=1",
                "127.0.0.1",
                8080,
                "/?q=1",
                "127.0.0.1:8080",
            ),
            ("http://[::1]:9/p", "::1", 9, "/p", "[::1]:9"),
        ];
        for (s, host, port, target, authority) in ok {
            let u = Url::parse(s).unwrap();
            assert_eq!(
                (u.host(), u.port(), u.target(), u.authority().as_str()),
                (host, port, target, authority),
                "{s}"
            );
        }
        assert!(matches!(
            Url::parse("https://x/"),
            Err(Error::UnsupportedScheme(_))
        ));
        for bad in [
            "x",
            "http://",
            "http://:80/",
            "http://a:0/",
            "http://a:65536/",
            "http://a:/",
            "http://a:8x/",
            "http://u@a/",
            "http://a b/",
            "http://a/b c",
            "http://[1.2.3.4]/",
            "http://a/\r\n",
        ] {
            assert!(
                matches!(Url::parse(bad), Err(Error::InvalidUrl(_))),
                "{bad}"
            );
        }
    }
}

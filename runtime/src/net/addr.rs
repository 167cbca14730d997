//! [`ToSocketAddrs`]: what `connect` and `bind` accept, resolved without blocking a worker.
//!
//! Talks to: `crate::task::spawn_blocking` (name lookups run on the blocking pool, because
//! `getaddrinfo(3)` blocks), std's `ToSocketAddrs` (which does the actual lookup there).
//!
//! A literal address (`SocketAddr`, `"127.0.0.1:80"`, `("::1", 80)`) is parsed on the spot and
//! never leaves the task; only a host *name* (`"localhost:80"`) costs a trip to the blocking pool.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Anything that names one or more socket addresses: a `SocketAddr`, `"host:port"`,
/// `("host", port)`, `(IpAddr, port)`, a slice of addresses, or a reference to any of these.
/// Like std's trait of the same name, but resolved asynchronously by spindle's `connect` / `bind`.
///
/// The trait is sealed: its one method is an implementation detail.
///
/// ```no_run
/// # spindle::Runtime::new().unwrap().block_on(async {
/// use spindle::net::TcpStream;
/// let by_literal = TcpStream::connect("127.0.0.1:8080").await?; // parsed, no lookup
/// let by_name = TcpStream::connect(("localhost", 8080)).await?; // looked up on the blocking pool
/// # drop((by_literal, by_name)); Ok::<_, std::io::Error>(()) }).unwrap();
/// ```
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

pub(crate) mod sealed {
    use super::*;

    /// How an address argument becomes socket addresses.
    #[derive(Debug)]
    pub enum Resolve {
        /// Already known (a literal), or already failed.
        Done(io::Result<Vec<SocketAddr>>),
        /// A host name: `"host:port"` for a blocking lookup.
        Lookup(String),
    }

    /// The sealed half of [`ToSocketAddrs`].
    pub trait ToSocketAddrsPriv {
        /// Parses a literal, or says which name to look up.
        fn resolve(&self) -> Resolve;
    }
}

use sealed::{Resolve, ToSocketAddrsPriv};

/// Resolves `addr` to its socket addresses: literals at once, names on the blocking pool.
pub(crate) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    match addr.resolve() {
        Resolve::Done(result) => result,
        Resolve::Lookup(name) => crate::task::spawn_blocking(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&name).map(|addrs| addrs.collect())
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(format!("address lookup failed: {e}")))),
    }
}

/// Implements the trait for types that always hold one literal address.
macro_rules! literal {
    ($($ty:ty),*) => {$(
        impl ToSocketAddrs for $ty {}
        impl ToSocketAddrsPriv for $ty {
            fn resolve(&self) -> Resolve {
                Resolve::Done(Ok(vec![SocketAddr::from(*self)]))
            }
        }
    )*};
}

literal!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for str {}
impl ToSocketAddrsPriv for str {
    fn resolve(&self) -> Resolve {
        match self.parse::<SocketAddr>() {
            Ok(addr) => Resolve::Done(Ok(vec![addr])),
            Err(_) => Resolve::Lookup(self.to_string()),
        }
    }
}

impl ToSocketAddrs for String {}
impl ToSocketAddrsPriv for String {
    fn resolve(&self) -> Resolve {
        self.as_str().resolve()
    }
}

/// `(host, port)`: an IP literal host is parsed, anything else is a name to look up.
fn host_port(host: &str, port: u16) -> Resolve {
    match host.parse::<IpAddr>() {
        Ok(ip) => Resolve::Done(Ok(vec![SocketAddr::new(ip, port)])),
        Err(_) => Resolve::Lookup(format!("{host}:{port}")),
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl ToSocketAddrsPriv for (&str, u16) {
    fn resolve(&self) -> Resolve {
        host_port(self.0, self.1)
    }
}

impl ToSocketAddrs for (String, u16) {}
impl ToSocketAddrsPriv for (String, u16) {
    fn resolve(&self) -> Resolve {
        host_port(&self.0, self.1)
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl ToSocketAddrsPriv for [SocketAddr] {
    fn resolve(&self) -> Resolve {
        Resolve::Done(Ok(self.to_vec()))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrsPriv for &T {
    fn resolve(&self) -> Resolve {
        (**self).resolve()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Literals never become lookups; names always do.
    #[test]
    fn literals_are_parsed_names_are_looked_up() {
        let literal = |r: Resolve| match r {
            Resolve::Done(Ok(v)) => v,
            other => panic!("expected a literal, got {other:?}"),
        };
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(literal("127.0.0.1:80".resolve()), vec![v4]);
        assert_eq!(literal(("127.0.0.1", 80).resolve()), vec![v4]);
        assert_eq!(literal(v4.resolve()), vec![v4]);
        assert_eq!(literal((&&"127.0.0.1:80").resolve()), vec![v4]);
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(literal(("::1", 80).resolve()), vec![v6]);
        assert_eq!(literal("[::1]:80".to_string().resolve()), vec![v6]);
        for name in [
            "localhost:80".resolve(),
            ("localhost", 80).resolve(),
            ("example.invalid".to_string(), 1).resolve(),
        ] {
            assert!(matches!(name, Resolve::Lookup(_)), "{name:?}");
        }
    }
}

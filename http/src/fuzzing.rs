//! What the fuzz targets in `fuzz/` need from inside this crate, and nothing more: built only
//! with the `fuzzing` cargo feature, hidden from the docs, and not part of the public API.
//!
//! The head parser and the body decoders are public already; the targets use them directly.
//! The router is crate-private (its value type and lookup result are shaped for `app/mod.rs`), so
//! this module wraps it: routes carry their index in the table, and a lookup reports what it
//! found in plain owned types. The connection loop is crate-private too; [`MemoryServer`] runs
//! it over an in-memory pipe instead of a socket. `docs/fuzzing.md` says what each target checks.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::app::router::{Lookup, Methods, Router};
use crate::app::App;
use crate::server::config::ServerConfig;
use crate::server::shutdown::Shutdown;

/// The peer address a connection served by [`MemoryServer`] reports (`Request::remote_addr`):
/// an address from the documentation range (RFC 5737), as there is no real peer.
pub const MEMORY_PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(192, 0, 2, 1),
    1,
));

/// An app and its settings, serving connections over in-memory pipes
/// ([`spindle::io::duplex`]) with the server's own connection loop: what `Server` does for an
/// accepted socket, minus the socket (no listener, no connection limit, no graceful stop).
/// The other end of the pipe is the client: what it writes is the request stream, what it
/// reads is exactly the bytes the server would have sent on a socket.
#[derive(Debug)]
pub struct MemoryServer {
    /// Routes and handlers, shared by every connection.
    app: Arc<App>,
    /// Limits and timeouts.
    config: Arc<ServerConfig>,
    /// Never triggered: nothing here stops the server.
    shutdown: Arc<Shutdown>,
}

impl MemoryServer {
    /// Prepares `app` to be served with `config`.
    pub fn new(app: App, config: ServerConfig) -> MemoryServer {
        MemoryServer {
            shutdown: Arc::new(Shutdown::new(app.draining_flag())),
            app: Arc::new(app),
            config: Arc::new(config),
        }
    }

    /// The connection task for the server's end of a pipe: spawn it (or await it) on a spindle
    /// runtime. It ends when the connection closes, as a socket's would.
    pub fn serve(
        &self,
        pipe: spindle::io::DuplexStream,
    ) -> impl Future<Output = ()> + Send + 'static {
        crate::server::conn::serve_memory(
            pipe,
            MEMORY_PEER,
            self.app.clone(),
            self.config.clone(),
            self.shutdown.clone(),
        )
    }
}

/// A router whose routes are numbered in insertion order (the fuzz target's route table).
#[derive(Debug, Default)]
pub struct FuzzRouter {
    /// The router under test; each value is the index of the route in `patterns`.
    router: Router<usize>,
    /// Every route added so far, successfully or not, by index.
    patterns: Vec<String>,
}

/// What [`FuzzRouter::lookup`] found, in owned types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FuzzLookup {
    /// Route number `route` matched, with these decoded `(name, value)` parameters.
    Found {
        /// The index the route was added under.
        route: usize,
        /// The captured parameters, in path order.
        params: Vec<(String, String)>,
    },
    /// No pattern matches the path.
    NotFound,
    /// The path matches, the method does not; the `Allow` value.
    MethodNotAllowed(String),
    /// `OPTIONS` for a known path (or `*`); the `Allow` value.
    Options(String),
    /// `CONNECT` with no `CONNECT` route: 501.
    NotImplemented,
}

impl FuzzRouter {
    /// An empty route table.
    pub fn new() -> FuzzRouter {
        FuzzRouter::default()
    }

    /// Adds `pattern` for `method` (`None`: any method). Returns the route's index, or the
    /// router's error message.
    pub fn insert(&mut self, method: Option<&str>, pattern: &str) -> Result<usize, String> {
        let index = self.patterns.len();
        self.patterns.push(pattern.to_string());
        let methods = match method {
            Some(m) => Methods::One(m),
            None => Methods::Any,
        };
        self.router
            .insert(methods, pattern, index)
            .map(|()| index)
            .map_err(|e| e.to_string())
    }

    /// The pattern that route `index` was added with.
    pub fn pattern(&self, index: usize) -> &str {
        &self.patterns[index]
    }

    /// Looks `path` (as received: percent-encoded, no query) up for `method`.
    pub fn lookup(&self, method: &str, path: &[u8]) -> FuzzLookup {
        match self.router.lookup_bytes(method, path) {
            Lookup::Found { value, params } => FuzzLookup::Found {
                route: *value,
                params,
            },
            Lookup::NotFound => FuzzLookup::NotFound,
            Lookup::MethodNotAllowed { allow } => FuzzLookup::MethodNotAllowed(allow.to_string()),
            Lookup::Options { allow } => FuzzLookup::Options(allow.to_string()),
            Lookup::NotImplemented => FuzzLookup::NotImplemented,
        }
    }
}

/// The percent-decoding the router applies to captured parameters (`%XX` decoded, invalid
/// escapes kept, `+` left alone), on bytes.
pub fn percent_decode_bytes(s: &str) -> Vec<u8> {
    crate::app::extract::decode_bytes(s, false).into_owned()
}

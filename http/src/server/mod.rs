//! [`Server`]: binding, accepting, limiting, and shutting down gracefully.
//!
//! `Server::bind(addr).workers(n).serve(app)` is uvicorn's `--host/--port/--workers`: it builds
//! a runtime with `n` worker threads, binds one listener (or `n` SO_REUSEPORT listeners, so the
//! kernel spreads new connections), spawns one accept task per listener and one task per
//! connection (`conn.rs`), and serves until SIGINT or SIGTERM.
//!
//! Graceful shutdown ([`RunningServer::shutdown`]), in order (the phases are in `shutdown.rs`):
//! 1. the drain begins: `/healthz` answers 503 and every response says `connection: close`;
//! 2. after the drain delay (default 0), stop accepting: stop the kernel queueing connections,
//!    take the ones already queued, then close the listeners (`listen.rs`), so new connects
//!    are refused and none already queued is reset;
//! 3. a grace (default 1 s) in which connections already accepted may still deliver a
//!    request, answered with `connection: close`;
//! 4. close the connections idle between requests (never one whose request is arriving);
//! 5. wait until every connection is gone or the shutdown timeout passes; then drop the
//!    runtime (cancelling what is left).
//!
//! Invariant: each connection task holds one permit of `permits`, so at most
//! `max_connections` connections exist and "all permits back" means "no connection left".

pub(crate) mod config;
pub(crate) mod conn;
pub(crate) mod listen;
pub(crate) mod shutdown;

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use spindle::sync::Semaphore;

use crate::app::App;
pub use crate::server::config::ServerConfig;
use crate::server::conn::serve_connection;
use crate::server::listen::Listener;
use crate::server::shutdown::Shutdown;

/// Configures and runs an HTTP server.
///
/// ```no_run
/// use spindle_http::{App, Server};
/// let app = App::new().get("/", |_req| async { "Hello, World!" });
/// Server::bind("127.0.0.1:8080").workers(2).serve(app).unwrap();
/// ```
pub struct Server {
    /// Where to listen.
    addr: io::Result<SocketAddr>,
    /// Runtime worker threads; `None`: one per core.
    workers: Option<usize>,
    /// Number of SO_REUSEPORT listeners; 0 means one ordinary listener.
    reuse_port_listeners: usize,
    /// Connections allowed at once; further clients wait in the listen backlog.
    max_connections: usize,
    /// How long a graceful shutdown waits for in-flight requests.
    shutdown_timeout: Duration,
    /// How long the listeners stay open after a drain begins (`/healthz` already says 503).
    drain_delay: Duration,
    /// How long, once accepting stops, idle connections may still deliver a request.
    drain_grace: Duration,
    /// Per-connection limits and timeouts.
    config: ServerConfig,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr.as_ref().ok())
            .field("workers", &self.workers)
            .field("reuse_port_listeners", &self.reuse_port_listeners)
            .field("max_connections", &self.max_connections)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("drain_delay", &self.drain_delay)
            .field("drain_grace", &self.drain_grace)
            .field("config", &self.config)
            .finish()
    }
}

impl Server {
    /// A server that will listen on `addr` (the first address it resolves to).
    pub fn bind(addr: impl ToSocketAddrs) -> Server {
        let addr = addr.to_socket_addrs().and_then(|mut it| {
            it.next().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
            })
        });
        Server {
            addr,
            workers: None,
            reuse_port_listeners: 0,
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
            drain_delay: Duration::ZERO,
            drain_grace: Duration::from_secs(1),
            config: ServerConfig::default(),
        }
    }

    /// Worker threads of the runtime `serve` builds (default: one per core).
    pub fn workers(mut self, n: usize) -> Server {
        self.workers = Some(n.max(1));
        self
    }

    /// Listens with `n` SO_REUSEPORT sockets on the same address, each with its own accept task.
    pub fn reuse_port(mut self, n: usize) -> Server {
        self.reuse_port_listeners = n;
        self
    }

    /// Most connections served at once (default 10,000).
    pub fn max_connections(mut self, n: usize) -> Server {
        self.max_connections = n.max(1);
        self
    }

    /// How long a graceful shutdown waits for in-flight requests once it has stopped
    /// accepting (default 10 s); then the connections left are cut. Set it above the longest
    /// request: only a cut request is one that a retrying load balancer may run twice.
    pub fn shutdown_timeout(mut self, d: Duration) -> Server {
        self.shutdown_timeout = d;
        self
    }

    /// How long the server keeps accepting and serving after a graceful shutdown begins
    /// (default 0). `/healthz` ([`App::healthz`]) answers 503 from the start, so set this to
    /// what a balancer that polls it needs to notice (interval × failures before it marks the
    /// instance down), so that it stops routing here before connects are refused.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use spindle_http::{App, Server};
    /// let app = App::new().get("/", |_req| async { "hi" }).healthz();
    /// Server::bind("127.0.0.1:8080")
    ///     .drain_delay(Duration::from_secs(5)) // e.g. a probe every 2 s, down after 2 failures
    ///     .drain_grace(Duration::from_millis(500))
    ///     .serve(app)
    ///     .unwrap();
    /// ```
    pub fn drain_delay(mut self, d: Duration) -> Server {
        self.drain_delay = d;
        self
    }

    /// How long, once a graceful shutdown stops accepting, a connection already accepted may
    /// still deliver its next request (default 1 s): a client that connected just before may
    /// not have sent it yet, and a keep-alive client may be sending one now. Such a request is
    /// answered, with `connection: close`; connections still idle after the grace are closed.
    pub fn drain_grace(mut self, d: Duration) -> Server {
        self.drain_grace = d;
        self
    }

    /// Replaces the per-connection limits and timeouts.
    pub fn config(mut self, config: ServerConfig) -> Server {
        self.config = config;
        self
    }

    /// Builds a runtime, serves `app` until SIGINT/SIGTERM, then shuts down gracefully.
    pub fn serve(self, app: App) -> io::Result<()> {
        self.serve_with(app, |_| {})
    }

    /// Like [`serve`](Server::serve), calling `on_ready` with the bound address once the
    /// server accepts connections (to print a banner, or learn the port when binding port 0).
    pub fn serve_with(self, app: App, on_ready: impl FnOnce(SocketAddr)) -> io::Result<()> {
        let mut builder = spindle::Builder::new_multi_thread();
        if let Some(n) = self.workers {
            builder.worker_threads(n);
        }
        let rt = builder.thread_name("spindle-http").build()?;
        rt.block_on(async move {
            let signal = spindle::signal::shutdown_signal()?;
            let running = self.start(app).await?;
            on_ready(running.local_addr());
            let sig = signal.await;
            spindle::report::emit(&spindle::report::Report::new(
                spindle::report::Kind::ShutdownSignal,
                "spindle_http::server",
                format_args!("received {sig:?}: shutting down gracefully"),
            ));
            running.shutdown().await;
            Ok(())
        })
    }

    /// Binds and starts serving on the current runtime; returns at once with a handle to
    /// shut the server down. Must be called inside a spindle runtime.
    pub async fn start(self, app: App) -> io::Result<RunningServer> {
        let addr = self.addr?;
        // One listener, or several SO_REUSEPORT ones: bind the first to learn the port (addr
        // may say port 0), then the rest on it.
        let reuse_port = self.reuse_port_listeners > 0;
        let first = Listener::bind(addr, reuse_port, BACKLOG)?;
        let bound = first.listener.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..self.reuse_port_listeners {
            listeners.push(Listener::bind(bound, true, BACKLOG)?);
        }
        let local_addr = bound;
        let shared = Arc::new(Accepting {
            shutdown: Arc::new(Shutdown::new(app.draining_flag())),
            app: Arc::new(app),
            config: Arc::new(self.config),
            permits: Arc::new(Semaphore::new(self.max_connections)),
            active: Arc::new(AtomicUsize::new(0)),
        });
        let accept_tasks = listeners
            .into_iter()
            .map(|l| {
                let task = spindle::task::Builder::new().name("accept");
                task.spawn(accept_loop(l, shared.clone()))
            })
            .collect::<io::Result<_>>()?;
        Ok(RunningServer {
            local_addr,
            shared,
            accept_tasks,
            shutdown_timeout: self.shutdown_timeout,
            drain_delay: self.drain_delay,
            drain_grace: self.drain_grace,
        })
    }
}

/// What every accept task shares.
struct Accepting {
    /// Routes and handlers.
    app: Arc<App>,
    /// Per-connection settings.
    config: Arc<ServerConfig>,
    /// The graceful-shutdown signal.
    shutdown: Arc<Shutdown>,
    /// One permit per live connection (plus the one the accept loop holds while it waits for
    /// the next client).
    permits: Arc<Semaphore>,
    /// Connections being served right now.
    active: Arc<AtomicUsize>,
}

/// A server started with [`Server::start`].
pub struct RunningServer {
    /// The bound address (the real port when asked for port 0).
    local_addr: SocketAddr,
    /// Shared with the accept tasks.
    shared: Arc<Accepting>,
    /// One per listener.
    accept_tasks: Vec<spindle::JoinHandle<()>>,
    /// How long `shutdown` waits for connections once it has stopped accepting.
    shutdown_timeout: Duration,
    /// How long `shutdown` keeps accepting after the drain begins.
    drain_delay: Duration,
    /// How long idle connections may still deliver a request once accepting has stopped.
    drain_grace: Duration,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The served app's HTTP metrics (the handle [`App::metrics`] returns).
    pub fn http_metrics(&self) -> crate::metrics::HttpMetrics {
        self.shared.app.metrics()
    }

    /// Number of connections open right now.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Graceful shutdown: begin the drain (`/healthz` says 503, responses close their
    /// connection), keep accepting for the drain delay, stop accepting (new connects are
    /// refused), give connections already accepted the drain grace to deliver a request, close
    /// the idle ones, let in-flight requests finish, and return when all connections are gone
    /// or the shutdown timeout has passed. Returns the number of connections still open then.
    pub async fn shutdown(mut self) -> usize {
        let shutdown = self.shared.shutdown.clone();
        // 1. The drain begins.
        shutdown.begin_drain();
        // 2. Balancers that poll /healthz get time to see the 503 while this instance serves.
        if !self.drain_delay.is_zero() {
            spindle::time::sleep(self.drain_delay).await;
        }
        // 3. Stop accepting: the accept tasks take what the kernel has queued, then close the
        //    listeners; from here a connect is refused and a balancer tries another instance.
        shutdown.stop_accepting();
        for t in std::mem::take(&mut self.accept_tasks) {
            let _ = t.await;
        }
        let stopped = Instant::now();
        let deadline = stopped + self.shutdown_timeout;
        // 4. Grace: a connection accepted a moment ago (or idle between requests) may still
        //    deliver a request; it is answered with `connection: close`.
        self.wait_for_connections((stopped + self.drain_grace).min(deadline))
            .await;
        // 5. Connections still idle between requests close; requests in flight go on.
        shutdown.close_idle();
        self.wait_for_connections(deadline).await;
        self.connections()
    }

    /// Waits until no connection is left or `until` passes.
    async fn wait_for_connections(&self, until: Instant) {
        while self.connections() > 0 && Instant::now() < until {
            spindle::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// At most this many connections already queued by the kernel are taken when accepting stops
/// (the listen backlog the server asks for).
const BACKLOG: u32 = 1024;

/// Accepts connections until accepting stops, one task per connection, at most
/// `max_connections`; then takes what the kernel has already queued and closes the listener.
async fn accept_loop(listener: Listener, shared: Arc<Accepting>) {
    loop {
        // Wait for a free connection slot (or the stop) before accepting: while the server is
        // full, new clients wait in the kernel's backlog instead of being accepted and dropped.
        // The stop is polled first: under load a connection is always ready, and a loop that
        // let `accept` win would never stop accepting.
        let permit = {
            let stop = pin!(shared.shutdown.accepting_stopped());
            let acquire = pin!(shared.permits.clone().acquire_owned());
            match first_of(stop, acquire).await {
                Either::Right(Ok(permit)) => permit,
                _ => break,
            }
        };
        let accepted = {
            let stop = pin!(shared.shutdown.accepting_stopped());
            let accept = pin!(listener.listener.accept());
            match first_of(stop, accept).await {
                Either::Right(r) => r,
                Either::Left(()) => break,
            }
        };
        match accepted {
            Ok((stream, peer)) => spawn_connection(&shared, stream, peer, permit),
            // `accept` already backs off on EMFILE and friends; anything else is per-connection.
            Err(e) => spindle::report::emit(&spindle::report::Report::new(
                spindle::report::Kind::AcceptFailed,
                "spindle_http::server",
                format_args!("accept failed: {e}"),
            )),
        }
    }
    // Clients whose handshake the kernel completed may have sent a request already: take
    // them (they get the drain grace) rather than let the close reset them (`listen.rs`).
    listener.stop(
        BACKLOG as usize,
        || shared.permits.clone().try_acquire_owned().ok(),
        |stream, peer, permit| spawn_connection(&shared, stream, peer, permit),
    );
    // Dropping `listener` closes the socket: from here a connect is refused.
}

/// Starts the task serving one accepted connection; it holds `permit` (its connection slot)
/// and counts in `active` until it ends.
fn spawn_connection(
    shared: &Accepting,
    stream: spindle::net::TcpStream,
    peer: SocketAddr,
    permit: spindle::sync::OwnedSemaphorePermit,
) {
    let (app, config, shutdown) = (
        shared.app.clone(),
        shared.config.clone(),
        shared.shutdown.clone(),
    );
    let active = ActiveGuard::new(shared.active.clone());
    let open = app.recorder().connection();
    let task = async move {
        serve_connection(stream, peer, app, config, shutdown).await;
        drop(open);
        drop(active);
        drop(permit);
    };
    // The task's name, `conn 127.0.0.1:50312`, is put together on the stack; the runtime
    // copies it (the one allocation a name costs).
    let mut name = [0u8; 80];
    let mut cursor = std::io::Cursor::new(&mut name[..]);
    let _ = std::io::Write::write_fmt(&mut cursor, format_args!("conn {peer}"));
    let len = cursor.position() as usize;
    let name = std::str::from_utf8(&name[..len]).unwrap_or("conn");
    // Spawning fails only outside a runtime, and the accept loop always runs inside one.
    let _ = spindle::task::Builder::new().name(name).spawn(task);
}

/// Counts one connection in `Accepting::active` for as long as it lives (also if its task is
/// cancelled at runtime shutdown).
struct ActiveGuard(Arc<AtomicUsize>);

impl ActiveGuard {
    fn new(active: Arc<AtomicUsize>) -> ActiveGuard {
        active.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(active)
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Which of two futures finished first.
enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both pinned futures; returns the first output (the left one wins a tie).
async fn first_of<A: Future + Unpin, B: Future + Unpin>(
    mut a: A,
    mut b: B,
) -> Either<A::Output, B::Output> {
    poll_fn(|cx| {
        if let Poll::Ready(v) = std::pin::Pin::new(&mut a).poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = std::pin::Pin::new(&mut b).poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

//! [`Server`]: binding, accepting, limiting, and shutting down gracefully.
//!
//! `Server::bind(addr).workers(n).serve(app)` is uvicorn's `--host/--port/--workers`: it builds
//! a runtime with `n` worker threads, binds one listener (or `n` SO_REUSEPORT listeners, so the
//! kernel spreads new connections), spawns one accept task per listener and one task per
//! connection (`conn.rs`), and serves until SIGINT or SIGTERM.
//!
//! Graceful shutdown, in order: stop accepting; close idle keep-alive connections; let
//! in-flight requests finish, answered with `connection: close`; wait until every connection
//! is gone or the shutdown deadline passes; then drop the runtime (cancelling what is left).
//!
//! Invariant: each connection task holds one permit of `permits`, so at most
//! `max_connections` connections exist and "all permits back" means "no connection left".

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use spindle::net::{ListenOptions, TcpListener};
use spindle::sync::Semaphore;

use crate::app::App;
use crate::conn::serve_connection;
use crate::limits::Limits;
use crate::shutdown::Shutdown;

/// Limits and timeouts that every connection of a server applies.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Request size limits (head 16 KiB / 100 fields, target 8 KiB, body 2 MiB by default).
    pub limits: Limits,
    /// A request head must arrive completely within this time from its first byte (408).
    pub header_timeout: Duration,
    /// Each read of a request body may wait this long for bytes (408).
    pub body_timeout: Duration,
    /// The whole request body must arrive within this time from the handler's first read of
    /// it; past it the read fails with 408 and the connection closes. `None`: no overall
    /// limit (each read is still bounded by `body_timeout`).
    pub body_deadline: Option<Duration>,
    /// The least average rate, in bytes per second, at which a request body must arrive once
    /// `min_body_rate_grace` has passed (Kestrel's `MinRequestBodyDataRate`): a client
    /// trickling its body slower is answered 408 and closed. Only time spent waiting for the
    /// client counts, not time the handler spends elsewhere. 0 turns the check off.
    pub min_body_bytes_per_second: u64,
    /// How long a body may arrive at any rate before `min_body_bytes_per_second` applies.
    pub min_body_rate_grace: Duration,
    /// An idle keep-alive connection is closed after this long without a new request.
    pub idle_timeout: Duration,
    /// Writing a response (or one streamed chunk) may take this long; then the connection closes.
    pub write_timeout: Duration,
    /// Unread request-body bytes the server will read and discard to keep a connection alive.
    pub max_drain_bytes: usize,
    /// `SO_SNDBUF` for each accepted connection: how much response data the kernel may hold
    /// for a client that does not read. Bounded, a response larger than this meets the write
    /// timeout; unbounded (`None`, the kernel's autotuning, up to `tcp_wmem`'s maximum), a
    /// client that never reads can pin megabytes of kernel memory per connection. Linux
    /// doubles the value for its bookkeeping.
    pub send_buffer_bytes: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            body_deadline: Some(Duration::from_secs(300)),
            min_body_bytes_per_second: 240,
            min_body_rate_grace: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_drain_bytes: 256 * 1024,
            send_buffer_bytes: Some(128 * 1024),
        }
    }
}

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

    /// How long a graceful shutdown waits for in-flight requests (default 10 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Server {
        self.shutdown_timeout = d;
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
            eprintln!("received {sig:?}: shutting down gracefully");
            running.shutdown().await;
            Ok(())
        })
    }

    /// Binds and starts serving on the current runtime; returns at once with a handle to
    /// shut the server down. Must be called inside a spindle runtime.
    pub async fn start(self, app: App) -> io::Result<RunningServer> {
        let addr = self.addr?;
        let listeners = if self.reuse_port_listeners == 0 {
            vec![TcpListener::bind_with(
                addr,
                ListenOptions::new().backlog(1024),
            )?]
        } else {
            // Bind the first to learn the port (addr may say port 0), then the rest on it.
            let first =
                TcpListener::bind_with(addr, ListenOptions::new().reuse_port(true).backlog(1024))?;
            let bound = first.local_addr()?;
            let mut all = vec![first];
            for _ in 1..self.reuse_port_listeners {
                all.push(TcpListener::bind_with(
                    bound,
                    ListenOptions::new().reuse_port(true).backlog(1024),
                )?);
            }
            all
        };
        let local_addr = listeners[0].local_addr()?;
        let shared = Arc::new(Accepting {
            app: Arc::new(app),
            config: Arc::new(self.config),
            shutdown: Arc::new(Shutdown::default()),
            permits: Arc::new(Semaphore::new(self.max_connections)),
            active: Arc::new(AtomicUsize::new(0)),
        });
        let accept_tasks = listeners
            .into_iter()
            .map(|l| spindle::spawn(accept_loop(l, shared.clone())))
            .collect();
        Ok(RunningServer {
            local_addr,
            shared,
            accept_tasks,
            shutdown_timeout: self.shutdown_timeout,
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
    /// How long `shutdown` waits.
    shutdown_timeout: Duration,
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

    /// Number of connections open right now.
    pub fn connections(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Graceful shutdown: stop accepting, close idle connections, let in-flight requests
    /// finish (with `connection: close`), and return when all connections are gone or the
    /// shutdown timeout has passed. Returns the number of connections still open then.
    pub async fn shutdown(mut self) -> usize {
        self.shared.shutdown.trigger();
        for t in std::mem::take(&mut self.accept_tasks) {
            let _ = t.await; // the listeners close here
        }
        let deadline = Instant::now() + self.shutdown_timeout;
        while self.connections() > 0 && Instant::now() < deadline {
            spindle::time::sleep(Duration::from_millis(5)).await;
        }
        self.connections()
    }
}

/// Accepts connections until shutdown, one task per connection, at most `max_connections`.
async fn accept_loop(listener: TcpListener, shared: Arc<Accepting>) {
    loop {
        // Wait for a free connection slot (or shutdown) before accepting: while the server is
        // full, new clients wait in the kernel's backlog instead of being accepted and dropped.
        let permit = {
            let acquire = pin!(shared.permits.clone().acquire_owned());
            let stop = pin!(shared.shutdown.wait());
            match first_of(acquire, stop).await {
                Either::Left(Ok(permit)) => permit,
                _ => return,
            }
        };
        let accepted = {
            let accept = pin!(listener.accept());
            let stop = pin!(shared.shutdown.wait());
            match first_of(accept, stop).await {
                Either::Left(r) => r,
                Either::Right(()) => return,
            }
        };
        match accepted {
            Ok((stream, peer)) => {
                let (app, config, shutdown) = (
                    shared.app.clone(),
                    shared.config.clone(),
                    shared.shutdown.clone(),
                );
                let active = ActiveGuard::new(shared.active.clone());
                drop(spindle::spawn(async move {
                    serve_connection(stream, peer, app, config, shutdown).await;
                    drop(active);
                    drop(permit);
                }));
            }
            // `accept` already backs off on EMFILE and friends; anything else is per-connection.
            Err(e) => eprintln!("spindle-http: accept failed: {e}"),
        }
    }
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

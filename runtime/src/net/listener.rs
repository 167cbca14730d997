//! [`TcpListener`]: a listening socket whose `accept` parks the task instead of the thread, and
//! which survives running out of file descriptors.
//!
//! Talks to: `crate::reactor::Registration` (read readiness = "a connection is queued"),
//! [`super::TcpStream`] (each accepted socket becomes one), `crate::time::sleep` (the back-off),
//! socket2 (socket options before `listen`).
//!
//! # Accept errors
//!
//! `accept(2)` can fail for reasons that say nothing about the listener itself:
//!
//! * **Out of resources** (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): the process or the system has no
//!   file descriptor or memory for the new socket. The connection stays queued in the kernel, so the
//!   listener is *still readable*: retrying at once would spin a worker at 100% CPU, and returning
//!   the error would make a typical `loop { listener.accept().await? }` server exit. Instead the
//!   listener sleeps (10 ms, doubling up to 1 s), retries, and reports it once per listener
//!   through [`crate::report`] ([`Kind::AcceptBackOff`](crate::report::Kind::AcceptBackOff)).
//!   The back-off is reset by the next successful accept.
//! * **One connection failed** (`ECONNABORTED`, and the network errors Linux passes through from
//!   the new socket: `EPROTO`, `ENETDOWN`, `EHOSTUNREACH`, ...): that client is gone; retry at once.
//!
//! Any other error is returned.
//!
//! Invariant: `backoff.sleep` is `Some` exactly while a back-off is in progress; a poll of
//! [`TcpListener::poll_accept`] does not try `accept(2)` until that sleep has finished.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use mio::Interest;
use socket2::{Domain, Protocol, Socket, Type};

use crate::loom::Mutex;
use crate::reactor::{Direction, Registration};
use crate::report::{self, Kind, Report};
use crate::time::{self, Sleep};

use super::addr::{self, ToSocketAddrs};
use super::TcpStream;

/// First back-off delay after an out-of-resources accept error.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// The back-off delay stops doubling here.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Backlog used by [`TcpListener::bind`]: how many fully established connections the kernel
/// queues for us before it stops completing handshakes (Linux caps it at `net.core.somaxconn`).
const DEFAULT_BACKLOG: u32 = 1024;

/// Options for [`TcpListener::bind_with`]: what [`TcpListener::bind`] does, made adjustable.
///
/// `SO_REUSEADDR` is always on (so a restarted server can bind while old connections linger in
/// `TIME_WAIT`), and the socket is always non-blocking.
///
/// ```no_run
/// use spindle::net::{ListenOptions, TcpListener};
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     // Two listeners on one port: the kernel spreads new connections between them,
///     // like `uvicorn --workers 2` spreads them between processes.
///     let options = ListenOptions::new().reuse_port(true).backlog(4096);
///     let a = TcpListener::bind_with("127.0.0.1:8080", options).await?;
///     let b = TcpListener::bind_with("127.0.0.1:8080", options).await?;
///     # drop((a, b));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOptions {
    /// Set `SO_REUSEPORT`: several sockets may listen on one address and share its connections.
    reuse_port: bool,
    /// The `listen(2)` backlog.
    backlog: u32,
}

impl ListenOptions {
    /// The defaults of [`TcpListener::bind`]: no `SO_REUSEPORT`, a backlog of 1024.
    pub fn new() -> ListenOptions {
        ListenOptions {
            reuse_port: false,
            backlog: DEFAULT_BACKLOG,
        }
    }

    /// Sets `SO_REUSEPORT`, so that other sockets (in this or another process) that also set it
    /// can listen on the same address; the kernel load-balances new connections between them.
    pub fn reuse_port(mut self, on: bool) -> ListenOptions {
        self.reuse_port = on;
        self
    }

    /// Sets the `listen(2)` backlog (values above `i32::MAX` are clamped; the kernel clamps
    /// further to `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: u32) -> ListenOptions {
        self.backlog = backlog;
        self
    }
}

impl Default for ListenOptions {
    fn default() -> ListenOptions {
        ListenOptions::new()
    }
}

/// A TCP socket listening for connections, registered with the current runtime's reactor.
///
/// ```no_run
/// use spindle::net::TcpListener;
///
/// spindle::Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:8080").await?;
///     loop {
///         let (stream, peer) = listener.accept().await?;
///         spindle::spawn(async move {
///             let _ = stream.write_all(b"hello\n").await;
///             println!("greeted {peer}");
///         });
///     }
///     # #[allow(unreachable_code)]
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct TcpListener {
    /// The listening socket and its reactor slot; read readiness means "a connection is queued".
    reg: Registration<mio::net::TcpListener>,
    /// Back-off state for out-of-resources errors; locked only inside `poll_accept`.
    backoff: Mutex<Backoff>,
}

/// Where the listener is in its out-of-resources back-off.
#[derive(Debug)]
struct Backoff {
    /// The sleep in progress, or `None` when not backing off. (`Sleep` is `Unpin`, so it can be
    /// stored here and polled in place.)
    sleep: Option<Sleep>,
    /// How long the next back-off sleeps: `MIN_BACKOFF` doubling to `MAX_BACKOFF`; reset on success.
    next_delay: Duration,
    /// Whether this listener already reported running out of resources (once, not per retry).
    warned: bool,
}

/// What to do about an error from `accept(2)` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AcceptError {
    /// Out of file descriptors or memory: sleep, then retry.
    BackOff,
    /// That one connection failed: retry at once.
    RetryNow,
    /// Anything else: return it to the caller.
    Fatal,
}

impl AcceptError {
    /// Sorts an `accept(2)` error into what to do about it.
    fn classify(e: &io::Error) -> AcceptError {
        match e.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                AcceptError::BackOff
            }
            Some(
                libc::ECONNABORTED
                | libc::ECONNRESET
                | libc::EINTR
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::ENETDOWN
                | libc::ENONET
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EOPNOTSUPP
                | libc::EPERM,
            ) => AcceptError::RetryNow,
            _ => AcceptError::Fatal,
        }
    }
}

impl TcpListener {
    /// Binds a listener to `addr` with `SO_REUSEADDR` and a backlog of 1024. If `addr` resolves to
    /// several addresses, the first that binds wins.
    ///
    /// `async` as in tokio: resolving a host name (`"localhost:80"`) blocks in `getaddrinfo(3)`, so
    /// it runs on the blocking pool while the task waits; a literal address (`"127.0.0.1:0"`, a
    /// `SocketAddr`) is parsed in place and the bind itself is one synchronous syscall. From
    /// synchronous code, use [`TcpListener::bind_addr`] or [`TcpListener::from_std`].
    ///
    /// # Panics
    /// Outside a spindle runtime.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let listener = spindle::net::TcpListener::bind("127.0.0.1:0").await?;
    /// println!("listening on {}", listener.local_addr()?);
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListener::bind_with(addr, ListenOptions::new()).await
    }

    /// Like [`TcpListener::bind`], with `options` (`SO_REUSEPORT`, backlog).
    ///
    /// # Panics
    /// Outside a spindle runtime.
    pub async fn bind_with(
        addr: impl ToSocketAddrs,
        options: ListenOptions,
    ) -> io::Result<TcpListener> {
        let mut last_err = None;
        for addr in addr::resolve(&addr).await? {
            match TcpListener::bind_addr(addr, options) {
                Ok(listener) => return Ok(listener),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to nothing to bind",
            )
        }))
    }

    /// Binds one literal address, synchronously (nothing to resolve, so nothing to wait for):
    /// for code that is not `async`, such as a server's setup.
    ///
    /// # Panics
    /// Outside a spindle runtime.
    ///
    /// ```no_run
    /// use spindle::net::{ListenOptions, TcpListener};
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let addr = "127.0.0.1:0".parse().unwrap();
    /// let listener = TcpListener::bind_addr(addr, ListenOptions::new())?;
    /// # drop(listener); Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn bind_addr(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
        TcpListener::from_std(listen_socket(addr, options)?)
    }

    /// Wraps a listener made with `std` (or received from elsewhere), switching it to non-blocking.
    ///
    /// # Panics
    /// Outside a spindle runtime.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let listener = spindle::net::TcpListener::from_std(std_listener)?;
    /// # drop(listener); Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        let reg = Registration::new(
            mio::net::TcpListener::from_std(listener),
            Interest::READABLE,
        )?;
        Ok(TcpListener {
            reg,
            backoff: Mutex::new(Backoff {
                sleep: None,
                next_delay: MIN_BACKOFF,
                warned: false,
            }),
        })
    }

    /// The address the listener is bound to (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reg.io().local_addr()
    }

    /// Waits for the next connection and returns it with the peer's address.
    ///
    /// Out-of-resources errors are not returned: the listener backs off and retries (see the
    /// module docs), so a server loop `loop { listener.accept().await?; .. }` survives running out of
    /// file descriptors and carries on once some are closed.
    ///
    /// ```no_run
    /// # spindle::Runtime::new().unwrap().block_on(async {
    /// let listener = spindle::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let (stream, peer) = listener.accept().await?;
    /// println!("{peer} connected from {}", stream.peer_addr()?);
    /// # Ok::<_, std::io::Error>(()) }).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The poll form of [`TcpListener::accept`], for hand-written futures. Only the task that
    /// polled last is woken when a connection arrives.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut backoff = self.backoff.lock();
        loop {
            // 1. Backing off: accept nothing until the sleep is over.
            if let Some(sleep) = backoff.sleep.as_mut() {
                ready!(Pin::new(sleep).poll(cx));
                backoff.sleep = None;
            }
            // 2. Accept (parks the task until a connection is queued; spends coop budget, so the
            //    retry loop below yields to other tasks when connections keep failing).
            let error = match ready!(self.reg.poll_io(cx, Direction::Read, |l| l.accept())) {
                Ok((stream, peer)) => {
                    backoff.next_delay = MIN_BACKOFF;
                    return Poll::Ready(TcpStream::from_mio(stream).map(|s| (s, peer)));
                }
                Err(e) => e,
            };
            // 3. Decide what the error means.
            match AcceptError::classify(&error) {
                AcceptError::RetryNow => continue,
                AcceptError::Fatal => return Poll::Ready(Err(error)),
                AcceptError::BackOff => {
                    let delay = backoff.next_delay;
                    if !backoff.warned {
                        backoff.warned = true;
                        let addr = self
                            .local_addr()
                            .map_or_else(|_| "?".to_string(), |a| a.to_string());
                        report::emit(&Report::new(
                            Kind::AcceptBackOff,
                            "spindle::net",
                            format_args!(
                                "accept on {addr} failed: {error}; retrying with back-off \
                                 ({delay:?} growing to {MAX_BACKOFF:?}); reported once per listener"
                            ),
                        ));
                    }
                    backoff.next_delay = (delay * 2).min(MAX_BACKOFF);
                    backoff.sleep = Some(time::sleep(delay));
                }
            }
        }
    }
}

/// Creates a non-blocking listening socket for `addr` with `options` (socket2 lets us set
/// `SO_REUSEADDR`/`SO_REUSEPORT` before `bind`, and choose the backlog, which `std` does not).
fn listen_socket(addr: SocketAddr, options: ListenOptions) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(options.backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each accept error is sorted into the documented reaction.
    #[test]
    fn accept_errors_are_classified() {
        let cases = [
            (libc::EMFILE, AcceptError::BackOff),
            (libc::ENFILE, AcceptError::BackOff),
            (libc::ENOBUFS, AcceptError::BackOff),
            (libc::ENOMEM, AcceptError::BackOff),
            (libc::ECONNABORTED, AcceptError::RetryNow),
            (libc::EPROTO, AcceptError::RetryNow),
            (libc::ENETUNREACH, AcceptError::RetryNow),
            (libc::EBADF, AcceptError::Fatal),
            (libc::EINVAL, AcceptError::Fatal),
        ];
        for (errno, want) in cases {
            let got = AcceptError::classify(&io::Error::from_raw_os_error(errno));
            assert_eq!(got, want, "errno {errno}");
        }
        let no_errno = io::Error::other("not from the OS");
        assert_eq!(AcceptError::classify(&no_errno), AcceptError::Fatal);
    }

    /// The builder keeps what it was told, and its defaults are `bind`'s.
    #[test]
    fn listen_options_builder() {
        let d = ListenOptions::default();
        assert_eq!((d.reuse_port, d.backlog), (false, DEFAULT_BACKLOG));
        let o = ListenOptions::new().reuse_port(true).backlog(7);
        assert_eq!((o.reuse_port, o.backlog), (true, 7));
    }
}

//! The server's listening sockets, and closing one without resetting the clients it has queued.
//!
//! The kernel completes TCP handshakes on its own and queues the new connections until the
//! server accepts them; closing a listening socket resets every connection still queued,
//! after its client may have sent a request. A graceful stop must therefore (1) stop the
//! kernel from queueing more, (2) accept everything queued, (3) close. Step 1 attaches a
//! socket filter that drops every packet arriving for the listening socket: a new client's
//! SYN goes unanswered, its kernel retries it about a second later, finds the port closed, and
//! the connect is refused, so the request is never sent and a load balancer (or the client)
//! can send it elsewhere. Step 2 accepts with direct system calls on a second descriptor of
//! the same socket, because the reactor's readiness may not yet report the latest arrivals.
//!
//! Talks to: `server` (the accept tasks), `spindle::net` (the listener the runtime polls).
//! Invariant: the socket closes only when [`Listener`] is dropped (both descriptors go).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use spindle::net::{TcpListener, TcpStream};

/// A listening socket: the runtime's handle for accepting, and a second descriptor of the same
/// socket for the graceful stop.
#[derive(Debug)]
pub(crate) struct Listener {
    /// What the accept task awaits.
    pub(crate) listener: TcpListener,
    /// A duplicate descriptor of the same socket (non-blocking, shared with `listener`), for
    /// the socket filter and the direct accepts of [`Listener::stop`].
    raw: std::net::TcpListener,
}

impl Listener {
    /// Binds `addr` (with `SO_REUSEPORT` if `reuse_port`) and listens with `backlog`.
    pub(crate) fn bind(addr: SocketAddr, reuse_port: bool, backlog: u32) -> io::Result<Listener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        if reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
        let std_listener: std::net::TcpListener = socket.into();
        let raw = std_listener.try_clone()?;
        Ok(Listener {
            listener: TcpListener::from_std(std_listener)?,
            raw,
        })
    }

    /// Steps 1 and 2 of a graceful stop (the module docs): no more connections are queued,
    /// and the ones already queued, at most `max`, are accepted and handed to `serve`, each
    /// with a connection slot from `slot` (none free: stop taking). Dropping `self` afterwards
    /// closes the socket (step 3).
    pub(crate) fn stop<P>(
        &self,
        max: usize,
        mut slot: impl FnMut() -> Option<P>,
        mut serve: impl FnMut(TcpStream, SocketAddr, P),
    ) {
        // 1. Drop every packet for the listening socket from now on. If the filter cannot be
        //    attached, carry on: then a connect racing the close may be reset.
        let _ = SockRef::from(&self.raw).attach_filter(&[DROP_ALL]);
        // 2. Accept what is queued, until the kernel says there is nothing left.
        for _ in 0..max {
            let Some(permit) = slot() else { return };
            let (stream, peer) = match self.raw.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => continue, // e.g. a queued client gave up (ECONNABORTED)
            };
            // A connection whose handshake completed after step 1 inherited the filter from
            // the listening socket: remove it, or its request would be dropped too. (None
            // attached is the usual case, reported as an error and ignored.)
            let _ = SockRef::from(&stream).detach_filter();
            if let Ok(stream) = TcpStream::from_std(stream) {
                serve(stream, peer, permit);
            }
        }
    }
}

/// A classic-BPF program of one instruction, `ret #0`: accept zero bytes of every packet,
/// that is, drop it. (`BPF_RET | BPF_K` is 0x06.)
const DROP_ALL: libc::sock_filter = libc::sock_filter {
    code: 0x06,
    jt: 0,
    jf: 0,
    k: 0,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    /// Connections the kernel queued before the stop are all handed over, with the bytes
    /// their clients sent; while the filter is on, a new connect gets no answer (it is not
    /// queued, so the close cannot reset it); after the close it is refused. Without the
    /// filter, the connect during the stop would be queued (and then reset by the close).
    #[test]
    fn stop_takes_the_queue_and_queues_nothing_more() {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async {
            let l = Listener::bind("127.0.0.1:0".parse().unwrap(), false, 16).unwrap();
            let addr = l.listener.local_addr().unwrap();
            // Queued by the kernel, never accepted by a task.
            let mut clients: Vec<std::net::TcpStream> = (0..3)
                .map(|i| {
                    let mut c = std::net::TcpStream::connect(addr).unwrap();
                    c.write_all(format!("request {i}").as_bytes()).unwrap();
                    c
                })
                .collect();
            let mut taken = Vec::new();
            l.stop(10, || Some(()), |stream, _peer, ()| taken.push(stream));
            assert_eq!(taken.len(), 3, "every queued connection is taken");
            for stream in &taken {
                let mut buf = [0u8; 9];
                stream.readable().await.unwrap();
                let n = stream.try_read(&mut buf).unwrap();
                assert!(buf[..n].starts_with(b"request "), "{:?}", &buf[..n]);
            }

            let late = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300));
            assert!(late.is_err(), "a connect during the stop is not answered");

            drop(l);
            let e = std::net::TcpStream::connect(addr).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e}");

            // The taken connections still work: the server side can answer them.
            for (stream, client) in taken.iter().zip(&mut clients) {
                stream.write_all(b"answer").await.unwrap();
                let mut buf = [0u8; 6];
                client.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"answer");
            }
        });
    }
}

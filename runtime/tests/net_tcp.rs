//! Integration tests for `spindle::net` on real loopback sockets: echo, many concurrent
//! connections, half-close, refused connects, a stream shared by a reader and a writer task,
//! vectored writes, and the `try_*` / readiness API.
//!
//! Every test binds 127.0.0.1:0 and runs its body under [`with_timeout`], so a lost wake-up shows
//! up as a failure naming the test, never as a hung test run.

mod common;

use common::with_timeout;

use std::io::{self, IoSlice};
use std::net::{Shutdown, SocketAddr};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use spindle::net::{ListenOptions, TcpListener, TcpStream};
use spindle::Runtime;

/// Makes sure this process may open at least `want` file descriptors (raising the soft limit
/// towards the hard one), because the concurrency tests hold thousands of sockets.
fn ensure_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if limit.rlim_cur < want {
        assert!(
            limit.rlim_max >= want,
            "this test needs {want} file descriptors, the hard limit is {}",
            limit.rlim_max
        );
        limit.rlim_cur = want;
        // SAFETY: `limit` is a valid rlimit; raising the soft limit up to the hard one is allowed.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
    }
}

/// Reads until end of stream, returning everything read.
async fn read_to_end(stream: &TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads exactly `buf.len()` bytes, failing on a premature end of stream.
async fn read_exact(stream: &TcpStream, buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    Ok(())
}

/// Echoes everything it reads back to the peer until the peer closes its write side, then
/// closes its own write side.
async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await? {
            0 => return stream.shutdown(Shutdown::Write),
            n => stream.write_all(&buf[..n]).await?,
        }
    }
}

/// Starts an echo server on 127.0.0.1:0 that serves every connection in its own task.
async fn spawn_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    spindle::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            spindle::spawn(echo(stream));
        }
    });
    addr
}

/// A client task and a server task exchange a message through a real socket: what the client
/// writes comes back byte for byte, and the addresses on both ends agree.
#[test]
fn echo_between_tasks() {
    with_timeout(20, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spindle::spawn(async move {
                let (stream, peer) = listener.accept().await.unwrap();
                assert_eq!(stream.peer_addr().unwrap(), peer);
                echo(stream).await.unwrap();
            });
            let client = TcpStream::connect(addr).await.unwrap();
            assert_eq!(client.peer_addr().unwrap(), addr);
            client.write_all(b"hello, reactor").await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            assert_eq!(read_to_end(&client).await.unwrap(), b"hello, reactor");
            server.await.unwrap();
        });
    });
}

/// 1,000 connections at once, each from its own task, each echoing a distinct message: every
/// client gets exactly its own message back.
#[test]
fn thousand_concurrent_connections_echo() {
    const CONNECTIONS: usize = 1000;
    ensure_fd_limit(4 * CONNECTIONS as u64);
    with_timeout(60, || {
        let rt = Runtime::new().unwrap();
        let verified = rt.block_on(async {
            let addr = spawn_echo_server().await;
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|i| {
                    spindle::spawn(async move {
                        let message = format!("client {i:04} says hello {}", "x".repeat(i % 97));
                        let stream = TcpStream::connect(addr).await?;
                        stream.write_all(message.as_bytes()).await?;
                        stream.shutdown(Shutdown::Write)?;
                        let reply = read_to_end(&stream).await?;
                        assert_eq!(
                            reply,
                            message.as_bytes(),
                            "client {i} got someone else's bytes"
                        );
                        io::Result::Ok(())
                    })
                })
                .collect();
            let mut verified = 0;
            for (i, client) in clients.into_iter().enumerate() {
                client
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("client {i}: {e}"));
                verified += 1;
            }
            verified
        });
        assert_eq!(verified, CONNECTIONS);
    });
}

/// Half-close: after the client shuts down its write side, the server reads end of stream (and
/// keeps reading it), yet can still send its answer, which the client reads before its own EOF.
#[test]
fn half_close_lets_the_peer_answer() {
    with_timeout(20, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spindle::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let request = read_to_end(&stream).await.unwrap();
                assert_eq!(request, b"question");
                // End of stream is final: reading again returns 0 again, without waiting.
                assert_eq!(stream.read(&mut [0u8; 8]).await.unwrap(), 0);
                stream.write_all(b"answer").await.unwrap();
                // Dropping the stream closes it.
            });
            let client = TcpStream::connect(addr).await.unwrap();
            client.write_all(b"question").await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            assert_eq!(read_to_end(&client).await.unwrap(), b"answer");
            server.await.unwrap();
        });
    });
}

/// Connecting to a port nobody listens on fails with `ConnectionRefused` instead of hanging.
#[test]
fn connect_to_closed_port_is_refused() {
    with_timeout(20, || {
        // Reserve a free port, then close it so nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rt = Runtime::new().unwrap();
        let result = rt.block_on(TcpStream::connect(("127.0.0.1", port)));
        let err = result.expect_err("connected to a closed port");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    });
}

/// One stream shared (`Arc`) by a writer task and a reader task: 8 MiB go through an echo server
/// without deadlock, byte for byte. The writer fills the socket buffers and must be woken by write
/// readiness while the reader is woken by read readiness on the same socket.
#[test]
fn reader_and_writer_tasks_share_a_stream() {
    const TOTAL: usize = 8 << 20;
    with_timeout(60, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let addr = spawn_echo_server().await;
            let stream = Arc::new(TcpStream::connect(addr).await.unwrap());
            let writer = {
                let stream = stream.clone();
                spindle::spawn(async move {
                    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
                    let mut sent = 0;
                    while sent < TOTAL {
                        stream.write_all(&chunk).await.unwrap();
                        sent += chunk.len();
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                })
            };
            let reader = spindle::spawn(async move {
                let mut received = 0usize;
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return received;
                    }
                    for (k, byte) in buf[..n].iter().enumerate() {
                        let expected = (((received + k) % (64 * 1024)) % 251) as u8;
                        assert_eq!(*byte, expected, "corrupted at byte {}", received + k);
                    }
                    received += n;
                }
            });
            writer.await.unwrap();
            assert_eq!(reader.await.unwrap(), TOTAL);
        });
    });
}

/// `write_all_vectored` delivers many buffers (more than one `writev` takes, some empty, one large)
/// in order and completely.
#[test]
fn write_all_vectored_sends_every_buffer_in_order() {
    with_timeout(30, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let addr = spawn_echo_server().await;
            let big = vec![b'z'; 3 << 20];
            let pieces: Vec<Vec<u8>> = (0..200).map(|i| format!("[{i}]").into_bytes()).collect();
            let mut slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
            slices.insert(10, IoSlice::new(&[]));
            slices.insert(100, IoSlice::new(&big));
            let expected: Vec<u8> = slices.iter().flat_map(|s| s.iter().copied()).collect();

            let stream = Arc::new(TcpStream::connect(addr).await.unwrap());
            // Read concurrently: 3 MiB do not fit the socket buffers in one go.
            let reader = {
                let stream = stream.clone();
                spindle::spawn(async move { read_to_end(&stream).await.unwrap() })
            };
            stream.write_all_vectored(&slices).await.unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
            assert!(
                reader.await.unwrap() == expected,
                "echoed bytes differ from what was written"
            );
        });
    });
}

/// `readable` + `try_read` and `writable` + `try_write`: the try form never waits, reports
/// `WouldBlock` when no data is there, and works once readiness is reported.
#[test]
fn readiness_and_try_operations() {
    with_timeout(20, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();

            // Nothing sent yet: a try_read must not wait, and must say WouldBlock.
            let mut buf = [0u8; 16];
            let err = server
                .try_read(&mut buf)
                .expect_err("read data that was never sent");
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);

            client.writable().await.unwrap();
            let n = loop {
                match client.try_write(b"ping") {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        client.writable().await.unwrap()
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(n, 4);

            let n = loop {
                server.readable().await.unwrap();
                match server.try_read(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(&buf[..n], b"ping");

            // That read was short (4 of 16 bytes), so the readiness was cleared with it: the
            // next try_read says WouldBlock at once, and data sent later still wakes `readable`
            // (the clearing never swallows a new edge).
            let err = server
                .try_read(&mut buf)
                .expect_err("nothing more was sent");
            assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
            client.write_all(b"pong").await.unwrap();
            let n = loop {
                server.readable().await.unwrap();
                match server.try_read(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(&buf[..n], b"pong");
        });
    });
}

/// Socket options and constructors: nodelay round-trips, `from_std` wraps std sockets, and two
/// listeners share one port with `SO_REUSEPORT` (while a plain second bind is refused).
#[test]
fn options_from_std_and_reuse_port() {
    with_timeout(20, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let listener = TcpListener::from_std(std_listener).unwrap();
            let addr = listener.local_addr().unwrap();
            let std_stream = std::net::TcpStream::connect(addr).unwrap();
            let client = TcpStream::from_std(std_stream).unwrap();
            let (server, _) = listener.accept().await.unwrap();
            client.set_nodelay(true).unwrap();
            assert!(client.nodelay().unwrap());
            client.set_nodelay(false).unwrap();
            assert!(!client.nodelay().unwrap());
            client.write_all(b"std").await.unwrap();
            let mut buf = [0u8; 3];
            read_exact(&server, &mut buf).await.unwrap();
            assert_eq!(&buf, b"std");
            assert_eq!(server.local_addr().unwrap(), addr);
            assert!(client.take_error().unwrap().is_none());

            let options = ListenOptions::new().reuse_port(true).backlog(16);
            let first = TcpListener::bind_with("127.0.0.1:0", options)
                .await
                .unwrap();
            let port_addr = first.local_addr().unwrap();
            let second = TcpListener::bind_with(port_addr, options).await.unwrap();
            assert_eq!(second.local_addr().unwrap(), port_addr);
            let err = TcpListener::bind(port_addr)
                .await
                .expect_err("bound a used port without SO_REUSEPORT");
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        });
    });
}

/// Dropping a runtime while a task waits on a socket returns promptly (the reactor's shutdown
/// wakes or cancels the waiter) instead of hanging.
#[test]
fn runtime_drop_with_pending_io_does_not_hang() {
    with_timeout(20, || {
        let rt = Runtime::new().unwrap();
        let (tx, rx) = mpsc::channel();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            spindle::spawn(async move {
                let _ = tx.send(());
                // Nobody connects: this waits until the runtime goes away.
                let _ = listener.accept().await;
            });
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("accept task never ran");
        drop(rt);
    });
}

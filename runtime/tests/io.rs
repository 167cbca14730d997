//! Integration tests for `spindle::io`: the extension methods, `BufReader` / `BufWriter`, `copy`,
//! `copy_bidirectional` and the split halves, each over real loopback sockets (127.0.0.1:0) and
//! over the in-memory `duplex` pipe, plus async `TcpListener::bind`.
//!
//! Every test runs under [`with_timeout`], so a lost wake-up fails the test by name instead of
//! hanging the run.

mod common;

use common::with_timeout;

use std::io;

use spindle::io::{
    copy, copy_bidirectional, duplex, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite,
    AsyncWriteExt, BufReader, BufWriter,
};
use spindle::net::{TcpListener, TcpStream};
use spindle::Runtime;

/// A connected pair of loopback sockets: (client side, server side).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = spindle::join!(TcpStream::connect(addr), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

/// Writes `chunks` one by one with a yield between them, so the reader sees them split.
async fn write_in_pieces<W: AsyncWrite + Unpin>(w: &mut W, chunks: &[&[u8]]) -> io::Result<()> {
    for chunk in chunks {
        w.write_all(chunk).await?;
        w.flush().await?;
        spindle::task::yield_now().await;
    }
    Ok(())
}

/// Runs `body` on a fresh 2-worker runtime under a 30 s timeout.
fn run<F: std::future::Future<Output = ()> + Send + 'static>(
    body: impl FnOnce() -> F + Send + 'static,
) {
    with_timeout(30, move || Runtime::new().unwrap().block_on(body()));
}

/// `read_exact` gathers bytes that arrive in several writes, on a socket and on a pipe.
#[test]
fn read_exact_across_split_writes() {
    async fn check<R, W>(mut r: R, mut w: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let writer = spindle::spawn(async move {
            write_in_pieces(&mut w, &[b"he", b"l", b"lo wor", b"ld"])
                .await
                .unwrap();
            w
        });
        let mut buf = [0u8; 11];
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello world");
        drop(writer.await.unwrap());
    }
    run(|| async {
        let (client, server) = tcp_pair().await;
        check(server, client).await;
        let (a, b) = duplex(3); // smaller than the message: the writer must wait for the reader
        check(b, a).await;
    });
}

/// End of stream in the middle of `read_exact` is `UnexpectedEof`, on both transports.
#[test]
fn read_exact_eof_is_unexpected_eof() {
    async fn check<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(mut r: R, mut w: W) {
        w.write_all(b"abc").await.unwrap();
        w.shutdown().await.unwrap();
        let mut buf = [0u8; 8];
        let err = r.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(&buf[..3], b"abc");
    }
    run(|| async {
        let (client, server) = tcp_pair().await;
        check(server, client).await;
        let (a, b) = duplex(64);
        check(b, a).await;
    });
}

/// `read_to_end` collects a body larger than every buffer until the writer shuts down;
/// `read_to_string` does the same for text and refuses bytes that are not UTF-8.
#[test]
fn read_to_end_and_to_string() {
    async fn check<R, W>(mut r: R, mut w: W)
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let expected = body.clone();
        let writer = spindle::spawn(async move {
            w.write_all(&body).await.unwrap();
            w.shutdown().await.unwrap();
            w
        });
        let mut got = b"prefix:".to_vec();
        let n = r.read_to_end(&mut got).await.unwrap();
        assert_eq!(n, expected.len());
        assert_eq!(&got[..7], b"prefix:");
        assert!(got[7..] == expected[..], "bytes differ");
        drop(writer.await.unwrap());
    }
    run(|| async {
        let (client, server) = tcp_pair().await;
        check(server, client).await;
        let (a, b) = duplex(1000);
        check(b, a).await;

        let (mut a, mut b) = duplex(64);
        a.write_all("héllo".as_bytes()).await.unwrap();
        drop(a);
        let mut s = String::from(">");
        assert_eq!(b.read_to_string(&mut s).await.unwrap(), 6);
        assert_eq!(s, ">héllo");

        let (mut a, mut b) = duplex(64);
        a.write_all(&[b'o', b'k', 0xff]).await.unwrap();
        drop(a);
        let mut s = String::from("kept");
        let err = b.read_to_string(&mut s).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(s, "kept");
    });
}

/// `BufReader` lines: `\n` and `\r\n` endings, a last line without an ending, an empty line,
/// and lines split across writes and across the reader's small buffer.
#[test]
fn buf_reader_lines() {
    run(|| async {
        let (client, server) = tcp_pair().await;
        let mut client = client;
        let writer = spindle::spawn(async move {
            write_in_pieces(
                &mut client,
                &[
                    b"first\r\nsec",
                    b"ond\n\nthird line is lon",
                    b"ger than the buffer",
                ],
            )
            .await
            .unwrap();
            drop(client);
        });
        let mut reader = BufReader::with_capacity(4, server);
        let mut line = String::new();
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 7);
        assert_eq!(line, "first\r\n");
        let mut lines = reader.lines();
        let mut all = Vec::new();
        while let Some(l) = lines.next_line().await.unwrap() {
            all.push(l);
        }
        assert_eq!(all, ["second", "", "third line is longer than the buffer"]);
        writer.await.unwrap();

        // read_until and read after a partial buffer consume, on a pipe.
        let (mut a, b) = duplex(64);
        a.write_all(b"key=value;rest").await.unwrap();
        drop(a);
        let mut reader = BufReader::new(b);
        let mut key = Vec::new();
        reader.read_until(b'=', &mut key).await.unwrap();
        assert_eq!(key, b"key=");
        let mut rest = String::new();
        reader.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "value;rest");
    });
}

/// `BufWriter` holds small writes until `flush`, and a large write goes straight through.
#[test]
fn buf_writer_flush() {
    run(|| async {
        let (a, mut b) = duplex(1 << 20);
        let mut w = BufWriter::with_capacity(16, a);
        w.write_all(b"abc").await.unwrap();
        w.write_all(b"def").await.unwrap();
        assert_eq!(w.buffer(), b"abcdef", "small writes stay buffered");
        // Nothing reached the pipe yet: a read would wait. Flush, then it is there.
        w.flush().await.unwrap();
        assert!(w.buffer().is_empty());
        let mut got = [0u8; 6];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcdef");
        // A write larger than the buffer empties the buffer first, then bypasses it.
        w.write_all(b"x").await.unwrap();
        w.write_all(&[b'y'; 40]).await.unwrap();
        assert!(w.buffer().is_empty());
        w.shutdown().await.unwrap();
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), 41);
        assert_eq!(rest[0], b'x');

        // Over TCP: many small writes arrive complete after flush.
        let (client, mut server) = tcp_pair().await;
        let mut w = BufWriter::new(client);
        for i in 0..1000u32 {
            w.write_all(format!("{i:04}").as_bytes()).await.unwrap();
        }
        w.flush().await.unwrap();
        let mut got = vec![0u8; 4000];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..8], b"00000001");
        assert_eq!(&got[3996..], b"0999");
    });
}

/// A proxy built from `copy_bidirectional` between two real TCP connections passes bytes both
/// ways and passes each half-close on, and reports the byte counts.
#[test]
fn copy_bidirectional_over_tcp_with_shutdown() {
    run(|| async {
        let (mut client, mut proxy_front) = tcp_pair().await;
        let (mut proxy_back, mut server) = tcp_pair().await;
        let proxy =
            spindle::spawn(
                async move { copy_bidirectional(&mut proxy_front, &mut proxy_back).await },
            );
        let upload = vec![7u8; 200_000];
        let download = vec![9u8; 300_000];
        let server_task = {
            let download = download.clone();
            spindle::spawn(async move {
                let mut got = Vec::new();
                // Ends only because the client's shutdown was passed through the proxy.
                server.read_to_end(&mut got).await.unwrap();
                server.write_all(&download).await.unwrap();
                AsyncWriteExt::shutdown(&mut server).await.unwrap();
                got
            })
        };
        client.write_all(&upload).await.unwrap();
        AsyncWriteExt::shutdown(&mut client).await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert!(got == download, "download differs");
        assert!(server_task.await.unwrap() == upload, "upload differs");
        assert_eq!(proxy.await.unwrap().unwrap(), (200_000, 300_000));
    });
}

/// `copy` moves a stream through a one-byte pipe (every byte waits for the reader) intact.
#[test]
fn copy_through_a_tiny_pipe() {
    run(|| async {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
        let (mut a, mut b) = duplex(1);
        let expected = data.clone();
        let reader = spindle::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut source = data.as_slice();
        assert_eq!(copy(&mut source, &mut a).await.unwrap(), 5000);
        drop(a);
        assert!(reader.await.unwrap() == expected);
    });
}

/// Borrowed halves from `split` work at once in one task; owned halves from `into_split` work in
/// two tasks, and dropping the owned write half sends end of stream.
#[test]
fn split_halves() {
    run(|| async {
        let (mut client, mut server) = tcp_pair().await;
        let echo = spindle::spawn(async move {
            let (mut r, mut w) = server.split();
            copy(&mut r, &mut w).await.unwrap()
        });
        let (mut r, mut w) = client.split();
        let (sent, got) = spindle::join!(
            async {
                w.write_all(&[1u8; 100_000]).await?;
                w.shutdown().await
            },
            async {
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.map(|_| got)
            }
        );
        sent.unwrap();
        assert_eq!(got.unwrap(), vec![1u8; 100_000]);
        assert_eq!(echo.await.unwrap(), 100_000);

        let (client, server) = tcp_pair().await;
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, sw) = server.into_split();
        let writer = spindle::spawn(async move { cw.write_all(b"owned").await });
        let mut buf = [0u8; 5];
        sr.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"owned");
        writer.await.unwrap().unwrap(); // the task dropped `cw`: the server reads end of stream
        assert_eq!(sr.read(&mut buf).await.unwrap(), 0);
        drop(sw);
        assert_eq!(cr.read(&mut buf).await.unwrap(), 0);
    });
}

/// Writing towards a dropped duplex end fails with `BrokenPipe`; a reader waiting on an empty
/// pipe is woken by the other end's drop and reads end of stream.
#[test]
fn duplex_close_rules() {
    run(|| async {
        let (mut a, b) = duplex(8);
        drop(b);
        let err = a.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);

        let (a, mut b) = duplex(8);
        let reader = spindle::spawn(async move {
            let mut buf = [0u8; 4];
            b.read(&mut buf).await
        });
        spindle::task::yield_now().await;
        drop(a);
        assert_eq!(reader.await.unwrap().unwrap(), 0);
    });
}

/// `bind` resolves a host name on the blocking pool and binds the result; a literal and an
/// unresolvable name behave as expected.
#[test]
fn bind_resolves_names() {
    run(|| async {
        let by_name = TcpListener::bind("localhost:0").await.unwrap();
        assert!(by_name.local_addr().unwrap().ip().is_loopback());
        let by_tuple = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = by_tuple.local_addr().unwrap();
        let (c, _) = spindle::join!(
            TcpStream::connect(("localhost", addr.port())),
            by_tuple.accept()
        );
        // localhost may resolve to ::1 first; connect tries each address in turn.
        assert_eq!(c.unwrap().peer_addr().unwrap().port(), addr.port());
        assert!(TcpListener::bind("no-such-host.invalid:0").await.is_err());
        assert!(TcpListener::bind("not an address").await.is_err());
    });
}

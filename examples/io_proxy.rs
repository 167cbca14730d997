//! `spindle::io` the way a tokio user writes it: a TCP proxy built from `copy_bidirectional`, in
//! front of an echo server built from `split` + `copy`, and a client that uses `BufReader`'s
//! `lines` and `write_all`, all over real sockets on 127.0.0.1.
//!
//! Shows: `TcpListener::bind(..).await`, `AsyncReadExt` / `AsyncWriteExt` / `AsyncBufReadExt`,
//! half-close passing through the proxy (the client's `shutdown` ends the echo server's copy).
//!
//! Run: `cargo run --release --example io_proxy`

use spindle::io::{copy, copy_bidirectional, AsyncBufReadExt, AsyncWriteExt, BufReader};
use spindle::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    spindle::Runtime::new()?.block_on(async {
        // 1. The echo server: each connection copies its read half into its write half.
        let echo = TcpListener::bind("127.0.0.1:0").await?;
        let echo_addr = echo.local_addr()?;
        spindle::spawn(async move {
            while let Ok((mut stream, _)) = echo.accept().await {
                spindle::spawn(async move {
                    let (mut r, mut w) = stream.split();
                    let n = copy(&mut r, &mut w).await?;
                    w.shutdown().await?;
                    println!("echo: copied {n} bytes back");
                    Ok::<_, std::io::Error>(())
                });
            }
        });

        // 2. The proxy: one task per client, copying both ways until both sides are done.
        let proxy = TcpListener::bind("127.0.0.1:0").await?;
        let proxy_addr = proxy.local_addr()?;
        spindle::spawn(async move {
            while let Ok((mut client, _)) = proxy.accept().await {
                spindle::spawn(async move {
                    let mut upstream = TcpStream::connect(echo_addr).await?;
                    let (up, down) = copy_bidirectional(&mut client, &mut upstream).await?;
                    println!("proxy: {up} bytes up, {down} bytes down");
                    Ok::<_, std::io::Error>(())
                });
            }
        });

        // 3. The client: send three lines, half-close, read the echoed lines back.
        let stream = TcpStream::connect(proxy_addr).await?;
        let (reader, mut writer) = stream.into_split();
        writer.write_all(b"one\ntwo\nthree\n").await?;
        writer.shutdown().await?;
        let mut lines = BufReader::new(reader).lines();
        while let Some(line) = lines.next_line().await? {
            println!("client: got {line:?}");
        }
        Ok(())
    })
}

//! An echo server: every byte a client sends comes straight back.
//!
//! Shows: `TcpListener::bind` + `accept` in a loop, one task per connection, `read` / `write_all`
//! parking the task (not the thread) until the reactor reports the socket ready.
//!
//! Run it:    cargo run --example echo_server            (listens on 127.0.0.1:7878)
//!            cargo run --example echo_server -- 127.0.0.1:9000
//! Try it:    nc 127.0.0.1 7878      (type a line, it comes back; Ctrl-D to hang up)

use spindle::net::{TcpListener, TcpStream};

/// Copies everything the client sends back to it, until the client hangs up.
async fn echo(stream: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        // Parks this task until the reactor says the socket is readable; 0 means end of stream.
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".to_string());
    let rt = spindle::Runtime::new()?;
    rt.block_on(async {
        let listener = TcpListener::bind(&addr).await?;
        println!("echo server listening on {}", listener.local_addr()?);
        loop {
            // Out of file descriptors? accept backs off and retries instead of failing.
            let (stream, peer) = listener.accept().await?;
            spindle::spawn(async move {
                if let Err(e) = echo(stream).await {
                    eprintln!("{peer}: {e}");
                }
            });
        }
    })
}

//! One remote call made in four styles: fire-and-forget, polling a status, a callback, and
//! `await`; what each costs the caller and where each one's errors go.
//!
//! The remote service is a spindle TCP echo server in this process: it reads a line, waits
//! `--delay-ms` (default 50) as a slow backend would, and writes the line back upper-cased. The
//! line `fail` makes it close the connection without answering, so every style also meets an
//! error. Each style makes the same two calls, `hello` and `fail`:
//!
//! 1. fire-and-forget: `spawn` and drop the handle. Cheapest to write, and the caller learns
//!    nothing: not the answer, not the error, not even when it finished.
//! 2. polling: the call writes its status into shared state, the caller checks it every 5 ms.
//!    Each check is work done for nothing, and the answer is seen up to one interval late.
//! 3. callback: the caller registers a function that the runtime runs with the result. Nothing
//!    is wasted, but the result arrives in another function: the error must be handled there,
//!    and a second call that needs the first's answer nests inside the first's callback.
//! 4. `await`: the caller's code reads top to bottom, suspends without holding a thread, and
//!    errors come back as values that `?` passes up. This is what the other three build by hand.
//!
//! Run: `cargo run --release --example async_styles`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::net::{TcpListener, TcpStream};
use spindle::sync::oneshot;

/// How often the polling style looks at the status.
const POLL_EVERY: Duration = Duration::from_millis(5);

fn main() {
    let delay = match parse_delay(std::env::args().skip(1)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}\nusage: async_styles [--delay-ms N]");
            std::process::exit(2);
        }
    };
    let rt = spindle::Runtime::new().expect("build the runtime");
    if let Err(e) = rt.block_on(run(delay)) {
        eprintln!("async_styles: {e}");
        std::process::exit(1);
    }
}

fn parse_delay(mut args: impl Iterator<Item = String>) -> Result<Duration, String> {
    let mut delay = Duration::from_millis(50);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--delay-ms" => {
                let ms: u64 = args
                    .next()
                    .ok_or("--delay-ms needs a value")?
                    .parse()
                    .map_err(|e| format!("--delay-ms: {e}"))?;
                delay = Duration::from_millis(ms.min(10_000));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(delay)
}

// ---------------------------------------------------------------------------------------------
// The remote service, and the call every style makes.
// ---------------------------------------------------------------------------------------------

/// Starts the echo server; returns its address and a count of the lines it has received.
async fn start_echo_server(delay: Duration) -> std::io::Result<(SocketAddr, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let received = Arc::new(AtomicUsize::new(0));
    let count = received.clone();
    drop(spindle::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let count = count.clone();
            drop(spindle::spawn(async move {
                let Ok(line) = read_line(&stream).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                spindle::time::sleep(delay).await;
                if line != "fail" {
                    let _ = stream
                        .write_all(format!("{}\n", line.to_uppercase()).as_bytes())
                        .await;
                }
                // `fail`: the stream is dropped unanswered, and the caller reads end-of-file.
            }));
        }
    }));
    Ok((addr, received))
}

/// Reads up to the first newline.
async fn read_line(stream: &TcpStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 64];
    loop {
        let n = stream.read(&mut byte).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection without answering",
            ));
        }
        line.extend_from_slice(&byte[..n]);
        if let Some(i) = line.iter().position(|&b| b == b'\n') {
            line.truncate(i);
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

/// The remote call: send `msg`, wait for the answer.
async fn remote_call(addr: SocketAddr, msg: &str) -> std::io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    stream.write_all(format!("{msg}\n").as_bytes()).await?;
    read_line(&stream).await
}

/// Waits (bounded) until the server has seen `n` lines: how this program, not the caller in
/// style 1, learns that a fire-and-forget call happened at all.
async fn until_server_saw(received: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::SeqCst) < n && Instant::now() < deadline {
        spindle::time::sleep(Duration::from_millis(1)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The four styles.
// ---------------------------------------------------------------------------------------------

/// Style 1, fire-and-forget: spawn, drop the handle. The result and the error vanish with the task.
fn fire_and_forget(addr: SocketAddr, msg: &'static str) {
    drop(spindle::spawn(async move {
        let _ = remote_call(addr, msg).await; // nobody is listening for this
    }));
}

/// What the polling caller can see.
#[derive(Debug, Clone)]
enum Status {
    /// Not finished yet.
    Pending,
    /// Answered.
    Done(String),
    /// Failed, with the error as text.
    Failed(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Pending => write!(f, "pending"),
            Status::Done(answer) => write!(f, "done {answer:?}"),
            Status::Failed(e) => write!(f, "failed ({e})"),
        }
    }
}

/// Style 2, polling: start the call, which records its status; the caller checks the status until it
/// is no longer `Pending`. Returns the final status and how many checks it took.
async fn call_and_poll(addr: SocketAddr, msg: &'static str) -> (Status, u32) {
    let status = Arc::new(Mutex::new(Status::Pending));
    let slot = status.clone();
    drop(spindle::spawn(async move {
        let result = remote_call(addr, msg).await;
        // The lock guards a plain assignment; it cannot be poisoned by a panic while held.
        *slot.lock().unwrap() = match result {
            Ok(answer) => Status::Done(answer),
            Err(e) => Status::Failed(e.to_string()),
        };
    }));
    let mut checks = 0;
    loop {
        checks += 1;
        let now = status.lock().unwrap().clone();
        if !matches!(now, Status::Pending) {
            return (now, checks);
        }
        spindle::time::sleep(POLL_EVERY).await;
    }
}

/// Style 3, callback: the runtime runs `on_done` with the result, on whichever worker finishes the
/// call. The caller returns at once and never sees the result itself.
fn call_with_callback(
    addr: SocketAddr,
    msg: &'static str,
    on_done: impl FnOnce(std::io::Result<String>) + Send + 'static,
) {
    drop(spindle::spawn(async move {
        on_done(remote_call(addr, msg).await)
    }));
}

/// Style 4, `await`: the call's result, or its error passed up with `?`.
async fn call_and_await(addr: SocketAddr) -> std::io::Result<(String, String)> {
    let first = remote_call(addr, "hello").await?;
    // A second call that uses the first answer: just the next line.
    let second = remote_call(addr, &format!("{first} again")).await?;
    Ok((first, second))
}

async fn run(delay: Duration) -> std::io::Result<()> {
    let (addr, received) = start_echo_server(delay).await?;
    println!("echo server on {addr}, answering after {delay:?}; `fail` is closed unanswered");

    // 1.
    let t = Instant::now();
    fire_and_forget(addr, "hello");
    fire_and_forget(addr, "fail");
    let returned_after = t.elapsed();
    until_server_saw(&received, 2).await;
    println!(
        "1. fire-and-forget: caller returned after {returned_after:?}; server saw {} calls; \
         answer: unknown; error: lost",
        received.load(Ordering::SeqCst)
    );

    // 2.
    let t = Instant::now();
    let (ok, checks_ok) = call_and_poll(addr, "hello").await;
    let (failed, checks_failed) = call_and_poll(addr, "fail").await;
    println!(
        "2. polling every {POLL_EVERY:?}: answer: {ok} after {checks_ok} checks; \
         error: {failed} after {checks_failed} checks; {:?} in all",
        t.elapsed()
    );

    // 3. The results are handed back through a oneshot only so that this program can print
    //    them in order; the style itself ends inside the callbacks.
    let t = Instant::now();
    let (tx_ok, rx_ok) = oneshot::channel();
    let (tx_err, rx_err) = oneshot::channel();
    call_with_callback(addr, "hello", move |r| {
        // The second, dependent call has to be made from inside the first callback.
        match r {
            Ok(first) => {
                let again: &'static str = if first == "HELLO" { "hello again" } else { "?" };
                call_with_callback(addr, again, move |r2| {
                    let _ = tx_ok.send(r2.map(|second| (first, second)));
                });
            }
            Err(e) => {
                let _ = tx_ok.send(Err(e));
            }
        }
    });
    call_with_callback(addr, "fail", move |r| {
        let _ = tx_err.send(r);
    });
    let returned_after = t.elapsed();
    let ok = rx_ok
        .await
        .map_err(|_| std::io::Error::other("callback dropped"))?;
    let failed = rx_err
        .await
        .map_err(|_| std::io::Error::other("callback dropped"))?;
    println!(
        "3. callback: caller returned after {returned_after:?}; answer (nested callback): {ok:?}; \
         error inside the callback: {:?}",
        failed.map_err(|e| e.to_string())
    );

    // 4.
    let t = Instant::now();
    let answers = call_and_await(addr).await?;
    let failed = remote_call(addr, "fail").await;
    println!(
        "4. await: answer: {answers:?} in {:?}; error returned to the caller: {:?}",
        t.elapsed(),
        failed.map_err(|e| e.to_string())
    );
    Ok(())
}

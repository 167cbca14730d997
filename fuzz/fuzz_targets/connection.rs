//! Fuzz target: the whole connection state machine, over an in-memory pipe.
//!
//! The server's own connection loop (`http/src/server/conn.rs`) runs over the server's end of a
//! `spindle::io::duplex` pipe (`spindle_http::fuzzing::MemoryServer`; the `Transport` enum in
//! `http/src/io.rs` is how the loop reads and writes a pipe instead of a socket). The fuzzing
//! thread drives one persistent current-thread spindle runtime: each input spawns one
//! connection task on it and plays the client on the same thread. No socket, no thread per
//! input (a blocking handler still uses the runtime's blocking pool).
//!
//! Input: the `SplitInput` layout (`spindle_fuzz`). The payload is written one piece at a
//! time, with a yield after each so that the connection reads it on its own (a piece is one
//! read unless the pipe is smaller). The selector byte says:
//!
//! ```text
//! bit 0      limits: the defaults, or small ones (see `limits`)
//! bit 1      how the client ends: 0 = half-close, then read until the server closes;
//!            1 = vanish: after the pieces and `bits 2-4` yields, drop the client's end
//!            (the server then reads end of stream and its writes fail, as after a reset)
//! bits 2-4   yields before vanishing (0-7): how far the server gets first
//! bit 5      pipe size: 64 KiB each way, or 7 bytes (every write and read is partial,
//!            and the server's writes wait for the client: back-pressure)
//! ```
//!
//! The client reads the server's output all along (while writing, too), so a server that
//! answers early is never stuck on a full pipe.
//!
//! Checked: the output is a sequence of strictly well-formed HTTP/1.1 responses
//! (`spindle_fuzz::response`), interim `100 Continue` only; a `HEAD` request's response has
//! no body; nothing follows a response that says `connection: close`; a request the model
//! says must close the connection (HTTP/1.0 without keep-alive, `Connection: close`) gets
//! `connection: close`. After a half-close, the output is complete (a pipe loses nothing on
//! close, unlike a socket that resets) and every request that arrived complete is answered
//! (up to the first one that closes the connection); after the client vanishes, the output
//! may stop anywhere but what is there must be well-formed. The model is the crate's own head
//! parser and body decoders run over the payload at once. The connection task must end
//! within [`PER_INPUT`] either way (a hang is a crash): the server's own timeouts are set far
//! longer (see [`config`]), so no input finishes by waiting one out. Nothing may panic (a
//! panic inside the server aborts the process, as libFuzzer's panic hook turns every panic,
//! caught or not, into a crash). After each input, no task or timer of it may be left on the
//! runtime ([`settle`]).
//!
//! Leaks: the runtime lives for the whole process and is dropped at exit, before
//! LeakSanitizer's final check, so that check sees what its shutdown freed; the two servers
//! stay in a static for good (see [`SERVERS`]). The smoke (`scripts/fuzz-smoke.sh`) runs this
//! target with leak detection on, like the others (`docs/fuzzing.md`, "Leak checking").
#![no_main]

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use spindle::io::{AsyncRead, AsyncWrite, DuplexStream};
use spindle_fuzz::response::{read_response, Answering, Read};
use spindle_fuzz::SplitInput;
use spindle_http::body::BodyDecoder;
use spindle_http::fuzzing::MemoryServer;
use spindle_http::ServerConfig;
use spindle_http::{App, HttpError, Limits, Method, Request, RequestParser, Response};

/// How long one input may take before it counts as a hang. A correct server is done in
/// microseconds: the client has closed (half or whole), so nothing is left to wait for.
const PER_INPUT: Duration = Duration::from_secs(10);

/// The server's timeouts: far longer than [`PER_INPUT`], so that a connection which only
/// ends because a timeout fired shows up as a hang instead of passing slowly.
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);

/// The pipe's capacity in each direction, by bit 5 of the selector.
const PIPE_BYTES: [usize; 2] = [64 * 1024, 7];

/// The limits for selector byte `s`: the defaults, or small ones so the limit paths are reached.
fn limits(s: u8) -> Limits {
    match s % 2 {
        0 => Limits::default(),
        _ => Limits {
            max_head_bytes: 300,
            max_headers: 6,
            max_target_bytes: 64,
            max_body_bytes: 100,
            max_chunk_line_bytes: 16,
            max_trailer_bytes: 32,
            max_method_bytes: 8,
        },
    }
}

/// The server's settings: the limits under test, timeouts out of reach (see [`SERVER_TIMEOUT`]).
fn config(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        header_timeout: SERVER_TIMEOUT,
        body_timeout: SERVER_TIMEOUT,
        idle_timeout: SERVER_TIMEOUT,
        write_timeout: SERVER_TIMEOUT,
        max_drain_bytes: 1024,
        body_deadline: Some(SERVER_TIMEOUT),
        ..ServerConfig::default()
    }
}

/// The routes under test: every kind of handler and body the connection has a path for.
fn app() -> App {
    App::new()
        .get("/", |_req: Request| async { "Hello, World!" })
        .get("/users/{id}", |req: Request| async move {
            Response::text(format!("user {}\n", req.param("id").unwrap_or_default()))
        })
        .post("/echo", |mut req: Request| async move {
            let body = req.bytes().await?;
            Ok::<_, HttpError>(Response::bytes(body))
        })
        .post("/ignore", |_req: Request| async { "body left unread" })
        .get("/empty", |_req: Request| async { 204u16 })
        .get_blocking("/blocking", |_req: Request| "from the blocking pool")
        .get("/stream", |req: Request| async move {
            let n: u64 = req
                .query_param("n")
                .and_then(|v| v.parse().ok())
                .unwrap_or(3)
                .min(20);
            Response::stream("text/plain", move |tx| async move {
                for i in 0..n {
                    if tx.send(format!("chunk {i}\n")).await.is_err() {
                        return;
                    }
                }
            })
        })
        .any("/any", |req: Request| async move {
            Response::text(req.method_str().to_string())
        })
}

thread_local! {
    /// The runtime every input runs on: a current-thread runtime, so the fuzzing thread runs
    /// the connection task and the client in turn, and an input's interleaving depends on the
    /// input, not on the OS scheduler (blocking handlers aside: they run on the blocking pool).
    /// Made at the first input (libFuzzer calls the target from one thread) and dropped when
    /// the process exits: `exit` runs the thread's thread-local destructors before
    /// LeakSanitizer's final check, so the runtime shuts down first (cancelling what is left,
    /// freeing its queues, timers and threads) and LeakSanitizer then sees whether all it held
    /// was freed. What outlives the shutdown is reported there: a `Handle` or a waker kept by
    /// something that was never freed, a reference cycle through the runtime. (A task or
    /// timer left pending is what [`settle`] catches, after each input: shutdown would free it.)
    static RT: RuntimeSlot = RuntimeSlot(Some(Box::new(
        spindle::Builder::new_current_thread().build().expect("runtime"),
    )));
}

/// Holds the runtime; its destructor takes the runtime out before dropping it. A destroyed
/// thread-local keeps its last bytes, and LeakSanitizer scans them: a stale pointer to the
/// runtime's shared state there would make whatever the shutdown failed to free look
/// reachable. Boxed, so that taking it writes a null over the one pointer (an unboxed
/// `Option<Runtime>` may mark `None` in another field and leave the pointer in place, which
/// hid a deliberately leaked `Handle` in a trial run).
struct RuntimeSlot(Option<Box<spindle::Runtime>>);

impl RuntimeSlot {
    /// The runtime (present until the slot is destroyed at exit).
    fn get(&self) -> &spindle::Runtime {
        self.0.as_ref().expect("the runtime is taken only at exit")
    }
}

impl Drop for RuntimeSlot {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// The two servers, `[default limits, small limits]`: made at the first input and kept for
/// the whole process, on purpose, in a static (LeakSanitizer scans statics, so what they own
/// is reachable, not leaked). They are not dropped at exit because an `App` gives each route
/// a label that it leaks on purpose (`Route::label` in `http/src/app/stack.rs`: one small
/// string per route per app built, 16 here), which LeakSanitizer would report once the apps
/// were gone. `docs/fuzzing.md`, "Leak checking".
static SERVERS: OnceLock<[MemoryServer; 2]> = OnceLock::new();

/// The server for limits `which` (0 or 1).
fn server(which: usize) -> &'static MemoryServer {
    &SERVERS.get_or_init(|| {
        [
            MemoryServer::new(app(), config(limits(0))),
            MemoryServer::new(app(), config(limits(1))),
        ]
    })[which]
}

/// What the model expects of the requests in the payload.
#[derive(Debug, Default)]
struct Model {
    /// For each request whose head is complete, in order: how its response is framed.
    answering: Vec<Answering>,
    /// How many responses the server owes at least: complete requests (head and body), up to
    /// and including the first that closes the connection or expects `100 Continue`.
    owed: usize,
    /// Index of the first request that must close the connection, if any.
    closes_at: Option<usize>,
}

/// Runs the crate's parser and decoders over the whole payload, as the server should.
fn model(payload: &[u8], limits: &Limits) -> Model {
    let mut m = Model::default();
    let mut rest = payload;
    // Whether the requests so far are all owed an answer (see `Expect` below).
    let mut counting = true;
    loop {
        let head = match RequestParser::new(*limits).parse(rest) {
            Ok(Some(head)) => head,
            // A head error is answered, framing unknown; an incomplete head may not be.
            Ok(None) | Err(_) => {
                m.answering.push(Answering::Unknown);
                return m;
            }
        };
        rest = &rest[head.consumed()..];
        m.answering.push(if head.method() == Method::Head {
            Answering::Head
        } else {
            Answering::Other
        });
        let mut decoder = BodyDecoder::new(head.body_framing(), limits);
        // Until the body ends, needs more, or fails.
        while let Ok(p) = decoder.decode(rest) {
            rest = &rest[p.consumed..];
            if p.done || p.needs_more() {
                break;
            }
        }
        if !decoder.is_done() {
            // The handler may answer before the body fails or runs out, or the body's error
            // may be the answer; framing is known only for this one more response.
            m.answering.push(Answering::Unknown);
            return m;
        }
        if counting {
            m.owed += 1;
        }
        if !head.keep_alive() {
            m.closes_at = Some(m.answering.len() - 1);
            m.answering.push(Answering::Unknown);
            return m;
        }
        if head.expects_continue() {
            // `Expect: 100-continue` with the body already sent: whether the server keeps the
            // connection after this request depends on timing (`continue_owed`), so later
            // requests are not owed an answer. If they are answered, the answers still come in
            // order and framed by their own requests (a HEAD's has no body), so keep modelling.
            counting = false;
        }
    }
}

/// How the client ends the conversation (selector bits 1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Shut its write side down, then read until the server closes.
    HalfClose,
    /// Yield this many times (reading what arrives), then drop its end of the pipe.
    Vanish(u8),
}

/// Reads whatever the server has sent into `out` without waiting (the waker is registered
/// when nothing is there). True once the server has closed its side.
fn drain(client: &mut DuplexStream, cx: &mut Context<'_>, out: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match Pin::new(&mut *client).poll_read(cx, &mut chunk) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return true,
            Poll::Ready(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            Poll::Pending => return false,
        }
    }
}

/// Plays the client: writes the pieces (reading the output all along), then ends as `ending`
/// says. Returns everything the server sent.
async fn exchange(mut client: DuplexStream, pieces: &[&[u8]], ending: Ending) -> Vec<u8> {
    let mut out = Vec::new();
    let mut closed = false;
    'pieces: for piece in pieces {
        let mut rest = *piece;
        while !rest.is_empty() {
            let wrote = poll_fn(|cx| {
                closed |= drain(&mut client, cx, &mut out);
                Pin::new(&mut client).poll_write(cx, rest)
            })
            .await;
            match wrote {
                Ok(n) => rest = &rest[n..],
                // The server closed its reading side (after an error response): stop sending
                // and read what it said.
                Err(_) => break 'pieces,
            }
        }
        spindle::task::yield_now().await;
    }
    match ending {
        Ending::HalfClose => {
            // A pipe's shutdown never fails or waits.
            let _ = poll_fn(|cx| Pin::new(&mut client).poll_shutdown(cx)).await;
            poll_fn(|cx| {
                if closed || drain(&mut client, cx, &mut out) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
        Ending::Vanish(yields) => {
            for _ in 0..yields {
                spindle::task::yield_now().await;
                poll_fn(|cx| {
                    drain(&mut client, cx, &mut out);
                    Poll::Ready(())
                })
                .await;
            }
            drop(client);
        }
    }
    out
}

/// Checks the server's output against the model (see the module docs).
/// `complete`: the client half-closed and read until the server closed, so the output is all
/// the server had to say (a pipe loses nothing); otherwise it may stop anywhere.
fn check(out: &[u8], complete: bool, m: &Model) -> Result<(), String> {
    let mut at = 0;
    let mut answered = 0;
    let mut closed_by_response = false;
    while at < out.len() {
        let answering = m
            .answering
            .get(answered)
            .copied()
            .unwrap_or(Answering::Unknown);
        let (resp, used) = match read_response(&out[at..], answering, true)? {
            Read::Complete(resp, used) => (resp, used),
            Read::Partial if complete => return Err(format!("truncated response at {at}")),
            Read::Partial => return Ok(()), // the client vanished mid-response
        };
        at += used;
        if (100..200).contains(&resp.status) {
            if resp.status != 100 {
                return Err(format!("interim {}", resp.status));
            }
            continue;
        }
        if m.closes_at == Some(answered) && !resp.close {
            return Err(format!(
                "response {answered} to a closing request lacks connection: close"
            ));
        }
        answered += 1;
        closed_by_response = resp.close;
        if resp.close && at != out.len() {
            return Err(format!(
                "{} bytes after a connection: close response",
                out.len() - at
            ));
        }
    }
    // The server may end the exchange early, but only by saying so (`connection: close`, as
    // after a body too long to drain); going silent with complete requests unanswered loses them.
    if complete && answered < m.owed && !closed_by_response {
        return Err(format!(
            "{} complete requests, {answered} responses",
            m.owed
        ));
    }
    Ok(())
}

/// After an input, the runtime must hold nothing for it: every task it spawned (the
/// connection, a streamed response's producer) has ended and every timer it set is gone.
/// Tasks woken by the connection's last steps (a producer whose receiver was dropped) may
/// still be queued when the connection ends, so the runtime first runs for up to
/// [`SETTLE_YIELDS`] turns. A task or timer left behind after that is kept forever by the
/// process-long runtime: a leak that grows with every input (which LeakSanitizer cannot see,
/// as the runtime still reaches it).
fn settle(rt: &spindle::Runtime) -> Result<(), String> {
    rt.block_on(async {
        for _ in 0..SETTLE_YIELDS {
            let m = spindle::Handle::current().metrics();
            if m.alive_tasks == 0 && m.pending_timers == 0 {
                return Ok(());
            }
            spindle::task::yield_now().await;
        }
        let m = spindle::Handle::current().metrics();
        Err(format!(
            "left behind after the connection ended: {} tasks, {} timers",
            m.alive_tasks, m.pending_timers
        ))
    })
}

/// How many turns [`settle`] gives the runtime to finish the tasks an input woke last.
const SETTLE_YIELDS: usize = 64;

fuzz_target!(|data: &[u8]| {
    let Some(input) = SplitInput::decode(data) else {
        return;
    };
    let selector = input.selector;
    let which = usize::from(selector & 1);
    let limits = limits(selector);
    let ending = if selector & 2 == 0 {
        Ending::HalfClose
    } else {
        Ending::Vanish((selector >> 2) & 7)
    };
    let pipe = PIPE_BYTES[usize::from((selector >> 5) & 1)];
    let m = model(input.payload, &limits);
    let pieces = input.pieces();
    let out = RT.with(|rt| {
        rt.get().block_on(async {
            let (client, server_end) = spindle::io::duplex(pipe);
            let conn = spindle::spawn(server(which).serve(server_end));
            // The timer is made inside the runtime: `timeout` needs one to exist.
            spindle::time::timeout(PER_INPUT, async {
                let out = exchange(client, &pieces, ending).await;
                conn.await.expect("the connection task ended normally");
                out
            })
            .await
        })
        .unwrap_or_else(|_| {
            panic!(
                "hang: the connection did not end within {PER_INPUT:?}\nsent {:?} (in pieces at {:?}), {ending:?}",
                String::from_utf8_lossy(input.payload),
                input.cuts
            )
        })
    });
    if let Err(why) = RT.with(|rt| settle(rt.get())) {
        panic!(
            "{why}\nsent {:?} (in pieces at {:?}), {ending:?}, pipe {pipe}",
            String::from_utf8_lossy(input.payload),
            input.cuts
        );
    }
    let complete = ending == Ending::HalfClose;
    if let Err(why) = check(&out, complete, &m) {
        panic!(
            "{why}\nsent {:?} (in pieces at {:?}), {ending:?}, pipe {pipe}\ngot {:?}\nmodel {m:?}",
            String::from_utf8_lossy(input.payload),
            input.cuts,
            String::from_utf8_lossy(&out)
        );
    }
});

//! Fuzz target: the whole connection state machine, driven over loopback TCP.
//!
//! Why a real socket and not an in-memory duplex: `conn.rs` is written against
//! `spindle::net::TcpStream` (shared through an `Arc` between the connection loop, the request
//! body that borrows it, and the readiness waits), so making it generic over a stream type
//! would reach into `conn.rs`, `io.rs` and `incoming.rs`, which are being changed by others at
//! the same time. Instead, two servers run for the whole fuzzing process on one persistent
//! current-thread spindle runtime, and each input is one client connection to one of them,
//! made on the same runtime (see [`Fixture`]).
//!
//! Input: the `SplitInput` layout (`spindle_fuzz`): the payload is sent as one `write` per
//! piece, then the client half-closes (so the server sees the end of the stream) and reads
//! everything until the server closes. Byte 0 selects the limits.
//!
//! Checked: the output is a sequence of strictly well-formed HTTP/1.1 responses
//! (`spindle_fuzz::response`), interim `100 Continue` only; a `HEAD` request's response has
//! no body; nothing follows a response that says `connection: close`; a request the model
//! says must close the connection (HTTP/1.0 without keep-alive, `Connection: close`) gets
//! `connection: close`; every request that arrived complete before the end of the stream is
//! answered (up to the first one that closes the connection). The model is the crate's own
//! head parser and body decoders run over the payload at once. The server must close within
//! [`PER_INPUT`] of the client's half-close (a hang is a crash), and nothing may panic (a
//! panic inside the server aborts the process, as libFuzzer's panic hook turns every panic,
//! caught or not, into a crash).
#![no_main]

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use spindle_fuzz::response::{read_response, Answering, Read};
use spindle_fuzz::SplitInput;
use spindle_http::body::BodyDecoder;
use spindle_http::{App, HttpError, Limits, Method, Request, RequestParser, Response};
use spindle_http::{RunningServer, Server, ServerConfig};

use spindle::net::TcpStream;

/// How long one input may take before it counts as a hang. The server's own timeouts are
/// far shorter (see [`config`]), and the client has half-closed: a correct server is done in
/// milliseconds.
const PER_INPUT: Duration = Duration::from_secs(10);

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

/// The server's settings: short timeouts, so that no wait inside the server outlasts an input.
fn config(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        write_timeout: Duration::from_secs(2),
        max_drain_bytes: 1024,
        body_deadline: Some(Duration::from_secs(2)),
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

/// The runtime everything runs on, and the two servers (default and small limits) on it.
struct Fixture {
    /// A current-thread runtime: the fuzzing thread itself runs the servers' tasks while it
    /// drives the client's exchange, so both sides of an input run on one thread and the
    /// interleaving depends less on the OS scheduler. (A first version with the server on a
    /// multi-thread runtime ran at the same 60-80 inputs/s on the loaded test machine, so
    /// this is for determinism, not speed; blocking handlers still use the blocking pool.)
    rt: spindle::Runtime,
    /// Where the servers listen: `[default limits, small limits]`.
    addrs: [SocketAddr; 2],
    /// The servers, kept (not leaked) so the leak checker stays quiet; never shut down.
    _servers: Vec<RunningServer>,
}

thread_local! {
    /// Started at the first input and kept for the whole process (libFuzzer calls the target
    /// from one thread).
    static FIXTURE: Fixture = {
        let rt = spindle::Builder::new_current_thread().build().expect("runtime");
        let servers: Vec<RunningServer> = [limits(0), limits(1)]
            .into_iter()
            .map(|l| {
                rt.block_on(Server::bind("127.0.0.1:0").config(config(l)).start(app()))
                    .expect("bind")
            })
            .collect();
        let addrs = [servers[0].local_addr(), servers[1].local_addr()];
        Fixture {
            rt,
            addrs,
            _servers: servers,
        }
    };
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
        loop {
            match decoder.decode(rest) {
                Ok(p) => {
                    rest = &rest[p.consumed..];
                    if p.done || p.needs_more() {
                        break;
                    }
                }
                Err(_) => break,
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

/// Sends the pieces, half-closes, and reads until the server closes. Returns the output and
/// whether it ended cleanly (`false`: the connection was reset, so the tail may be missing).
async fn exchange(addr: SocketAddr, pieces: &[&[u8]]) -> (Vec<u8>, bool) {
    let s = TcpStream::connect(addr)
        .await
        .expect("connect to the fuzzed server");
    s.set_nodelay(true).expect("nodelay");
    for piece in pieces {
        if s.write_all(piece).await.is_err() {
            break; // the server closed early (after an error response): read what it sent
        }
    }
    let _ = s.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return (out, false), // reset
        }
    }
}

/// Checks the server's output against the model (see the module docs).
fn check(out: &[u8], clean: bool, m: &Model) -> Result<(), String> {
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
            Read::Partial if clean => return Err(format!("truncated response at {at}")),
            Read::Partial => return Ok(()), // reset: the tail was lost in the kernel
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
    if clean && answered < m.owed && !closed_by_response {
        return Err(format!(
            "{} complete requests, {answered} responses",
            m.owed
        ));
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = SplitInput::decode(data) else {
        return;
    };
    let which = usize::from(input.selector % 2);
    let limits = limits(input.selector);
    let m = model(input.payload, &limits);
    let pieces = input.pieces();
    let (out, clean) = FIXTURE.with(|f| {
        // The timer is made inside the runtime: `timeout` needs one to exist.
        f.rt.block_on(async {
            spindle::time::timeout(PER_INPUT, exchange(f.addrs[which], &pieces)).await
        })
        .unwrap_or_else(|_| panic!("hang: the server did not close within {PER_INPUT:?}"))
    });
    if let Err(why) = check(&out, clean, &m) {
        panic!(
            "{why}\nsent {:?} (in pieces at {:?})\ngot {:?}\nmodel {m:?}",
            String::from_utf8_lossy(input.payload),
            input.cuts,
            String::from_utf8_lossy(&out)
        );
    }
});

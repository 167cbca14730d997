//! HTTP/1.1 pipelining for the client (`ClientBuilder::pipeline_depth`): requests to one host
//! share a few connections, each driven by its own task that writes up to `depth` requests
//! before reading their responses, and hands each response back, in order, to the request
//! that is waiting for it.
//!
//! Talks to: `client::mod` (which routes idempotent requests here when the depth is above 1,
//! and turns a [`Delivered`] into a `Response`), `client::conn` (the socket and the head
//! reader), `client::parse` (body framing), `client::url` (the `Key`), `spindle::sync::{mpsc,
//! oneshot}`.
//!
//! Rules:
//! * Only idempotent methods are pipelined (RFC 9110 §9.2.2): a request that was written and
//!   not answered may have been processed, and only an idempotent one may be sent again.
//! * Responses come back in request order (RFC 9112 §9.3.2); the driver reads each body whole
//!   before the next head, so a pipelined `Response` holds its body already read.
//! * When the connection fails (reset, close, timeout, malformed answer), the request whose
//!   answer was being read gets the error the unpipelined path would give it (and a retry only
//!   if that path would retry); every request behind it was never answered and is sent again,
//!   once, on a new connection; requests not yet written are sent again as never sent.
//! * INVARIANT: `Pipe::closed` is set before the driver answers the failure that ends it, so a
//!   waiter that retries never picks the same dead connection again.
//! * INVARIANT: `Pipe::load` counts requests handed to the pipe and not yet answered or failed;
//!   the driver decrements it exactly once per request it received.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use spindle::net::TcpStream;
use spindle::sync::{mpsc, oneshot};
use spindle::time::timeout;

use super::conn::{Conn, Failure};
use super::error::{Error, Phase};
use super::parse::{framing, keep_alive, BodyDecoder, Decoded, HeadLimits, ResponseHead};
use super::url::Key;

/// A response read whole by a pipeline driver.
#[derive(Debug)]
pub(crate) struct Delivered {
    /// Status line and fields.
    pub(crate) head: ResponseHead,
    /// The whole body.
    pub(crate) body: Vec<u8>,
    /// The finished decoder (it holds a chunked body's trailers).
    pub(crate) decoder: BodyDecoder,
}

/// What a request gets back from the driver.
pub(crate) type Reply = Result<Delivered, Failure>;

/// One request handed to a pipelined connection.
#[derive(Debug)]
struct Job {
    /// The request's bytes.
    bytes: Arc<Vec<u8>>,
    /// Whether the method was HEAD (no body in the response).
    is_head: bool,
    /// Where the response goes.
    reply: oneshot::Sender<Reply>,
}

/// A pipelined connection as the pool sees it: a queue into its driver task.
#[derive(Debug, Clone)]
pub(crate) struct Pipe {
    /// Requests for the driver.
    jobs: mpsc::UnboundedSender<Job>,
    /// Requests handed over and not yet answered or failed (see the module's invariant).
    pub(crate) load: Arc<AtomicUsize>,
    /// Set by the driver when it stops taking requests.
    pub(crate) closed: Arc<AtomicBool>,
}

/// What the driver needs to know.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// Requests written ahead of their responses.
    pub(crate) depth: usize,
    /// Deadline for the TCP connect.
    pub(crate) connect_timeout: Duration,
    /// Deadline for each response (head and body), counted from the moment it is the oldest.
    pub(crate) timeout: Duration,
    /// A connection with nothing to do for this long is closed.
    pub(crate) idle_timeout: Duration,
    /// Limits on a response head.
    pub(crate) head_limits: HeadLimits,
}

impl Pipe {
    /// Starts a driver for a new connection to `key`; it connects in the background, and
    /// requests queue meanwhile.
    pub(crate) fn start(key: Key, settings: Settings) -> Pipe {
        let (jobs, rx) = mpsc::unbounded_channel();
        let pipe = Pipe {
            jobs,
            load: Arc::new(AtomicUsize::new(0)),
            closed: Arc::new(AtomicBool::new(false)),
        };
        let (load, closed) = (pipe.load.clone(), pipe.closed.clone());
        spindle::spawn(async move {
            let mut rx = rx;
            drive(key, settings, &mut rx, &load, &closed).await;
            // Refuse new requests, then let go of the ones queued but never taken: their
            // waiters see that nothing was sent.
            closed.store(true, Ordering::SeqCst);
            rx.close();
        });
        pipe
    }

    /// Whether it still takes requests.
    pub(crate) fn is_open(&self) -> bool {
        !self.closed.load(Ordering::SeqCst) && !self.jobs.is_closed()
    }

    /// Hands a request to the driver and waits for its response. `Err(())`: the driver ended
    /// before it took the request, so nothing of it was sent.
    pub(crate) async fn send(&self, bytes: Arc<Vec<u8>>, is_head: bool) -> Result<Reply, ()> {
        let (reply, answer) = oneshot::channel();
        self.load.fetch_add(1, Ordering::SeqCst);
        if self
            .jobs
            .send(Job {
                bytes,
                is_head,
                reply,
            })
            .is_err()
        {
            self.load.fetch_sub(1, Ordering::SeqCst);
            return Err(());
        }
        // A dropped sender means the driver ended before it took the request (it answers every
        // request it takes), so this side does the count.
        answer.await.map_err(|_| {
            self.load.fetch_sub(1, Ordering::SeqCst);
        })
    }
}

/// The driver: connect, then until the connection ends, 1. take requests into the free
/// slots and write them, 2. read the oldest one's response whole and hand it back.
async fn drive(
    key: Key,
    s: Settings,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    load: &AtomicUsize,
    closed: &AtomicBool,
) {
    let connected = timeout(
        s.connect_timeout,
        TcpStream::connect((key.0.as_str(), key.1)),
    )
    .await;
    let mut conn = match connected {
        Ok(Ok(stream)) => Conn::new(stream, None),
        failed => {
            // Every request waiting now gets the connect error; later ones find us closed.
            closed.store(true, Ordering::SeqCst);
            rx.close();
            while let Ok(job) = rx.try_recv() {
                let error = match &failed {
                    Ok(Err(e)) => Error::Connect(std::io::Error::new(e.kind(), e.to_string())),
                    _ => Error::Timeout(Phase::Connect),
                };
                answer(load, job, Err(never_sent(error)));
            }
            return;
        }
    };
    let mut waiting: VecDeque<Job> = VecDeque::with_capacity(s.depth);
    loop {
        // 1. Fill the free slots: wait for a request only when none is outstanding.
        while waiting.len() < s.depth {
            let job = if waiting.is_empty() {
                match timeout(s.idle_timeout, rx.recv()).await {
                    Ok(Some(job)) => job,
                    Ok(None) => return, // no client left
                    Err(_) => {
                        // Idle too long: refuse new requests first, then take what raced in.
                        closed.store(true, Ordering::SeqCst);
                        match rx.try_recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        }
                    }
                }
            } else {
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            if let Err(f) = conn.send(&job.bytes).await {
                closed.store(true, Ordering::SeqCst);
                answer(load, job, Err(f));
                fail_all(load, &mut waiting);
                return;
            }
            waiting.push_back(job);
        }
        // 2. The oldest request's response, whole.
        let Some(job) = waiting.pop_front() else {
            continue;
        };
        match timeout(s.timeout, read_whole(&mut conn, s.head_limits, job.is_head)).await {
            Ok(Ok((delivered, reusable))) => {
                if !reusable {
                    closed.store(true, Ordering::SeqCst);
                }
                answer(load, job, Ok(delivered));
                if !reusable {
                    fail_all(load, &mut waiting);
                    return;
                }
            }
            Ok(Err(f)) => {
                closed.store(true, Ordering::SeqCst);
                answer(load, job, Err(f));
                fail_all(load, &mut waiting);
                return;
            }
            Err(_) => {
                closed.store(true, Ordering::SeqCst);
                let f = Failure {
                    error: Error::Timeout(Phase::Request),
                    nothing_sent: false,
                    closed_unanswered: false,
                };
                answer(load, job, Err(f));
                fail_all(load, &mut waiting);
                return;
            }
        }
    }
}

/// Reads one response (head, then the whole body); also says whether the connection may
/// carry the next one.
async fn read_whole(
    conn: &mut Conn,
    limits: HeadLimits,
    is_head: bool,
) -> Result<(Delivered, bool), Failure> {
    let head = conn.read_head(limits).await?;
    let fr = framing(&head, is_head).map_err(parse_failure)?;
    let mut reusable = keep_alive(&head, fr);
    let mut decoder = BodyDecoder::new(fr);
    let mut body = Vec::new();
    while !decoder.is_done() {
        if conn.start < conn.end {
            match decoder
                .decode(&conn.buf[conn.start..conn.end])
                .map_err(parse_failure)?
            {
                Decoded::Data { consumed, data } => {
                    let run = conn.start + data.start..conn.start + data.end;
                    body.extend_from_slice(&conn.buf[run]);
                    conn.start += consumed;
                }
                Decoded::Done { consumed } | Decoded::NeedMore { consumed } => {
                    conn.start += consumed;
                }
            }
            if decoder.is_done() || conn.start < conn.end {
                continue;
            }
        }
        match conn.read_more().await {
            Ok(0) => {
                // End of stream: completes a close-delimited body, truncates any other.
                decoder.finish_at_eof().map_err(parse_failure)?;
                reusable = false;
            }
            Ok(_) => {}
            Err(e) => {
                return Err(Failure {
                    error: Error::Io(e),
                    nothing_sent: false,
                    closed_unanswered: false,
                })
            }
        }
    }
    let delivered = Delivered {
        head,
        body,
        decoder,
    };
    Ok((delivered, reusable))
}

/// Hands `reply` to `job`'s waiter and counts the request as done.
fn answer(load: &AtomicUsize, job: Job, reply: Reply) {
    load.fetch_sub(1, Ordering::SeqCst);
    // The waiter may have given up (its future was dropped); nothing to do then.
    let _ = job.reply.send(reply);
}

/// The connection ended: every request written behind the one that failed was never answered.
fn fail_all(load: &AtomicUsize, waiting: &mut VecDeque<Job>) {
    for job in waiting.drain(..) {
        let f = Failure {
            error: Error::Closed,
            nothing_sent: false,
            closed_unanswered: true,
        };
        answer(load, job, Err(f));
    }
}

/// A failure before any byte of the request was written.
fn never_sent(error: Error) -> Failure {
    Failure {
        error,
        nothing_sent: true,
        closed_unanswered: false,
    }
}

/// A malformed response: framing in doubt, no retry.
fn parse_failure(e: super::error::ParseError) -> Failure {
    Failure {
        error: Error::Parse(e),
        nothing_sent: false,
        closed_unanswered: false,
    }
}

//! The load itself: one task per connection, each writing pre-serialized requests (up to
//! `--pipeline` outstanding, several in one write) on a raw `spindle::net::TcpStream` and
//! reading the answers with the client's parser pieces: `parse_head_summary` (the
//! allocation-free fast path) for the usual heads, the strict `parse_head` + `framing` for
//! whatever it declines, and `BodyDecoder` for bodies.
//!
//! Closed loop: a free slot sends at once. Open loop: request `i` is due at `start + i/rate`;
//! a connection with a free slot claims the next ticket and waits for its time, and a ticket
//! claimed late (every slot was busy) goes out at once with its latency still counted from
//! the due time, so a stalled server shows as latency instead of as fewer samples.
//!
//! A request lost to a reset, timeout or unparsable answer counts as one error of that kind
//! and is not sent again; requests left unanswered after a `Connection: close` answer are
//! sent again on a new connection, since the server said it would not read them.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use spindle::net::TcpStream;
use spindle::time::Sleep;
use spindle_http::client::{
    framing, keep_alive, parse_head, parse_head_summary, BodyDecoder, Decoded, HeadLimits,
};

use crate::stats::{ErrorKind, Local, Shared};

/// One server address and the requests (one per URL naming it) sent to it in turn.
#[derive(Debug)]
pub struct Target {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Complete requests, head and body, ready to write.
    pub requests: Vec<Vec<u8>>,
}

/// What one run (the measured one, or the warm-up) does.
#[derive(Debug)]
pub struct Plan {
    /// Servers; connection `k` goes to `targets[k % len]`.
    pub targets: Arc<Vec<Target>>,
    /// Connections.
    pub connections: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// Open loop: requests per second.
    pub rate: Option<f64>,
    /// Most requests to send (closed loop `-n`; open loop: the schedule's length).
    pub limit: Option<u64>,
    /// When to stop sending.
    pub duration: Option<Duration>,
    /// No byte for this long with requests in flight: a timeout.
    pub timeout: Duration,
    /// The method is HEAD (its answers have no body).
    pub head: bool,
}

/// How often a connection adds its counts to the shared totals.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// A send this far behind its due time counts as late.
const LATE: Duration = Duration::from_millis(1);
/// A connection gives up after this many failed connects in a row.
const MAX_CONNECT_FAILURES: u32 = 50;
/// Pause after a failed connect.
const CONNECT_BACKOFF: Duration = Duration::from_millis(20);

/// The tickets shared by all connections, and when the run started.
#[derive(Debug)]
struct Schedule {
    /// Tickets claimed so far.
    next: AtomicU64,
    /// Start of the run.
    start: Instant,
    /// No sends from this instant on.
    deadline: Option<Instant>,
}

/// Runs `plan` to its end and returns the time from its start to its last answer.
pub async fn run(plan: Plan, shared: Arc<Shared>) -> Duration {
    let start = Instant::now();
    let plan = Arc::new(plan);
    let schedule = Arc::new(Schedule {
        next: AtomicU64::new(0),
        start,
        deadline: plan.duration.map(|d| start + d),
    });
    let mut tasks = Vec::with_capacity(plan.connections);
    for k in 0..plan.connections {
        let (plan, schedule, shared) = (plan.clone(), schedule.clone(), shared.clone());
        tasks.push(spindle::spawn(async move {
            connection(&plan, &schedule, &shared, k).await
        }));
    }
    let mut last = start;
    for t in tasks {
        if let Ok(end) = t.await {
            last = last.max(end);
        }
    }
    last - start
}

impl Schedule {
    /// The next ticket's due time (`now` in closed loop), or `None` when no ticket is left.
    fn claim(&self, plan: &Plan, now: Instant) -> Option<Instant> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        if plan.limit.is_some_and(|l| i >= l) {
            return None;
        }
        Some(match plan.rate {
            Some(r) => self.start + Duration::from_secs_f64(i as f64 / r),
            None => now,
        })
    }
}

/// Where the reader is in the current answer.
enum State {
    /// Waiting for a head.
    Head,
    /// Reading a body; whether the connection stays open after it.
    Body(BodyDecoder, u16, bool),
}

/// Why a connection's session ended.
enum End {
    /// Nothing more to send or read.
    Done,
    /// The server closed cleanly after an answer (`Connection: close`): reconnect.
    Reconnect,
    /// The connection broke; its in-flight requests are lost as this kind of error.
    Failed(ErrorKind),
}

/// One connection's life: connect, send and read until the plan is done, reconnecting when
/// the server closes. Returns when its last answer arrived.
async fn connection(plan: &Plan, sched: &Schedule, shared: &Shared, k: usize) -> Instant {
    let target = &plan.targets[k % plan.targets.len()];
    let mut local = Local::new();
    let mut c = Conn {
        rr: (k / plan.targets.len()) % target.requests.len(),
        inflight: VecDeque::with_capacity(plan.pipeline),
        pending: None,
        claiming: true,
        last_answer: sched.start,
        next_flush: Instant::now() + FLUSH_EVERY,
    };
    let mut failures = 0;
    loop {
        if !c.claiming && c.inflight.is_empty() {
            break;
        }
        let stream =
            match spindle::time::timeout(plan.timeout, TcpStream::connect(target.addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(_)) | Err(_) => {
                    local.errors[ErrorKind::Connect as usize] += 1;
                    failures += 1;
                    if failures >= MAX_CONNECT_FAILURES {
                        // This connection gives up; what it holds is lost.
                        local.errors[ErrorKind::Connect as usize] += c.inflight.len() as u64;
                        c.inflight.clear();
                        break;
                    }
                    spindle::time::sleep(CONNECT_BACKOFF).await;
                    continue;
                }
            };
        failures = 0;
        let _ = stream.set_nodelay(true);
        match c
            .session(plan, sched, &mut local, shared, target, &stream)
            .await
        {
            End::Done => break,
            End::Reconnect => {}
            End::Failed(kind) => {
                local.errors[kind as usize] += c.inflight.len() as u64;
                c.inflight.clear();
            }
        }
    }
    // A ticket claimed but never sent is dropped (open loop) or simply not used.
    local.flush(shared);
    c.last_answer
}

/// One connection's state that outlives a TCP connection.
struct Conn {
    /// Index of the next request among the target's requests.
    rr: usize,
    /// Requests sent and not answered: the instant their latency counts from, and which
    /// request it was.
    inflight: VecDeque<(Instant, usize)>,
    /// A claimed ticket not yet sent, and its due time.
    pending: Option<Instant>,
    /// Still claiming tickets.
    claiming: bool,
    /// When the last answer arrived.
    last_answer: Instant,
    /// When counts are next added to the shared totals.
    next_flush: Instant,
}

impl Conn {
    /// Sends and reads on one TCP connection until the plan is done or the connection ends.
    async fn session(
        &mut self,
        plan: &Plan,
        sched: &Schedule,
        local: &mut Local,
        shared: &Shared,
        target: &Target,
        stream: &TcpStream,
    ) -> End {
        let n_req = target.requests.len();
        let mut wbuf: Vec<u8> = Vec::with_capacity(4096);
        let mut rbuf = vec![0u8; 64 * 1024];
        let (mut pos, mut len) = (0usize, 0usize);
        let mut state = State::Head;
        let mut last_io = Instant::now();
        let mut timer: Sleep = spindle::time::sleep_until(last_io + plan.timeout);
        // Requests carried over from a connection the server closed are sent again first.
        for &(_, r) in &self.inflight {
            wbuf.extend_from_slice(&target.requests[r]);
        }
        loop {
            // 1. Fill the free slots with due requests, all in one write.
            let mut wake: Option<Instant> = None;
            // One clock read per batch: the requests of one write share their send time.
            let now = Instant::now();
            let (first, mut batch) = (self.rr, 0);
            while self.claiming && self.inflight.len() < plan.pipeline {
                let due = match self.pending {
                    Some(d) => d,
                    None => match sched.claim(plan, now) {
                        Some(d) => d,
                        None => {
                            self.claiming = false;
                            break;
                        }
                    },
                };
                self.pending = Some(due);
                if sched.deadline.is_some_and(|dl| now >= dl) {
                    self.claiming = false;
                    self.pending = None;
                    break;
                }
                if due > now {
                    wake = Some(due);
                    break;
                }
                if plan.rate.is_some() {
                    let behind = now - due;
                    if behind > LATE {
                        local.late += 1;
                        local.max_late = local.max_late.max(behind);
                    }
                }
                local.sent += 1;
                self.pending = None;
                if self.inflight.is_empty() {
                    last_io = now;
                }
                self.inflight.push_back((due, self.rr));
                batch += 1;
                self.rr += 1;
                if self.rr == n_req {
                    self.rr = 0;
                }
            }
            // A lone request is written from where it lies; several (or any carried over from
            // a closed connection) are gathered in `wbuf` first, so that a batch is one write.
            let lone = batch == 1 && wbuf.is_empty();
            if !lone {
                for k in 0..batch {
                    wbuf.extend_from_slice(&target.requests[(first + k) % n_req]);
                }
            }
            let out: &[u8] = if lone { &target.requests[first] } else { &wbuf };
            if !out.is_empty() {
                if stream.write_all(out).await.is_err() {
                    return End::Failed(ErrorKind::Reset);
                }
                wbuf.clear();
            }
            if self.inflight.is_empty() {
                match wake {
                    Some(at) => {
                        spindle::time::sleep_until(at).await;
                        continue;
                    }
                    None if !self.claiming => return End::Done,
                    None => continue,
                }
            }
            // 2. Read, until bytes arrive, a send falls due, or the timeout passes.
            if len == rbuf.len() {
                if pos > 0 {
                    rbuf.copy_within(pos..len, 0);
                    len -= pos;
                    pos = 0;
                } else {
                    rbuf.resize(rbuf.len() * 2, 0);
                }
            }
            // INVARIANT: the timer is never later than the read deadline `last_io + timeout`
            // (that deadline only moves later, and the timer is reset to it when it fires
            // early), so only a send falling due sooner can need an earlier timer.
            if let Some(at) = wake {
                if at < timer.deadline() {
                    timer.reset(at);
                }
            }
            let read = poll_fn(|cx| {
                if let Poll::Ready(r) = stream.poll_read(cx, &mut rbuf[len..]) {
                    return Poll::Ready(Some(r));
                }
                if Pin::new(&mut timer).poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await;
            let now = Instant::now();
            let n = match read {
                None => {
                    if now >= last_io + plan.timeout {
                        return End::Failed(ErrorKind::Timeout);
                    }
                    timer.reset(last_io + plan.timeout);
                    continue;
                }
                Some(Err(_)) => return End::Failed(ErrorKind::Reset),
                Some(Ok(0)) => {
                    // End of stream: completes a close-delimited body, loses anything else.
                    if let State::Body(mut dec, status, _) = state {
                        if dec.finish_at_eof().is_ok() {
                            self.answered(local, status, now);
                            return if self.inflight.is_empty() && !self.claiming {
                                End::Done
                            } else {
                                End::Reconnect
                            };
                        }
                    }
                    return End::Failed(ErrorKind::Reset);
                }
                Some(Ok(n)) => n,
            };
            last_io = now;
            local.bytes += n as u64;
            len += n;
            // 3. Parse every complete answer in the buffer.
            loop {
                match &mut state {
                    // The allocation-free fast path answers the usual heads; anything it
                    // declines goes to the strict parser, which says "more" or what broke.
                    State::Head => {
                        let fast =
                            parse_head_summary(&rbuf[pos..len], HeadLimits::default(), plan.head);
                        if let Some((s, hl)) = fast {
                            pos += hl;
                            let dec = BodyDecoder::new(s.framing);
                            state = State::Body(dec, s.status, s.keep_alive);
                            continue;
                        }
                        match parse_head(&rbuf[pos..len], HeadLimits::default()) {
                            Ok(None) => break,
                            Err(_) => return End::Failed(ErrorKind::Parse),
                            Ok(Some((head, hl))) => {
                                pos += hl;
                                if head.status < 200 {
                                    if head.status == 101 {
                                        return End::Failed(ErrorKind::Parse);
                                    }
                                    continue; // an interim answer: the final one follows
                                }
                                let Ok(fr) = framing(&head, plan.head) else {
                                    return End::Failed(ErrorKind::Parse);
                                };
                                let ka = keep_alive(&head, fr);
                                state = State::Body(BodyDecoder::new(fr), head.status, ka);
                            }
                        }
                    }
                    State::Body(dec, status, ka) => {
                        let consumed = match dec.decode(&rbuf[pos..len]) {
                            Err(_) => return End::Failed(ErrorKind::Parse),
                            Ok(Decoded::NeedMore { consumed }) => {
                                pos += consumed;
                                break;
                            }
                            Ok(Decoded::Data { consumed, .. }) => consumed,
                            Ok(Decoded::Done { consumed }) => consumed,
                        };
                        pos += consumed;
                        if !dec.is_done() {
                            if pos == len {
                                break;
                            }
                            continue;
                        }
                        let (status, ka) = (*status, *ka);
                        if self.inflight.is_empty() {
                            // An answer nobody asked for.
                            return End::Failed(ErrorKind::Parse);
                        }
                        self.answered(local, status, now);
                        state = State::Head;
                        if !ka {
                            return if self.inflight.is_empty() && !self.claiming {
                                End::Done
                            } else {
                                End::Reconnect
                            };
                        }
                    }
                }
            }
            if pos == len {
                pos = 0;
                len = 0;
            }
            if now >= self.next_flush {
                local.flush(shared);
                self.next_flush = now + FLUSH_EVERY;
            }
        }
    }

    /// Records the answer to the oldest request in flight.
    fn answered(&mut self, local: &mut Local, status: u16, now: Instant) {
        if let Some((from, _)) = self.inflight.pop_front() {
            local.record(status, now.saturating_duration_since(from));
            self.last_answer = now;
        }
    }
}

//! The connection task: one per accepted socket, looping over requests until the connection
//! closes. This is where the server's behaviour on the wire is decided.
//!
//! The loop, per request:
//! 1. **Head.** Parse from the buffer; if incomplete, first flush responses already queued
//!    (pipelining), then read more. Between requests the connection is *idle*: it frees its
//!    buffers and waits for readability, the keep-alive timeout, or shutdown. From the first
//!    byte of a head, a fixed deadline runs (not reset by each byte: slowloris gets 408).
//! 2. **Request.** A head error is answered with its precise status and `connection: close`.
//!    Otherwise the socket and buffer are lent to the request [`Body`] if there is a body.
//! 3. **Handler.** The app routes and runs the handler on this task; a panic becomes a 500.
//! 4. **Body leftovers.** The socket comes back from the body. What the handler did not read
//!    is drained (bounded) or the connection is marked to close, so framing is never in doubt.
//! 5. **Response.** Serialized into the write buffer (`writer.rs`). A streamed body is written
//!    chunk by chunk as it is produced.
//! 6. **Batching.** If another request is already buffered, loop to 1 without writing: all
//!    ready responses go out in one write. Otherwise write now; then start the request's
//!    background tasks. Close if the exchange said so.
//!
//! Talks to: `parse` (heads), `incoming` (lent body), `app` (dispatch), `writer` (framing),
//! `shutdown` (graceful stop). Invariant: `io` is `None` only while a `Body` holds it.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use spindle::net::TcpStream;

use crate::app::{App, BoxFuture};
use crate::background::BackgroundTasks;
use crate::body::BodyDecoder;
use crate::incoming::{Body, ReturnSlot};
use crate::io::{ConnIo, ReadBuf};
use crate::parse::{BodyFraming, Method, RequestHead, RequestParser, Version};
use crate::request::Request;
use crate::response::{Response, ResponseBody};
use crate::server::ServerConfig;
use crate::shutdown::Shutdown;
use crate::writer::{self, BodyFrame, BodyKind, Exchange};

/// Stop batching pipelined responses once this much output is queued.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Serves one connection until it closes.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    cfg: Arc<ServerConfig>,
    shutdown: Arc<Shutdown>,
) {
    let _ = stream.set_nodelay(true);
    let stream = Arc::new(stream);
    let mut conn = Conn {
        parser: RequestParser::new(cfg.limits),
        io: Some(ConnIo {
            stream: stream.clone(),
            buf: ReadBuf::default(),
        }),
        stream,
        out: Vec::new(),
        date: [0; crate::date::DATE_LEN],
        request_background: BackgroundTasks::default(),
        background: Vec::new(),
        head_deadline: None,
        peer,
        app,
        cfg,
        shutdown_wait: shutdown.wait(),
        idle_timer: None,
        shutdown,
    };
    conn.run().await;
}

/// Per-connection state.
struct Conn {
    /// The socket, for writing (reading goes through `io`).
    stream: Arc<TcpStream>,
    /// The socket and read buffer. INVARIANT: `None` only while lent to a request body.
    io: Option<ConnIo>,
    /// Incremental head parser (remembers how far it scanned).
    parser: RequestParser,
    /// Responses serialized and not yet written (from the thread's buffer pool; returned when idle).
    out: Vec<u8>,
    /// The `Date` value for the responses in `out`: fetched once per batch, not per response.
    date: [u8; crate::date::DATE_LEN],
    /// Handed to each request (`req.background()`); drained after each response. One list per
    /// connection, so a request costs no allocation for it.
    request_background: BackgroundTasks,
    /// Background jobs of responses in `out`; started once `out` is written.
    background: Vec<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The fixed deadline for the head being received; set at its first byte.
    head_deadline: Option<Instant>,
    /// The client.
    peer: SocketAddr,
    /// Routes and handlers.
    app: Arc<App>,
    /// Limits and timeouts.
    cfg: Arc<ServerConfig>,
    /// Graceful-shutdown signal.
    shutdown: Arc<Shutdown>,
    /// This connection's registration with `shutdown`, kept for its whole life.
    shutdown_wait: crate::shutdown::Wait,
    /// The keep-alive timer, created at the first idle wait and re-armed lazily.
    idle_timer: Option<spindle::time::Sleep>,
}

/// Why the head phase ended without a request.
enum HeadEnd {
    /// Close quietly (peer closed, idle timeout, shutdown, I/O error).
    Close,
    /// Answer with this status and close.
    Reject(u16, &'static str),
}

impl Conn {
    async fn run(&mut self) {
        loop {
            // 1.
            let head = match self.read_head().await {
                Ok(head) => head,
                Err(HeadEnd::Close) => break,
                Err(HeadEnd::Reject(status, reason)) => {
                    self.queue_error(status, reason);
                    break;
                }
            };
            // 2. - 5.
            let keep_alive = self.exchange(head).await;
            // 6.
            let buffered = self.io.as_ref().is_some_and(|io| !io.buf.is_empty());
            if !keep_alive {
                break;
            }
            let batch_more = buffered && self.out.len() < MAX_BATCH_BYTES;
            if !batch_more && !self.flush().await {
                return;
            }
        }
        if self.flush().await {
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    /// Steps 2-5 for one request. Returns whether the connection stays open.
    async fn exchange(&mut self, head: RequestHead) -> bool {
        let version = head.version();
        let is_head = head.method() == Method::Head;
        let mut keep_alive = head.keep_alive();
        let framing = head.body_framing();

        // 2. Lend the socket to the body if there is one.
        let slot: Option<ReturnSlot> = match framing {
            BodyFraming::None | BodyFraming::Length(0) => None,
            _ => Some(Arc::new(Mutex::new(None))),
        };
        let body = match &slot {
            None => Body::empty(),
            Some(slot) => Body::incoming(
                self.io
                    .take()
                    .expect("INVARIANT: io is home between requests"),
                BodyDecoder::new(framing, &self.cfg.limits),
                head.expects_continue() && version == Version::Http11,
                self.cfg.body_timeout,
                self.cfg.limits.max_head_bytes + 8 * 1024,
                slot.clone(),
            ),
        };
        let mut req = Request::with_background(head, body, self.request_background.clone());
        req.set_remote_addr(self.peer);

        // 3. Run the handler on this task; a panic becomes a 500.
        let mut resp = run_handler(&self.app, req).await;

        // 4. Take the socket back; drain or give up on what the handler left unread.
        if let Some(slot) = slot {
            let returned = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            match returned {
                Some(ret) => {
                    self.io = Some(ret.io);
                    if !ret.done
                        && (ret.failed
                            || ret.continue_owed
                            || !Box::pin(self.drain(ret.decoder)).await)
                    {
                        keep_alive = false;
                    }
                }
                None => {
                    // The handler kept the body alive (moved it elsewhere): the read side is
                    // gone with it, so this connection cannot read another request.
                    self.io = Some(ConnIo {
                        stream: self.stream.clone(),
                        buf: ReadBuf::default(),
                    });
                    keep_alive = false;
                }
            }
        }
        if self.shutdown.is_triggered() {
            keep_alive = false;
        }

        // 5. Serialize (and for streams, write as produced).
        self.background.extend(self.request_background.take());
        if self.out.is_empty() {
            // First response of a batch: fetch the date once for the whole batch.
            self.date = crate::date::now();
            if self.out.capacity() == 0 {
                self.out = crate::io::take_write_buf();
            }
        }
        let ex = Exchange {
            version,
            is_head,
            keep_alive,
        };
        match resp.take_body() {
            ResponseBody::Empty => self.queue_full(&resp, &[], ex),
            ResponseBody::Full(bytes) => self.queue_full(&resp, &bytes, ex),
            ResponseBody::Static(bytes) => self.queue_full(&resp, bytes, ex),
            ResponseBody::Stream(rx) => Box::pin(self.write_stream(&resp, rx, ex)).await,
        }
    }

    /// Step 1: the next request head, from the buffer or the socket.
    async fn read_head(&mut self) -> Result<RequestHead, HeadEnd> {
        loop {
            let io = self
                .io
                .as_mut()
                .expect("INVARIANT: io is home between requests");
            if !io.buf.is_empty() {
                match self.parser.parse(io.buf.filled()) {
                    Ok(Some(head)) => {
                        io.buf.consume(head.consumed());
                        self.head_deadline = None;
                        return Ok(head);
                    }
                    Ok(None) => {}
                    Err(e) => return Err(HeadEnd::Reject(e.status(), e.reason())),
                }
            }
            // Before waiting for more input, send what is queued (pipelined responses).
            if !self.flush().await {
                return Err(HeadEnd::Close);
            }
            let io = self
                .io
                .as_mut()
                .expect("INVARIANT: io is home between requests");
            if io.buf.is_empty() {
                // Idle between requests: wait for the first byte of the next head. The head
                // deadline starts only once a byte has arrived; until then the connection is
                // idle, holds no buffers, and closes on the idle timeout or at shutdown.
                let idle_deadline = Instant::now() + self.cfg.idle_timeout;
                loop {
                    let io = self
                        .io
                        .as_mut()
                        .expect("INVARIANT: io is home between requests");
                    match io
                        .buf
                        .try_read_from(&io.stream, self.cfg.limits.max_head_bytes + 1)
                    {
                        Ok(0) => return Err(HeadEnd::Close),
                        Ok(_) => break,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return Err(HeadEnd::Close),
                    }
                    io.buf.release_if_empty();
                    crate::io::give_write_buf(std::mem::take(&mut self.out));
                    self.parser.release_scratch();
                    // Readiness may be stale (then the next try_read says WouldBlock again).
                    if !self.wait_idle(idle_deadline).await {
                        return Err(HeadEnd::Close);
                    }
                }
                // The head deadline is set (from now) only if this head needs another read.
                continue;
            }
            let deadline = self
                .head_deadline
                .get_or_insert_with(|| Instant::now() + self.cfg.header_timeout);
            let deadline = *deadline;
            let io = self
                .io
                .as_mut()
                .expect("INVARIANT: io is home between requests");
            let max = self.cfg.limits.max_head_bytes + 1;
            // Fast path: the bytes are usually already there (we were woken because they
            // arrived), and a read that does not wait needs no deadline timer.
            match io.buf.try_read_from(&io.stream, max) {
                Ok(0) => return Err(HeadEnd::Close),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(HeadEnd::Close),
            }
            match spindle::time::timeout_at(deadline, io.buf.read_from(&io.stream, max)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(HeadEnd::Close),
                Ok(Ok(_)) => {}
                Err(_) => {
                    return Err(HeadEnd::Reject(
                        408,
                        "the request head did not arrive in time",
                    ))
                }
            }
        }
    }

    /// Waits until the socket is readable (true), or `deadline` (the keep-alive timeout)
    /// passes or the server shuts down (false).
    async fn wait_idle(&mut self, deadline: Instant) -> bool {
        let stream = self.stream.clone();
        let mut readable = pin!(stream.readable());
        let timer = self
            .idle_timer
            .get_or_insert_with(|| spindle::time::sleep_until(deadline));
        let shutdown = &mut self.shutdown_wait;
        poll_fn(|cx| {
            if let Poll::Ready(r) = readable.as_mut().poll(cx) {
                return Poll::Ready(r.is_ok());
            }
            // The idle timer is re-armed lazily: it may still carry the (earlier) deadline of
            // a past idle period; when that fires we re-arm it for this one. So a busy
            // keep-alive connection touches the timer wheel about once per idle timeout,
            // instead of registering and removing a timer for every request.
            while Pin::new(&mut *timer).poll(cx).is_ready() {
                if Instant::now() >= deadline {
                    return Poll::Ready(false);
                }
                timer.reset(deadline);
            }
            if Pin::new(&mut *shutdown).poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            Poll::Pending
        })
        .await
    }

    /// Reads and discards the rest of an unread body, up to `max_drain` bytes within the
    /// body timeout. True if the body ended (the connection can be reused).
    async fn drain(&mut self, mut decoder: BodyDecoder) -> bool {
        let io = self.io.as_mut().expect("INVARIANT: io is home");
        let mut drained = 0usize;
        let deadline = Instant::now() + self.cfg.body_timeout;
        loop {
            loop {
                let filled = io.buf.filled();
                let Ok(p) = decoder.decode(filled) else {
                    return false;
                };
                io.buf.consume(p.consumed);
                drained += p.consumed;
                if p.done {
                    return true;
                }
                if p.needs_more() {
                    break;
                }
            }
            if drained > self.cfg.max_drain_bytes {
                return false;
            }
            match spindle::time::timeout_at(deadline, io.buf.read_from(&io.stream, 64 * 1024)).await
            {
                Ok(Ok(n)) if n > 0 => {}
                _ => return false,
            }
        }
    }

    /// Queues a response with a complete body. Returns whether the connection stays open.
    fn queue_full(&mut self, resp: &Response, body: &[u8], ex: Exchange) -> bool {
        let (frame, keep_alive) = writer::write_head(
            &mut self.out,
            resp,
            BodyKind::Full(body.len()),
            ex,
            &self.date,
        );
        if let BodyFrame::Length(_) = frame {
            self.out.extend_from_slice(body);
        }
        keep_alive
    }

    /// Queues an error response for a rejected request (the connection then closes).
    fn queue_error(&mut self, status: u16, reason: &str) {
        if self.out.is_empty() {
            self.date = crate::date::now();
        }
        let resp = Response::text(format!("{reason}\n")).with_status(status);
        let body = resp.body_bytes().unwrap_or_default().to_vec();
        let ex = Exchange {
            version: Version::Http11,
            is_head: false,
            keep_alive: false,
        };
        self.queue_full(&resp, &body, ex);
    }

    /// Writes a streamed response: the head at once, then each chunk as it is produced.
    async fn write_stream(
        &mut self,
        resp: &Response,
        mut rx: spindle::sync::mpsc::Receiver<Vec<u8>>,
        ex: Exchange,
    ) -> bool {
        let (frame, keep_alive) =
            writer::write_head(&mut self.out, resp, BodyKind::Stream, ex, &self.date);
        if !self.flush().await {
            return false;
        }
        if frame == BodyFrame::None {
            return keep_alive; // HEAD: dropping `rx` tells the producer the client is gone
        }
        while let Some(chunk) = rx.recv().await {
            if chunk.is_empty() {
                continue;
            }
            match frame {
                BodyFrame::Chunked => writer::write_chunk(&mut self.out, &chunk),
                _ => self.out.extend_from_slice(&chunk),
            }
            if !self.flush().await {
                return false;
            }
        }
        if frame == BodyFrame::Chunked {
            self.out.extend_from_slice(writer::LAST_CHUNK);
        }
        keep_alive
    }

    /// Writes everything queued, within the write timeout; then starts the background jobs of
    /// the responses just written. False if the write failed (the connection is done).
    async fn flush(&mut self) -> bool {
        if !self.out.is_empty() {
            // Fast path: the kernel usually takes the whole batch at once, and a write that
            // does not wait needs no timer. Only a write that would block is put under the
            // write timeout.
            let mut written = 0;
            while written < self.out.len() {
                match self.stream.try_write(&self.out[written..]) {
                    Ok(0) => break, // let `write_all` below report it
                    Ok(n) => written += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        self.out.clear();
                        self.background.clear();
                        return false;
                    }
                }
            }
            self.out.drain(..written);
        }
        if !self.out.is_empty() {
            let write = self.stream.write_all(&self.out);
            match spindle::time::timeout(self.cfg.write_timeout, write).await {
                Ok(Ok(())) => self.out.clear(),
                _ => {
                    self.out.clear();
                    self.background.clear();
                    return false;
                }
            }
        }
        for job in self.background.drain(..) {
            drop(spindle::spawn(job));
        }
        true
    }
}

/// Runs the app on `req`, turning a panic (while creating or polling the handler's future)
/// into a 500, so one bad handler never takes the connection's worker down.
///
/// A plain function returning a small named future, rather than an `async fn`: the request is
/// moved into the handler's (boxed) future at once instead of being kept in the connection's
/// state machine, which keeps every idle connection's task smaller.
fn run_handler(app: &App, req: Request) -> CatchPanic<'_> {
    CatchPanic(catch_unwind(AssertUnwindSafe(|| app.dispatch(req))).ok())
}

/// The handler's future; `None` if creating it panicked.
struct CatchPanic<'a>(Option<BoxFuture<'a, Response>>);

impl Future for CatchPanic<'_> {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let Some(fut) = self.0.as_mut() else {
            return Poll::Ready(internal_error());
        };
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(_) => Poll::Ready(internal_error()),
        }
    }
}

fn internal_error() -> Response {
    Response::text("Internal Server Error\n").with_status(500)
}

#[cfg(test)]
mod tests {
    /// Every idle keep-alive connection is one task holding this future, so its size is most
    /// of what an idle connection costs (measured: ~1.8 KiB of RSS per idle connection at
    /// 10,000 connections). This guards against a change that quietly makes it balloon.
    #[test]
    fn connection_future_stays_small() {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async {
            let l = spindle::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let s = spindle::net::TcpStream::connect(l.local_addr().unwrap())
                .await
                .unwrap();
            let app = std::sync::Arc::new(crate::app::App::new());
            let peer = "127.0.0.1:1".parse().unwrap();
            let f = super::serve_connection(s, peer, app, Default::default(), Default::default());
            let size = std::mem::size_of_val(&f);
            assert!(size <= 1536, "the connection future grew to {size} bytes");
        });
    }
}

//! Middleware: code that wraps every request of an [`App`](crate::App), before and after the
//! handler (Starlette's `@app.middleware("http")` with its `call_next`).
//!
//! A middleware gets the request and a [`Next`]; it may change the request, answer by itself
//! (an early 401 or 503), or call `next.run(req).await` and then look at or change the
//! response. The chain is a slice of middleware in the app's `Stack` (`stack.rs`, with the
//! [`Middleware`] trait and [`Next`]); a [`Next`] is an index into it, and running the last one calls the router. Built-ins: [`AccessLog`],
//! [`Timing`], [`ConcurrencyLimit`]; [`from_fn`] makes one from an async closure.

use std::fmt::{self, Write as _};
use std::future::{ready, Future};
use std::net::SocketAddr;
use std::time::Instant;

use spindle::sync::Semaphore;

use crate::app::log_batch;
use crate::app::request::Request;
use crate::app::response::{IntoResponse, Response};
use crate::app::stack::{BoxFuture, Middleware, Next};

/// A middleware made from an async closure; see [`from_fn`].
pub struct FromFn<F> {
    /// The closure: `(request, next) -> future of something that is IntoResponse`.
    f: F,
}

/// Makes a middleware from an async closure taking the request and a [`Next`].
///
/// ```
/// use spindle_http::{from_fn, App, Next, Request, Response};
///
/// let app = App::new()
///     .middleware(from_fn(|req: Request, next: Next| async move {
///         if req.path().starts_with("/admin") && req.cookie("session").is_none() {
///             return Response::text("log in first\n").with_status(401); // the handler never runs
///         }
///         next.run(req).await.with_header("x-frame-options", "DENY")
///     }))
///     .get("/", |_req: Request| async { "home" });
/// ```
pub fn from_fn<F, Fut, R>(f: F) -> FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    FromFn { f }
}

impl<F, Fut, R> Middleware for FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
        let fut = (self.f)(req, next);
        Box::pin(async move { fut.await.into_response() })
    }
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFn")
    }
}

/// Where [`AccessLog`] lines go.
enum Sink {
    /// Standard output, in batches: appended to the running thread's buffer, written by the
    /// log's writer thread (`log_batch.rs`).
    Stdout,
    /// A function given each line (without a line end).
    Custom(Box<dyn Fn(&str) + Send + Sync>),
}

/// Logs one line per request, like Uvicorn's access log:
///
/// ```text
/// INFO: 127.0.0.1:50312 - "GET /users/42?x=1 HTTP/1.1" 200 0.31ms
/// ```
///
/// Fields: the client address (`-` when unknown), the request line as received, the status,
/// and the time until the response was produced (for a streamed body: until its head was
/// ready, not until the last chunk). Add it first so that it times everything else.
///
/// [`AccessLog::new`] writes to standard output in batches, not a `write` per request: each
/// worker thread appends its lines to its own buffer, and a writer thread writes a buffer out
/// 50 ms after its first line (or the worker does, once the buffer holds 64 KiB). So a line
/// appears up to 50 ms after its request; lines of one worker keep their order, lines of
/// different workers interleave batch by batch. Dropping the log (the server's end) or
/// [`AccessLog::flush`] writes out the rest; a process that exits without either loses at most
/// the last 50 ms. A stdout that blocks (a full pipe) slows requests once the buffer is full,
/// so redirect it or use a custom sink. [`AccessLog::with_sink`] is called on each line as it
/// is made.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use spindle_http::{AccessLog, App, Request};
///
/// let lines = Arc::new(Mutex::new(Vec::<String>::new()));
/// let seen = lines.clone();
/// let app = App::new()
///     .middleware(AccessLog::with_sink(move |line| seen.lock().unwrap().push(line.to_string())))
///     .get("/", |_req: Request| async { "hi" });
/// ```
pub struct AccessLog {
    /// Where the lines go.
    sink: Sink,
}

impl AccessLog {
    /// Logs to standard output.
    pub fn new() -> AccessLog {
        AccessLog { sink: Sink::Stdout }
    }

    /// Logs by calling `sink` with each line (no trailing newline): for tests, or to send the
    /// lines elsewhere.
    pub fn with_sink(sink: impl Fn(&str) + Send + Sync + 'static) -> AccessLog {
        AccessLog {
            sink: Sink::Custom(Box::new(sink)),
        }
    }

    /// Hands a finished line to the sink.
    fn emit(&self, line: &str) {
        match &self.sink {
            Sink::Custom(f) => f(line),
            Sink::Stdout => log_batch::append(line),
        }
    }

    /// Writes out every line still buffered for standard output. Dropping the log (when the
    /// server that owns the app ends) does this too.
    pub fn flush(&self) {
        if let Sink::Stdout = self.sink {
            log_batch::flush();
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog::new()
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = match self.sink {
            Sink::Stdout => "stdout",
            Sink::Custom(_) => "custom",
        };
        f.debug_struct("AccessLog").field("sink", &sink).finish()
    }
}

impl Middleware for AccessLog {
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
        let start = Instant::now();
        // The request half of the line now: the request moves into the chain. The line is
        // put together from pieces, not with `write!`, because a log that is on by default
        // must cost little per request (docs/benchmarks.md, "The access log").
        let mut line = String::with_capacity(64 + req.target().len());
        line.push_str("INFO: ");
        match req.remote_addr() {
            Some(addr) => push_addr(&mut line, addr),
            None => line.push('-'),
        }
        line.push_str(" - \"");
        line.push_str(req.method_str());
        line.push(' ');
        line.push_str(req.target());
        line.push(' ');
        line.push_str(req.version().as_str());
        line.push_str("\" ");
        Box::pin(async move {
            let resp = next.run(req).await;
            let micros = start.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
            push_decimal(&mut line, u64::from(resp.status()));
            line.push(' ');
            push_millis(&mut line, micros);
            self.emit(&line);
            resp
        })
    }
}

/// Appends `n` in decimal.
fn push_decimal(line: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        line.push(char::from(d));
    }
}

/// Appends `micros` as milliseconds with two decimals, rounded: `1234` gives `1.23ms`.
fn push_millis(line: &mut String, micros: u64) {
    let hundredths = micros.saturating_add(5) / 10;
    push_decimal(line, hundredths / 100);
    line.push('.');
    let frac = hundredths % 100;
    line.push(char::from(b'0' + (frac / 10) as u8));
    line.push(char::from(b'0' + (frac % 10) as u8));
    line.push_str("ms");
}

/// Appends `addr` as `Display` shows it (`127.0.0.1:50312`); IPv4 by hand, IPv6 through `fmt`.
fn push_addr(line: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    line.push('.');
                }
                push_decimal(line, u64::from(octet));
            }
            line.push(':');
            push_decimal(line, u64::from(v4.port()));
        }
        SocketAddr::V6(v6) => {
            let _ = write!(line, "{v6}");
        }
    }
}

/// Adds how long the app took to the response, in milliseconds, in two header fields:
/// `server-timing: app;dur=1.234` (shown by browsers' developer tools) and
/// `x-response-time: 1.234ms`. The time covers the middleware added after this one and the
/// handler, up to the response head (not a streamed body).
///
/// ```
/// use spindle_http::{App, Request, Timing};
/// let app = App::new().middleware(Timing::new()).get("/", |_req: Request| async { "hi" });
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Timing;

impl Timing {
    /// Adds both header fields.
    pub fn new() -> Timing {
        Timing
    }
}

impl Middleware for Timing {
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
        Box::pin(async move {
            let start = Instant::now();
            let resp = next.run(req).await;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            resp.with_header("server-timing", format!("app;dur={ms:.3}"))
                .with_header("x-response-time", format!("{ms:.3}ms"))
        })
    }
}

/// Caps the requests being handled at once; beyond the cap it answers `503 Service
/// Unavailable` with `retry-after: 1` at once, never queueing (load shedding: a fast "no"
/// beats a slow timeout when the server is overloaded).
///
/// A request holds its permit until its response is produced (for a streamed body: until the
/// head is ready). `new(0)` refuses everything, a maintenance switch.
///
/// ```
/// use spindle_http::{App, ConcurrencyLimit, Request};
/// let app = App::new()
///     .middleware(ConcurrencyLimit::new(64))
///     .get("/", |_req: Request| async { "hi" });
/// ```
#[derive(Debug)]
pub struct ConcurrencyLimit {
    /// One permit per request allowed in at once.
    permits: Semaphore,
}

impl ConcurrencyLimit {
    /// At most `max` requests at a time.
    pub fn new(max: usize) -> ConcurrencyLimit {
        ConcurrencyLimit {
            permits: Semaphore::new(max),
        }
    }
}

impl Middleware for ConcurrencyLimit {
    fn call<'a>(&'a self, req: Request, next: Next) -> BoxFuture<'a, Response> {
        match self.permits.try_acquire() {
            Ok(permit) => Box::pin(async move {
                let resp = next.run(req).await;
                drop(permit);
                resp
            }),
            Err(_) => {
                let busy = Response::text("Service Unavailable: too many requests in flight\n")
                    .with_status(503)
                    .with_header("retry-after", "1");
                Box::pin(ready(busy))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-made pieces of an access-log line read exactly as `Display` / `{:.2}` would.
    #[test]
    fn line_pieces_match_fmt() {
        for n in [0u64, 7, 10, 99, 200, 404, 65535, u64::MAX] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        for micros in [
            0u64, 4, 5, 994, 995, 1234, 1235, 999_994, 999_995, 12_345_678,
        ] {
            let mut s = String::new();
            push_millis(&mut s, micros);
            // Integer rounding half up; the float path agrees away from exact halves.
            let want = format!("{:.2}ms", (micros as f64 + 0.000_1) / 1000.0);
            assert_eq!(s, want, "{micros} µs");
        }
        for addr in [
            "127.0.0.1:50312",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:8080",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut s = String::new();
            push_addr(&mut s, addr);
            assert_eq!(s, addr.to_string());
        }
    }
}

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
        // The request half of the line now: the request moves into the chain.
        let mut line = String::with_capacity(64 + req.target().len());
        let _ = match req.remote_addr() {
            Some(addr) => write!(line, "INFO: {addr} - "),
            None => write!(line, "INFO: - - "),
        };
        let _ = write!(
            line,
            "\"{} {} {}\" ",
            req.method_str(),
            req.target(),
            req.version().as_str()
        );
        Box::pin(async move {
            let resp = next.run(req).await;
            let ms = start.elapsed().as_secs_f64() * 1000.0;
            let _ = write!(line, "{} {ms:.2}ms", resp.status());
            self.emit(&line);
            resp
        })
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

//! [`App`]: the application: routes from `(method, path pattern)` to handlers, wrapped in
//! middleware. FastAPI's `app = FastAPI()` with `@app.get("/users/{id}")`, in Rust.
//!
//! An app is built once with chained calls (`App::new().get(..).middleware(..)`) and then only
//! read: the connection task (`server/conn.rs`) calls [`App::dispatch`] for each request, which runs
//! the middleware chain (`middleware.rs`) and, at its end, the router (`router.rs`) and the
//! handler. Handlers come in two kinds, as in FastAPI:
//! - **async** (`async def`): polled right on the connection's task;
//! - **blocking** (`def`): the body is read first, then the function runs on the blocking pool
//!   (`spindle::task::spawn_blocking`) while the connection's task awaits it, so a slow or
//!   blocking function never stalls a worker thread.
//!
//! Invariant: everything the app holds is immutable once requests are served; the builder
//! methods take the app by value, so no request can observe a half-built app.

pub(crate) mod background;
pub(crate) mod dashboard;
pub(crate) mod extract;
pub(crate) mod health;
pub(crate) mod http_error;
pub(crate) mod incoming;
pub(crate) mod log_batch;
pub(crate) mod middleware;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod router;
pub(crate) mod sse;
pub(crate) mod stack;

use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::app::incoming::Body;
use crate::app::request::Request;
use crate::app::response::{IntoResponse, Response};
use crate::app::router::Methods;
use crate::app::stack::{
    internal_error, BoxFuture, Handler, Middleware, Next, ResponseSlot, Route, Routed, Stack,
};
use crate::metrics::{publish_route, HttpMetrics, Recorder, Tally};

/// The application: a router of handlers plus middleware.
///
/// ```
/// use spindle_http::{App, Request, Response};
///
/// let app = App::new()
///     .get("/", |_req: Request| async { "Hello, World!" })
///     .get("/users/{id}", |req: Request| async move {
///         Response::text(format!("user {}", req.param("id").unwrap_or("?")))
///     })
///     .get_blocking("/report", |_req: Request| {
///         std::thread::sleep(std::time::Duration::from_millis(1)); // fine: a pool thread
///         "done"
///     });
/// assert_eq!(app.routes().len(), 3);
/// ```
pub struct App {
    /// The router and the middleware, shared with the [`Next`] values of requests in flight.
    /// INVARIANT: only the builder methods change it (copy-on-write if a request still holds it).
    stack: Arc<Stack>,
    /// Set when the server serving this app begins to drain (graceful shutdown); read by the
    /// route [`App::healthz`] mounts. INVARIANT: only goes from false to true (`server/shutdown.rs`).
    draining: Arc<AtomicBool>,
    /// The HTTP metrics (`crate::metrics`): requests are counted as they go through
    /// [`App::dispatch`] and when their response is ready. Kept by every builder step, so a
    /// handle taken early ([`App::metrics`]) sees the finished app's counts.
    metrics: Arc<Recorder>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("routes", &self.stack.router.routes())
            .field("middleware", &self.stack.middleware.len())
            .finish()
    }
}

/// Declares `App::<name>(path, handler)` for one method, forwarding to [`App::route`].
macro_rules! method_routes {
    ($($name:ident => $method:literal),* $(,)?) => {$(
        #[doc = concat!("Routes `", $method, " path` to an async handler (see [`App::route`]).")]
        pub fn $name<H, Fut, R>(self, path: &str, handler: H) -> App
        where
            H: Fn(Request) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: IntoResponse,
        {
            self.route($method, path, handler)
        }
    )*};
}

impl App {
    /// An app with no routes and no middleware: every request gets 404.
    pub fn new() -> App {
        App {
            stack: Arc::new(Stack::default()),
            draining: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(Recorder::default()),
        }
    }

    /// Mounts `GET /healthz` (and so `HEAD`): `200 ok` while the server serves, `503 draining`
    /// from the moment a graceful shutdown begins, so a load balancer's health check stops
    /// routing to this instance before its connections close (see `docs/deploy.md`).
    ///
    /// ```
    /// use spindle_http::{App, Body, Limits, Request, RequestParser};
    /// let app = App::new().get("/", |_req: Request| async { "hi" }).healthz();
    /// let head = RequestParser::new(Limits::default())
    ///     .parse(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
    ///     .unwrap()
    ///     .unwrap();
    /// let rt = spindle::Runtime::new().unwrap();
    /// let resp = rt.block_on(app.handle(Request::new(head, Body::empty())));
    /// assert_eq!(resp.status(), 200);
    /// assert_eq!(resp.body_bytes(), Some(&b"ok\n"[..]));
    /// ```
    pub fn healthz(self) -> App {
        let handler = crate::app::health::healthz_handler(self.draining.clone());
        self.get(crate::app::health::HEALTHZ_PATH, handler)
    }

    /// The flag the server sets when it begins to drain (see [`App::healthz`]).
    pub(crate) fn draining_flag(&self) -> Arc<AtomicBool> {
        self.draining.clone()
    }

    method_routes! {
        get => "GET",
        post => "POST",
        put => "PUT",
        delete => "DELETE",
        patch => "PATCH",
        head => "HEAD",
        options => "OPTIONS",
    }

    /// Routes `method path` to an async handler.
    ///
    /// `path` is a pattern: static segments, `{name}` for one segment (read it with
    /// [`Request::param`]), and a last `{*name}` for the rest of the path. A static segment
    /// wins over `{name}` at the same position (and if its branch fails further down, `{name}`
    /// is tried). `/users` and `/users/` are different paths. Static segments are compared with
    /// the path as received (percent-encoded); parameters are percent-decoded, and one that is
    /// not UTF-8 once decoded makes the path not match (404).
    ///
    /// `method` is case-sensitive, as in HTTP. `HEAD` is served by the `GET` handler unless it
    /// has its own route (the server drops the body), and `OPTIONS` is answered 204 with
    /// `Allow` unless it has its own. A matching path without a route for the method is 405
    /// with `Allow`. `CONNECT` requests carry `host:port` instead of a path: a tunnelling app
    /// routes them with `route("CONNECT", "*", handler)`; without that route they are 501.
    ///
    /// # Panics
    /// On a malformed pattern or method name, or if `method path` is already routed.
    ///
    /// ```
    /// use spindle_http::{App, Request};
    /// let app = App::new().route("PROPFIND", "/dav/{*path}", |req: Request| async move {
    ///     format!("would list {}", req.param("path").unwrap_or(""))
    /// });
    /// assert_eq!(app.routes(), vec![("PROPFIND".to_string(), "/dav/{*path}".to_string())]);
    /// ```
    pub fn route<H, Fut, R>(self, method: &str, path: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.insert(Methods::One(method), path, erase(handler))
    }

    /// Routes every method on `path` to an async handler; routes for a specific method on the
    /// same pattern take precedence.
    ///
    /// ```
    /// use spindle_http::{App, Request};
    /// let app = App::new().any("/echo-method", |req: Request| async move {
    ///     req.method_str().to_string()
    /// });
    /// ```
    pub fn any<H, Fut, R>(self, path: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.insert(Methods::Any, path, erase(handler))
    }

    /// Routes `GET path` to a blocking function run on the blocking pool (see [`blocking`]).
    pub fn get_blocking<F, R>(self, path: &str, f: F) -> App
    where
        F: Fn(Request) -> R + Send + Sync + 'static,
        R: IntoResponse + Send + 'static,
    {
        self.route_blocking("GET", path, f)
    }

    /// Routes `POST path` to a blocking function run on the blocking pool (see [`blocking`]).
    pub fn post_blocking<F, R>(self, path: &str, f: F) -> App
    where
        F: Fn(Request) -> R + Send + Sync + 'static,
        R: IntoResponse + Send + 'static,
    {
        self.route_blocking("POST", path, f)
    }

    /// Routes `method path` to a blocking function run on the blocking pool (see [`blocking`]).
    ///
    /// # Panics
    /// As [`App::route`].
    pub fn route_blocking<F, R>(self, method: &str, path: &str, f: F) -> App
    where
        F: Fn(Request) -> R + Send + Sync + 'static,
        R: IntoResponse + Send + 'static,
    {
        let handler = blocking(f);
        self.insert(
            Methods::One(method),
            path,
            Arc::new(move |req, slot: &mut ResponseSlot| slot.set(handler(req))),
        )
    }

    /// Adds a middleware around every request, including those answered 404 or 405. The first
    /// one added is the outermost: it sees the request first and the response last.
    ///
    /// ```
    /// use spindle_http::{from_fn, App, Next, Request, Timing};
    /// let app = App::new()
    ///     .middleware(Timing::new())
    ///     .middleware(from_fn(|req: Request, next: Next| async move {
    ///         next.run(req).await.with_header("x-powered-by", "spindle")
    ///     }))
    ///     .get("/", |_req: Request| async { "hi" });
    /// ```
    pub fn middleware(mut self, m: impl Middleware) -> App {
        Arc::make_mut(&mut self.stack).middleware.push(Arc::new(m));
        self
    }

    /// Every route as `(method, path pattern)` in registration order; `*` stands for the
    /// methods of [`App::any`]. Handy for a startup banner.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.stack.router.routes().to_vec()
    }

    /// Runs one request through the middleware and the router and returns the response,
    /// without a server or a socket: the entry point for tests.
    ///
    /// A handler panic is not caught here (the server's connection turns it into a 500).
    ///
    /// ```
    /// use spindle_http::{App, Body, Limits, Request, RequestParser};
    /// let app = App::new().get("/users/{id}", |req: Request| async move {
    ///     format!("user {}", req.param("id").unwrap_or("?"))
    /// });
    /// let head = RequestParser::new(Limits::default())
    ///     .parse(b"GET /users/42 HTTP/1.1\r\nHost: a\r\n\r\n")
    ///     .unwrap()
    ///     .unwrap();
    /// let rt = spindle::Runtime::new().unwrap();
    /// let resp = rt.block_on(app.handle(Request::new(head, Body::empty())));
    /// assert_eq!(resp.body_bytes(), Some(&b"user 42"[..]));
    /// ```
    pub async fn handle(&self, req: Request) -> Response {
        let tally = Tally::start(req.method(), self.metrics.sampler().pick());
        self.metrics.waiting(); // in flight from the start: its polls are not ours to watch
        let mut slot = ResponseSlot::new();
        let mut routed = Routed::default();
        self.dispatch(req, &mut slot, &mut routed);
        let response = slot.wait().await.unwrap_or_else(internal_error);
        publish_route(None);
        let tally = tally.with_route(routed.take());
        self.metrics.finish(tally, response.status(), true);
        response
    }

    /// A handle on this app's HTTP metrics: requests by route, method and status class, their
    /// durations, requests in flight, connections, rejections (see [`crate::metrics`]). Take it
    /// before handing the app to a server; it stays valid for as long as it is held.
    ///
    /// ```
    /// use spindle_http::{App, Request};
    /// let app = App::new().get("/", |_req: Request| async { "hi" });
    /// let metrics = app.metrics(); // give it to a dashboard, a handler, a test
    /// assert_eq!(metrics.snapshot().requests, 0);
    /// ```
    pub fn metrics(&self) -> HttpMetrics {
        HttpMetrics::new(self.metrics.clone())
    }

    /// Times one request in `period` (rounded up to a power of two; which ones is decided by a
    /// hash of each request's sequence number) for the duration histogram; 1 times every
    /// request. Default: [`crate::metrics::DEFAULT_SAMPLE_PERIOD`]. Each timed request
    /// costs two clock reads, which on some machines is a tenth of what a small pipelined
    /// request costs in all; the request counts are exact whatever the period.
    ///
    /// ```
    /// use spindle_http::App;
    /// let app = App::new().duration_sample_period(1);
    /// assert_eq!(app.metrics().snapshot().sample_period, 1);
    /// ```
    pub fn duration_sample_period(self, period: u32) -> App {
        self.metrics.set_sample_period(period);
        self
    }

    /// Mounts `GET path` (and so `HEAD`) answering with the runtime's and this app's metrics in
    /// the Prometheus text format (`text/plain; version=0.0.4`): point a Prometheus server's
    /// scrape config at it. See [`crate::metrics::prometheus`].
    ///
    /// ```
    /// use spindle_http::{App, Body, Limits, Request, RequestParser};
    /// let app = App::new().get("/", |_req: Request| async { "hi" }).metrics_endpoint("/metrics");
    /// let head = RequestParser::new(Limits::default())
    ///     .parse(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
    ///     .unwrap()
    ///     .unwrap();
    /// let rt = spindle::Runtime::new().unwrap();
    /// let resp = rt.block_on(app.handle(Request::new(head, Body::empty())));
    /// assert_eq!(resp.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    /// let text = String::from_utf8(resp.body_bytes().unwrap().to_vec()).unwrap();
    /// assert!(text.contains("# TYPE spindle_http_requests_total counter"));
    /// ```
    pub fn metrics_endpoint(self, path: &str) -> App {
        let handler = crate::metrics::prometheus::handler(self.metrics());
        self.get(path, handler)
    }

    /// The live metrics, for the connection's counts.
    pub(crate) fn recorder(&self) -> &Arc<Recorder> {
        &self.metrics
    }

    /// Routes one request through the middleware chain and the router, and puts the future of
    /// its response in `slot`. Which route it took goes in `routed`, for the caller to count
    /// the request with once the response is ready (the metrics' [`Tally`]).
    #[inline]
    pub(crate) fn dispatch(&self, req: Request, slot: &mut ResponseSlot, routed: &mut Routed) {
        if self.stack.middleware.is_empty() {
            // No chain to walk: skip the reference count, and the route is known now.
            routed.set_now(self.stack.route(req, slot));
        } else {
            // The router runs inside the chain (if a middleware lets the request through)
            // and leaves the route in the cell.
            let cell = routed.later();
            slot.set(Next::start(self.stack.clone(), cell).run(req));
        }
    }

    /// Adds a type-erased handler, panicking with the router's message on a bad route.
    fn insert(mut self, methods: Methods<'_>, path: &str, handler: Handler) -> App {
        let method = match methods {
            Methods::One(m) => m,
            Methods::Any => "*",
        };
        let route = Route {
            handler,
            index: self.metrics.route_index(path),
            // Leaked: one short string per route per app built (see `Route::label`).
            label: Box::leak(format!("{method} {path}").into_boxed_str()),
        };
        let stack = Arc::make_mut(&mut self.stack);
        if let Err(e) = stack.router.insert(methods, path, route) {
            panic!("spindle-http: cannot add route: {e}");
        }
        self
    }
}

/// Boxes an async handler's future and converts its output into a [`Response`].
fn erase<H, Fut, R>(handler: H) -> Handler
where
    H: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    Arc::new(move |req, slot: &mut ResponseSlot| {
        let fut = handler(req);
        slot.set(async move { fut.await.into_response() });
    })
}

/// Turns a blocking function into an async handler that runs it on the blocking pool: the
/// `def` (not `async def`) endpoint of FastAPI, for code that blocks (file I/O, a database
/// driver without async, heavy computation).
///
/// The handler first reads the whole body (a body error, such as 413, is the response), so
/// the function gets a request whose body is plain bytes: the socket stays with the
/// connection's task and never moves to a pool thread. Then it runs `f` with
/// `spindle::task::spawn_blocking` and awaits the result. A panic in `f` gives a 500.
///
/// ```
/// use spindle_http::{blocking, App, Request};
/// let app = App::new().get("/disk", blocking(|_req: Request| {
///     // A blocking system call: fine here, it ties up a pool thread, not a worker.
///     match std::fs::metadata("/") {
///         Ok(_) => "disk is there",
///         Err(_) => "disk unavailable",
///     }
/// }));
/// ```
pub fn blocking<F, R>(f: F) -> impl Fn(Request) -> BoxFuture<'static, Response> + Send + Sync
where
    F: Fn(Request) -> R + Send + Sync + 'static,
    R: IntoResponse + Send + 'static,
{
    let f = Arc::new(f);
    move |mut req: Request| {
        let f = f.clone();
        Box::pin(async move {
            match req.bytes().await {
                Ok(bytes) => req.set_body(Body::from(bytes)),
                Err(e) => return e.into_response(),
            }
            let job = spindle::task::spawn_blocking(move || f(req).into_response());
            match job.await {
                Ok(response) => response,
                Err(_) => internal_error(),
            }
        })
    }
}

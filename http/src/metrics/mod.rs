//! HTTP metrics: what the server has been answering, counted as it goes and read as a
//! snapshot ([`HttpSnapshot`]) through the handle [`App::metrics`](crate::App::metrics)
//! returns. [`prometheus`] renders them (with the runtime's) for a Prometheus server.
//!
//! What is counted, and where:
//! - **A request** is counted once its handler's response is ready, before that response is
//!   written: by the connection (`server/conn.rs`) or by [`App::handle`](crate::App::handle).
//!   So a client that has read a response sees its request counted. Labels: the route
//!   template (`/users/{id}`, or [`UNMATCHED`] when no handler ran: 404, 405, the automatic
//!   `OPTIONS` answer, 501, an answer a middleware gave before routing, a handler that
//!   panicked), the request method and the status class. (The 500 of a panicked handler is
//!   made by the connection and knows nothing of its request: it counts as method `OTHER`,
//!   untimed.) Route templates come from the app's
//!   routes, so the number of series is bounded whatever the clients send.
//! - **In flight**: requests handed to the app (`App::dispatch`) and not yet counted as above.
//! - **Duration**: from the dispatch to the ready response (a streamed body is not waited
//!   for). A clock read costs 25 to 140 ns on the machines this was measured on, which is a
//!   tenth of a pipelined request's whole cost, so by default one request in
//!   [`DEFAULT_SAMPLE_PERIOD`] (chosen at random) is timed;
//!   [`App::duration_sample_period`](crate::App::duration_sample_period)`(1)` times every one.
//! - **Connections**: opened and closed, counted by the connection task's start and end.
//! - **Rejections**: requests the connection refused before any handler ran (a malformed
//!   head: 400, 414, 431, 501, 505; a head too slow: 408; ...), by status. They are not
//!   requests in the counts above.
//!
//! Counting costs a few loads and stores on the counting thread's own shard (`shard.rs`): no
//! lock, no shared atomic written per request. Reading (a snapshot) adds up the shards.
//!
//! ```
//! use spindle_http::{App, Body, Limits, Request, RequestParser};
//! let app = App::new().get("/users/{id}", |_req: Request| async { "hi" });
//! let metrics = app.metrics();
//! let rt = spindle::Runtime::new().unwrap();
//! for target in ["/users/1", "/users/2", "/nope"] {
//!     let raw = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
//!     let head = RequestParser::new(Limits::default()).parse(raw.as_bytes()).unwrap().unwrap();
//!     rt.block_on(app.handle(Request::new(head, Body::empty())));
//! }
//! let s = metrics.snapshot();
//! assert_eq!(s.requests, 3);
//! assert_eq!(s.status_class(2), 2);
//! assert_eq!(s.status_class(4), 1);
//! assert_eq!(s.requests_for("/users/{id}"), 2);
//! assert_eq!(s.requests_for("<unmatched>"), 1);
//! assert_eq!(s.in_flight, 0);
//! ```

pub mod prometheus;
mod shard;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::app::response::Response;
use crate::parse::Method;
use shard::{
    Shard, BUCKETS, CLASSES, MAX_ROUTES, METHODS as METHOD_COUNT, REJECTIONS, ROUTE_SHIFT, SHARDS,
};

/// The route label of requests no handler answered (see the module docs).
pub const UNMATCHED: &str = "<unmatched>";

/// Status class labels, by index: `1xx` .. `5xx`, then `other` (a status of 600 or more).
pub const STATUS_CLASSES: [&str; CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

/// Method labels, by index: the methods the parser knows, then `OTHER` for extension methods.
pub const METHODS: [&str; METHOD_COUNT] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER",
];

/// The statuses the connection answers with before any handler runs; rejections with any
/// other status are counted as `other`.
pub const REJECTION_STATUSES: [u16; REJECTIONS - 1] = [400, 408, 413, 414, 431, 501, 505];

/// One request in `DEFAULT_SAMPLE_PERIOD` is timed, unless the app says otherwise.
pub const DEFAULT_SAMPLE_PERIOD: u32 = 16;

/// What a response carries about its request, for the count made when it is ready: stamped by
/// the app as the request goes through it (`app/mod.rs`, `app/stack.rs`). Kept to 8 bytes: it
/// rides in every [`Response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestMeta {
    /// The request's series without its status class: `route << ROUTE_SHIFT | method *
    /// CLASSES` (`shard.rs`). INVARIANT: the route is below `MAX_ROUTES`.
    series: u32,
    /// When the request was dispatched, in [`TICK_NS`] ticks ([`now_ticks`]), if it was picked
    /// for timing; 0 if not.
    start: u32,
}

/// Nanoseconds per tick of [`RequestMeta`]'s start time: 32 bits of them wrap after about
/// 4.6 minutes, so a duration is read modulo that (longer handlers are rare: a streamed
/// response is timed only until its head is ready).
const TICK_NS: u64 = 64;

/// Mask of the method-and-class bits of a series.
const LOW: u32 = (1 << ROUTE_SHIFT) - 1;

impl RequestMeta {
    /// Nothing known: no route, method `OTHER`, not timed (a response made outside the app).
    pub(crate) const UNKNOWN: RequestMeta = RequestMeta {
        series: ((METHOD_COUNT - 1) * CLASSES) as u32,
        start: 0,
    };

    /// The meta of a request with `method`, not yet routed or timed.
    #[inline]
    pub(crate) fn for_method(method: Method) -> RequestMeta {
        RequestMeta {
            series: u32::from(method_index(method)) * CLASSES as u32,
            start: 0,
        }
    }

    /// This meta with the route at `index` (an index from [`Recorder::route_index`]).
    #[inline]
    pub(crate) fn with_route(self, index: u32) -> RequestMeta {
        RequestMeta {
            series: (index << ROUTE_SHIFT) | (self.series & LOW),
            ..self
        }
    }

    /// The route of `self` with the method and start time of `outer` (a middleware chain's
    /// response: the router stamped the route inside, the app the rest outside).
    #[inline]
    pub(crate) fn with_request_of(self, outer: RequestMeta) -> RequestMeta {
        RequestMeta {
            series: (self.series & !LOW) | (outer.series & LOW),
            start: outer.start,
        }
    }
}

impl Default for RequestMeta {
    fn default() -> Self {
        RequestMeta::UNKNOWN
    }
}

/// Now, in [`TICK_NS`] ticks since the first call, wrapping, never 0 (which means "not timed").
fn now_ticks() -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let ticks = (epoch.elapsed().as_nanos() / u128::from(TICK_NS)) as u32; // wraps on purpose
    ticks.max(1)
}

/// The index of `method` in [`METHODS`].
fn method_index(method: Method) -> u8 {
    match method {
        Method::Get => 0,
        Method::Head => 1,
        Method::Post => 2,
        Method::Put => 3,
        Method::Delete => 4,
        Method::Connect => 5,
        Method::Options => 6,
        Method::Trace => 7,
        Method::Patch => 8,
        Method::Extension => 9,
    }
}

/// The index of `status`'s class in [`STATUS_CLASSES`].
#[inline]
fn class_index(status: u16) -> usize {
    // Below 100 wraps to a large number: `other`, as is 600 and up.
    usize::from(status.wrapping_sub(100) / 100).min(CLASSES - 1)
}

/// Multiplier of the sampling hash (2^64 / the golden ratio).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The live metrics of one app: one shard per counting thread, and the route table.
pub(crate) struct Recorder {
    /// Shards by thread index (`shard.rs`); the last one is shared by threads past
    /// `EXCLUSIVE_SHARDS`.
    shards: Box<[Shard; SHARDS]>,
    /// Route templates by index; index 0 is [`UNMATCHED`]. Only grows (as routes are added).
    routes: Mutex<Vec<Arc<str>>>,
    /// 64 minus log2 of the sampling period (a power of two): a request is timed when the top
    /// `64 - sample_shift` bits of its hashed sequence number are zero (64: every request).
    sample_shift: AtomicU32,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            shards: (0..SHARDS)
                .map(|i| Shard::new(i != shard::SHARED))
                .collect::<Box<[Shard]>>()
                .try_into()
                .expect("INVARIANT: exactly SHARDS shards were made"),
            routes: Mutex::new(vec![Arc::from(UNMATCHED)]),
            sample_shift: AtomicU32::new(64 - DEFAULT_SAMPLE_PERIOD.trailing_zeros()),
        }
    }
}

impl Recorder {
    /// This thread's shard.
    #[inline(always)]
    fn shard(&self) -> &Shard {
        &self.shards[shard::thread_index()]
    }

    /// The index of the route template `pattern`, added to the table if new (at app build).
    /// Routes past [`MAX_ROUTES`] share the last index.
    pub(crate) fn route_index(&self, pattern: &str) -> u32 {
        let mut routes = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        let i = match routes.iter().position(|r| &**r == pattern) {
            Some(i) => i,
            None => {
                routes.push(Arc::from(pattern));
                routes.len() - 1
            }
        };
        i.min(MAX_ROUTES - 1) as u32
    }

    /// Sets the sampling period of durations: at least 1, rounded up to a power of two.
    pub(crate) fn set_sample_period(&self, period: u32) {
        let log2 = period.max(1).next_power_of_two().trailing_zeros();
        // Relaxed: a setting read at each request; any recent value will do.
        self.sample_shift.store(64 - log2, Ordering::Relaxed);
    }

    /// The sampling period (a power of two).
    fn sample_period(&self) -> u32 {
        1 << (64 - self.sample_shift.load(Ordering::Relaxed))
    }

    /// Counts a request handed to the app and decides whether to time it: when the top bits
    /// of its sequence number on this shard, hashed, are zero (one in the period, spread
    /// without a fixed stride that a client's own rhythm could line up with).
    #[inline]
    pub(crate) fn begin(&self, method: Method) -> RequestMeta {
        let shard = self.shard();
        let n = shard.started.get();
        shard.inc(&shard.started);
        let mut meta = RequestMeta::for_method(method);
        let shift = self.sample_shift.load(Ordering::Relaxed);
        if n.wrapping_mul(GOLDEN).checked_shr(shift).unwrap_or(0) == 0 {
            meta.start = now_ticks();
        }
        meta
    }

    /// Counts a finished request by the meta its response carries, and times it if picked.
    #[inline]
    pub(crate) fn finish(&self, resp: &Response) {
        let meta = resp.meta;
        let shard = self.shard();
        let series = meta.series as usize + class_index(resp.status());
        shard.inc(shard.request_counter(series));
        if meta.start != 0 {
            let ticks = now_ticks().wrapping_sub(meta.start);
            self.record_duration(shard, u64::from(ticks) * TICK_NS);
        }
    }

    /// Adds a timed request's duration to the histogram.
    #[cold]
    #[inline(never)]
    fn record_duration(&self, shard: &Shard, ns: u64) {
        shard.inc(&shard.duration[shard::bucket_of(ns)]);
        shard.duration_sum_ns.add(ns, shard.exclusive);
    }

    /// Counts a request the connection refused with `status` before any handler ran.
    pub(crate) fn rejected(&self, status: u16) {
        let i = REJECTION_STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(REJECTIONS - 1);
        let shard = self.shard();
        shard.inc(&shard.rejected[i]);
    }

    /// Counts a connection opened; the guard counts it closed when dropped.
    pub(crate) fn connection(self: &Arc<Self>) -> ConnectionGuard {
        let shard = self.shard();
        shard.inc(&shard.conns_opened);
        ConnectionGuard(self.clone())
    }

    /// Adds up every shard.
    pub(crate) fn snapshot(&self) -> HttpSnapshot {
        let routes: Vec<Arc<str>> = self
            .routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let shards: Vec<&Shard> = self.shards.iter().collect();
        let sum = |f: &dyn Fn(&Shard) -> u64| shards.iter().map(|s| f(s)).sum::<u64>();
        let mut s = HttpSnapshot {
            taken_at: Instant::now(),
            requests: 0,
            status_classes: [0; CLASSES],
            in_flight: 0,
            open_connections: 0,
            connections: sum(&|s| s.conns_opened.get()),
            rejections: std::array::from_fn(|i| sum(&|s| s.rejected[i].get())),
            routes: Vec::new(),
            duration: DurationHistogram {
                buckets: std::array::from_fn(|i| sum(&|s| s.duration[i].get())),
                sum: Duration::from_nanos(sum(&|s| s.duration_sum_ns.get())),
            },
            sample_period: self.sample_period(),
        };
        let max_route = MAX_ROUTES;
        for (r, label) in routes.iter().enumerate().take(max_route) {
            let page = r / shard::ROUTES_PER_PAGE;
            let used: Vec<&&Shard> = shards.iter().filter(|s| s.has_page(page)).collect();
            if used.is_empty() {
                continue;
            }
            for (m, method) in METHODS.iter().enumerate() {
                for (c, class) in STATUS_CLASSES.iter().enumerate() {
                    let count: u64 = used.iter().map(|s| s.requests(r, m, c)).sum();
                    if count == 0 {
                        continue;
                    }
                    s.requests += count;
                    s.status_classes[c] += count;
                    let route = if r + 1 == max_route && routes.len() > max_route {
                        Arc::from("<more routes>")
                    } else {
                        label.clone()
                    };
                    s.routes.push(RouteRequests {
                        route,
                        method,
                        status_class: class,
                        count,
                    });
                }
            }
        }
        // Started is read after the finished counts: a request that finishes in between is
        // at worst counted as still in flight, never as negative.
        s.in_flight = sum(&|s| s.started.get()).saturating_sub(s.requests);
        s.open_connections = s.connections.saturating_sub(sum(&|s| s.conns_closed.get()));
        s
    }
}

/// Counts its connection closed when dropped (the connection task's end, or its cancellation).
pub(crate) struct ConnectionGuard(Arc<Recorder>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let shard = self.0.shard();
        shard.inc(&shard.conns_closed);
    }
}

/// A handle on an app's HTTP metrics, from [`App::metrics`](crate::App::metrics): cheap to
/// clone, valid for as long as anyone holds it, and read with [`snapshot`](Self::snapshot).
/// Take it before handing the app to the server, or from a running server with
/// [`RunningServer::http_metrics`](crate::RunningServer::http_metrics).
#[derive(Clone)]
pub struct HttpMetrics {
    /// The app's live counters.
    recorder: Arc<Recorder>,
}

impl fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpMetrics").finish_non_exhaustive()
    }
}

impl HttpMetrics {
    /// A handle on `recorder`.
    pub(crate) fn new(recorder: Arc<Recorder>) -> HttpMetrics {
        HttpMetrics { recorder }
    }

    /// The counts so far (see [`HttpSnapshot`]).
    pub fn snapshot(&self) -> HttpSnapshot {
        self.recorder.snapshot()
    }
}

/// A snapshot of an app's HTTP metrics, from [`HttpMetrics::snapshot`].
///
/// Counters (`requests`, `connections`, ...) only grow: subtract two snapshots to get a rate.
/// Gauges (`in_flight`, `open_connections`) are the value at the snapshot. Each number is read
/// on its own while the server keeps counting, so two of them may be a few requests apart.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpSnapshot {
    /// When the snapshot was taken (to turn counter differences into rates).
    pub taken_at: Instant,
    /// Requests answered (counted when the response was ready; see the module docs).
    pub requests: u64,
    /// `requests` by status class, indexed as [`STATUS_CLASSES`]: `[1xx, 2xx, 3xx, 4xx, 5xx,
    /// other]` (see [`status_class`](Self::status_class)).
    pub status_classes: [u64; CLASSES],
    /// Requests handed to the app whose response is not ready yet.
    pub in_flight: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Connections accepted since the app started serving.
    pub connections: u64,
    /// Requests refused before any handler ran, indexed as [`REJECTION_STATUSES`], then one
    /// for any other status (see [`rejected`](Self::rejected)).
    pub rejections: [u64; REJECTIONS],
    /// `requests` by route template, method and status class; only the non-zero ones.
    pub routes: Vec<RouteRequests>,
    /// Durations of the timed requests (one in `sample_period`; see the module docs).
    pub duration: DurationHistogram,
    /// One request in this many was picked for timing (1: all).
    pub sample_period: u32,
}

impl HttpSnapshot {
    /// Requests whose status was `class`xx (`class` from 1 to 5); 0 for any other `class`.
    pub fn status_class(&self, class: u16) -> u64 {
        match class {
            1..=5 => self.status_classes[usize::from(class - 1)],
            _ => 0,
        }
    }

    /// Requests answered for the route template `route` (such as `/users/{id}`, or
    /// [`UNMATCHED`]), all methods and statuses.
    pub fn requests_for(&self, route: &str) -> u64 {
        self.routes
            .iter()
            .filter(|r| &*r.route == route)
            .map(|r| r.count)
            .sum()
    }

    /// Requests refused with `status` before any handler ran (one of [`REJECTION_STATUSES`];
    /// any other status gives the count of all the others together).
    pub fn rejected(&self, status: u16) -> u64 {
        let i = REJECTION_STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(REJECTIONS - 1);
        self.rejections[i]
    }

    /// The upper bound of the duration bucket holding the `q`-quantile of the timed requests
    /// (`0.5` for the median, `0.99` for p99); see [`DurationHistogram::quantile`].
    pub fn duration_quantile(&self, q: f64) -> Option<Duration> {
        self.duration.quantile(q)
    }
}

/// Requests answered for one route, method and status class, in [`HttpSnapshot::routes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRequests {
    /// The route template as registered (`/users/{id}`), or [`UNMATCHED`].
    pub route: Arc<str>,
    /// The request method, one of [`METHODS`].
    pub method: &'static str,
    /// The status class, one of [`STATUS_CLASSES`].
    pub status_class: &'static str,
    /// How many.
    pub count: u64,
}

/// A histogram of request durations with logarithmic buckets: `[0, 1 µs)`, then one bucket per
/// doubling (`[1 µs, 2 µs)`, `[2 µs, 4 µs)`, ...) up to about 34 s, then one for everything
/// longer.
#[derive(Clone, PartialEq, Eq)]
pub struct DurationHistogram {
    /// Samples per bucket.
    buckets: [u64; BUCKETS],
    /// Sum of all samples.
    sum: Duration,
}

impl DurationHistogram {
    /// Samples per bucket, shortest first.
    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }

    /// The exclusive upper bound of bucket `i`; `None` for the last bucket, which has none.
    /// Panics if `i` is not a bucket index.
    pub fn bucket_upper_bound(&self, i: usize) -> Option<Duration> {
        assert!(i < BUCKETS, "no histogram bucket {i}");
        shard::bucket_upper_ns(i).map(Duration::from_nanos)
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Sum of the samples.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// The upper bound of the bucket holding the `q`-quantile (`0.0..=1.0`) of the samples:
    /// the true quantile is below it and at least half of it. `None` without samples, or when
    /// the quantile falls in the unbounded last bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return self.bucket_upper_bound(i);
            }
        }
        None
    }
}

impl fmt::Debug for DurationHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurationHistogram")
            .field("count", &self.count())
            .field("sum", &self.sum)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

/// The runtime's view of the route a connection task is running (part 1 of issue 11): called
/// with the route's label (`"GET /users/{id}"`) right before its handler runs, and with `None`
/// once the handler's response is ready, so that a long-poll report can name the route.
#[inline(always)]
pub(crate) fn publish_route(route: Option<&'static str>) {
    // wired to spindle::task::set_route at merge
    let _ = route;
}

/// Publishes `None` when dropped: kept inside a handler's future, it clears the route once the
/// handler is done, also when its future is dropped early (a panic, a cancelled connection).
#[derive(Debug)]
pub(crate) struct RouteScope;

impl Drop for RouteScope {
    fn drop(&mut self) {
        publish_route(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let table = [
            (100, 0),
            (199, 0),
            (200, 1),
            (204, 1),
            (302, 2),
            (404, 3),
            (599, 4),
            (600, 5),
            (999, 5),
            (0, 5),
        ];
        for (status, class) in table {
            assert_eq!(class_index(status), class, "{status}");
        }
    }

    /// With a period of 1 every request is timed; with 16, about one in 16.
    #[test]
    fn sampling_period() {
        let count_timed = |period: u32, n: usize| {
            let r = Recorder::default();
            r.set_sample_period(period);
            (0..n).filter(|_| r.begin(Method::Get).start != 0).count()
        };
        assert_eq!(count_timed(1, 100), 100);
        let timed = count_timed(16, 16_000);
        assert!(
            (800..1_200).contains(&timed),
            "{timed} of 16,000 timed at 1/16"
        );
        assert_eq!(
            count_timed(3, 4_000),
            count_timed(4, 4_000),
            "3 rounds up to 4"
        );
    }
}

//! HTTP metrics: what the server has been answering, counted as it goes and read as a
//! snapshot ([`HttpSnapshot`]) through the handle [`App::metrics`](crate::App::metrics)
//! returns. [`prometheus`] renders them (with the runtime's) for a Prometheus server.
//!
//! What is counted, and where:
//! - **A request** is counted once its handler's response is ready, before that response is
//!   written, by whoever waits for that response: the connection (`server/conn.rs`) or
//!   [`App::handle`](crate::App::handle). So a client that has read a response sees its
//!   request counted. Labels: the route template (`/users/{id}`, or [`UNMATCHED`] when no
//!   handler ran: 404, 405, the automatic `OPTIONS` answer, 501, an answer a middleware gave
//!   before routing), the request method and the status class (a handler that panicked: its
//!   route, 5xx). Route templates come from the app's routes, so the number of series is
//!   bounded whatever the clients send. The waiter keeps what it needs (a `Tally`: method,
//!   route, start time) itself; the response carries nothing for the metrics.
//! - **In flight**: requests whose handler is running or waiting for something (a timer, a
//!   pool thread, a lock, a body still arriving). A handler is counted from the first time
//!   it has to wait (returns `Pending`) until its response is ready; a handler in its first
//!   poll is seen only by a snapshot taken on its own thread, such as the one a `/metrics`
//!   handler takes of itself. So a handler that answers in one poll, the common case, costs
//!   no count at all here, and a snapshot on another thread misses it only for that one
//!   poll. ([`App::handle`](crate::App::handle) counts its request from the start.)
//! - **Duration**: from the dispatch to the ready response (a streamed body is not waited
//!   for). A clock read costs 25 to 140 ns on the machines this was measured on, which is a
//!   tenth of a pipelined request's whole cost, so by default one request in
//!   [`DEFAULT_SAMPLE_PERIOD`] is timed, picked per connection by a `Sampler`;
//!   [`App::duration_sample_period`](crate::App::duration_sample_period)`(1)` times every one.
//! - **Connections**: opened and closed, counted by the connection task's start and end.
//! - **Rejections**: requests the connection refused before any handler ran (a malformed
//!   head: 400, 414, 431, 501, 505; a head too slow: 408; ...), by status. They are not
//!   requests in the counts above.
//!
//! Counting a request costs one look-up of the counting thread's own shard (`shard.rs`) and a
//! load and a store there: no lock, no shared atomic written per request. Reading (a
//! snapshot) adds up the shards.
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

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::metrics::{Histogram, Scale};

use crate::parse::Method;
use shard::{Shard, CLASSES, MAX_ROUTES, METHODS as METHOD_COUNT, REJECTIONS, ROUTE_SHIFT, SHARDS};

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

/// The route index of [`UNMATCHED`] (requests no handler answered).
pub(crate) const UNMATCHED_ROUTE: u32 = 0;

/// Where request durations' buckets lie: `[0, 1 µs)`, then one per doubling up to about 34 s
/// (2^35 ns), then the rest.
pub const DURATION_SCALE: Scale = Scale::from_log2_ns(10);

/// A request on its way through the app, as the metrics will count it: its method and start
/// time, taken when it is dispatched, and its route, once known. Kept by whoever waits for
/// the response (the connection, [`App::handle`](crate::App::handle)) and handed to
/// [`Recorder::finish`] with the status once the response is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// The request's series without its status class: `route << ROUTE_SHIFT | method *
    /// CLASSES` (`shard.rs`). INVARIANT: the route is below `MAX_ROUTES`.
    series: u32,
    /// When the request was dispatched, if it was picked for timing.
    start: Option<Instant>,
}

/// Mask of the method-and-class bits of a series.
const LOW: u32 = (1 << ROUTE_SHIFT) - 1;

impl Tally {
    /// Before any request: `<unmatched>`, method `OTHER`, not timed.
    pub(crate) const NONE: Tally = Tally {
        series: ((METHOD_COUNT - 1) * CLASSES) as u32,
        start: None,
    };

    /// A request with `method` being dispatched now, not yet routed; the clock is read only
    /// if `timed` (see [`Sampler::pick`]).
    #[inline]
    pub(crate) fn start(method: Method, timed: bool) -> Tally {
        Tally {
            series: u32::from(method_index(method)) * CLASSES as u32,
            start: if timed { Some(Instant::now()) } else { None },
        }
    }

    /// This tally with the route at `index` (an index from [`Recorder::route_index`]).
    #[inline]
    pub(crate) fn with_route(self, index: u32) -> Tally {
        Tally {
            series: (index << ROUTE_SHIFT) | (self.series & LOW),
            ..self
        }
    }
}

/// Finished requests a connection has counted and not yet added to its thread's shard: a run
/// of consecutive requests of one series (as a pipelined batch to one route is), added in one
/// go ([`Recorder::finish_batched`], [`Recorder::flush`]). INVARIANT: `n` is at most the
/// requests of one batch of responses (a connection flushes before each write), far below
/// `u32::MAX`.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The run's series, with its status class (`shard.rs`).
    series: u32,
    /// Requests in the run; 0: nothing to add.
    n: u32,
}

impl Batch {
    /// Whether there is nothing to add.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// Picks the requests whose duration is timed: one in the sampling period, by a Weyl
/// sequence (a step of 2^64 / the golden ratio, wrapping), which spreads the picks evenly
/// without a fixed stride that a client's own rhythm could line up with. One per connection,
/// so that picking needs no shared state; each starts at its own point of the sequence
/// (a per-thread count of samplers made, scattered), so that connections of one request
/// each are picked as often as long ones.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    /// The sequence's current value.
    next: u64,
    /// A request is picked when the sequence, after its step, is at most this: `u64::MAX`
    /// divided by the period (a power of two), so one in the period.
    max: u64,
}

/// Multiplier of the sampling sequence (2^64 / the golden ratio).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Step between the starting points of successive samplers on a thread (an odd constant
/// unrelated to [`GOLDEN`], so starting points scatter over the whole range).
const SEED_STEP: u64 = 0xBF58_476D_1CE4_E5B9;

thread_local! {
    /// The starting point of the next sampler made on this thread.
    static NEXT_SEED: Cell<u64> = const { Cell::new(0) };
    /// The address of the recorder of the app whose handler a connection on this thread is
    /// running the first poll of; 0 for none (see [`Recorder::first_poll_begins`]).
    static FIRST_POLL: Cell<usize> = const { Cell::new(0) };
}

/// Marks the end of a handler's first poll on this thread (see
/// [`Recorder::first_poll_begins`]).
#[inline(always)]
pub(crate) fn first_poll_ends() {
    FIRST_POLL.with(|f| f.set(0));
}

impl Sampler {
    /// Whether to time the next request.
    #[inline]
    pub(crate) fn pick(&mut self) -> bool {
        self.next = self.next.wrapping_add(GOLDEN);
        self.next <= self.max
    }
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
fn class_index(status: u16) -> u32 {
    // Below 100 wraps to a large number: `other`, as is 600 and up.
    u32::from(status.wrapping_sub(100) / 100).min(CLASSES as u32 - 1)
}

/// The live metrics of one app: one shard per counting thread, and the route table.
pub(crate) struct Recorder {
    /// Shards by thread index (`shard.rs`); the last one is shared by threads past
    /// `EXCLUSIVE_SHARDS`.
    shards: Box<[Shard; SHARDS]>,
    /// Route templates by index; index 0 is [`UNMATCHED`]. Only grows (as routes are added).
    routes: Mutex<Vec<Arc<str>>>,
    /// log2 of the sampling period (a power of two; 0: every request is timed).
    sample_log2: AtomicU32,
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
            sample_log2: AtomicU32::new(DEFAULT_SAMPLE_PERIOD.trailing_zeros()),
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
        // Relaxed: a setting made while the app is built, read when a connection starts;
        // any recent value will do.
        self.sample_log2.store(log2, Ordering::Relaxed);
    }

    /// The sampling period (a power of two).
    fn sample_period(&self) -> u32 {
        1 << self.sample_log2.load(Ordering::Relaxed)
    }

    /// A sampler for one connection (or one [`App::handle`](crate::App::handle) call), at
    /// this app's sampling period.
    pub(crate) fn sampler(&self) -> Sampler {
        let seed = NEXT_SEED.with(|s| {
            let seed = s.get();
            s.set(seed.wrapping_add(SEED_STEP));
            seed
        });
        Sampler {
            next: seed,
            max: u64::MAX >> self.sample_log2.load(Ordering::Relaxed),
        }
    }

    /// Marks the start of the first poll of one of this app's handlers on this thread (until
    /// [`first_poll_ends`]): its request is in flight for a snapshot taken meanwhile on this
    /// thread (a `/metrics` handler's of itself), before it is counted with
    /// [`waiting`](Self::waiting), if ever.
    #[inline(always)]
    pub(crate) fn first_poll_begins(&self) {
        FIRST_POLL.with(|f| f.set(self as *const Recorder as usize));
    }

    /// Counts a request in flight: its handler has to wait (see the module docs). Its
    /// finish then says `waited`.
    pub(crate) fn waiting(&self) {
        let shard = self.shard();
        shard.inc(&shard.waiting);
    }

    /// Counts a finished request by its tally and status (`waited`: it was counted in flight
    /// by [`waiting`](Self::waiting)), and times it if it was picked.
    pub(crate) fn finish(&self, tally: Tally, status: u16, waited: bool) {
        self.finish_now(tally.series + class_index(status), tally.start, waited);
    }

    /// [`finish`](Self::finish) for a connection: a request neither timed nor counted in
    /// flight is added to the connection's `batch`; the others are counted at once. With
    /// `more` (another request is already buffered: a pipelined batch), the run waits for the
    /// series to change or for [`flush`](Self::flush) before the connection writes, so a batch
    /// to one route costs one shard look-up for all its requests; without, the run ends here
    /// and reaches the shard now (a keep-alive request: one look-up, in line).
    #[inline]
    pub(crate) fn finish_batched(
        &self,
        batch: &mut Batch,
        tally: Tally,
        status: u16,
        waited: bool,
        more: bool,
    ) {
        let series = tally.series + class_index(status);
        if waited || tally.start.is_some() {
            return self.finish_now(series, tally.start, waited);
        }
        if batch.series != series {
            self.flush(batch);
            batch.series = series;
        }
        batch.n += 1;
        if !more {
            self.add_run(batch);
        }
    }

    /// Adds a connection's batched counts to this thread's shard: called before the
    /// connection writes the responses they count, so a client that has read a response
    /// sees its request counted.
    #[inline]
    pub(crate) fn flush(&self, batch: &mut Batch) {
        if !batch.is_empty() {
            self.add_batch(batch);
        }
    }

    /// [`flush`](Self::flush) when there is something to add, out of line.
    #[inline(never)]
    fn add_batch(&self, batch: &mut Batch) {
        self.add_run(batch);
    }

    /// Adds `batch`'s run to this thread's shard and empties it.
    #[inline(always)]
    fn add_run(&self, batch: &mut Batch) {
        let shard = self.shard();
        shard
            .request_counter(batch.series as usize)
            .add(u64::from(batch.n), shard.exclusive);
        batch.n = 0;
    }

    /// Counts one finished request of `series` (with its status class), started at `start`
    /// if timed.
    #[inline(never)]
    fn finish_now(&self, series: u32, start: Option<Instant>, waited: bool) {
        let shard = self.shard();
        shard.inc(shard.request_counter(series as usize));
        if waited {
            shard.inc(&shard.waited);
        }
        if let Some(start) = start {
            let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.record_duration(shard, ns);
        }
    }

    /// Adds a timed request's duration to the histogram.
    #[cold]
    #[inline(never)]
    fn record_duration(&self, shard: &Shard, ns: u64) {
        shard.inc(&shard.duration[DURATION_SCALE.bucket_of(ns)]);
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
            duration: Histogram::from_counts(
                DURATION_SCALE,
                std::array::from_fn(|i| sum(&|s| s.duration[i].get())),
                Duration::from_nanos(sum(&|s| s.duration_sum_ns.get())),
            ),
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
        // `waiting` is read after `waited`: a request that finishes in between is at worst
        // counted as still in flight, never as negative. Plus the handler running its first
        // poll on this thread, if any (the one taking this snapshot, usually).
        let waited = sum(&|s| s.waited.get());
        s.in_flight = sum(&|s| s.waiting.get()).saturating_sub(waited)
            + u64::from(FIRST_POLL.with(Cell::get) == self as *const Recorder as usize);
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
    /// Requests whose handler is running or waiting (see the module docs).
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
    /// Durations of the timed requests (one in `sample_period`; see the module docs), on
    /// [`DURATION_SCALE`].
    pub duration: Histogram,
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
    /// (`0.5` for the median, `0.99` for p99); see [`Histogram::quantile`].
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

/// The runtime's view of the route a connection task is running (part 1 of issue 11): called
/// with the route's label (`"GET /users/{id}"`) right before its handler runs, so that a
/// long-poll report can name the route, and with `None` by whoever waits for the response:
/// the connection before it writes a batch of responses (`server/conn.rs`),
/// [`App::handle`](crate::App::handle) once its response is ready. The runtime ties the label to the poll
/// that set it, so it never outlives that poll; within it, after a handler of a pipelined
/// batch, it may still name that handler's route while the connection queues the response
/// and parses the next request (whose handler, if routed, sets its own).
#[inline(always)]
pub(crate) fn publish_route(route: Option<&'static str>) {
    spindle::task::set_route(route);
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

    /// With a period of 1 every request is timed; with 16, about one in 16: along one
    /// connection's requests, and across connections of one request each.
    #[test]
    fn sampling_period() {
        let r = Recorder::default();
        let along = |period: u32, n: usize| {
            r.set_sample_period(period);
            let mut sampler = r.sampler();
            (0..n).filter(|_| sampler.pick()).count()
        };
        let across = |period: u32, n: usize| {
            r.set_sample_period(period);
            (0..n).filter(|_| r.sampler().pick()).count()
        };
        assert_eq!(along(1, 100), 100);
        assert_eq!(across(1, 100), 100);
        for timed in [along(16, 16_000), across(16, 16_000)] {
            assert!(
                (800..1_200).contains(&timed),
                "{timed} of 16,000 timed at 1/16"
            );
        }
        r.set_sample_period(3);
        assert_eq!(r.sample_period(), 4, "3 rounds up to 4");
    }

    /// A tally keeps the method when the route is filled in, and the status picks the class.
    #[test]
    fn tally_series() {
        let r = Recorder::default();
        let t = Tally::start(Method::Head, false).with_route(r.route_index("/x"));
        assert_eq!(t.start, None);
        r.finish(t, 204, false);
        r.finish(Tally::NONE, 500, false);
        let s = r.snapshot();
        let all: Vec<_> = (s.routes.iter())
            .map(|r| (r.route.to_string(), r.method, r.status_class, r.count))
            .collect();
        assert_eq!(
            all,
            [
                (UNMATCHED.to_string(), "OTHER", "5xx", 1),
                ("/x".to_string(), "HEAD", "2xx", 1)
            ]
        );
        assert_eq!(s.requests, 2);
        assert_eq!(s.status_class(2), 1);
        assert_eq!(s.status_class(5), 1);
        assert_eq!(s.in_flight, 0);
        r.first_poll_begins();
        assert_eq!(Recorder::default().snapshot().in_flight, 0, "another app's");
        assert_eq!(
            r.snapshot().in_flight,
            1,
            "a handler's first poll, seen from its thread"
        );
        first_poll_ends();
        let mut batch = Batch::default();
        r.finish_batched(
            &mut batch,
            Tally::start(Method::Get, false),
            200,
            false,
            true,
        );
        assert_eq!(r.snapshot().requests, 2, "batched: not yet added");
        r.flush(&mut batch);
        assert!(batch.is_empty());
        r.finish_batched(
            &mut batch,
            Tally::start(Method::Get, false),
            200,
            false,
            false,
        );
        assert_eq!(
            r.snapshot().requests,
            4,
            "the last of a batch: added at once"
        );
        assert!(batch.is_empty());
        let s = r.snapshot();
        assert_eq!((s.in_flight, s.requests, s.duration.count()), (0, 4, 0));
        r.waiting();
        assert_eq!(r.snapshot().in_flight, 1);
        r.finish(Tally::start(Method::Get, true), 200, true);
        let s = r.snapshot();
        assert_eq!((s.in_flight, s.requests, s.duration.count()), (0, 5, 1));
    }
}

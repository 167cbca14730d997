//! Prometheus exposition: the runtime's metrics ([`spindle::metrics::RuntimeMetrics`]) and an
//! app's HTTP metrics ([`HttpSnapshot`]) as text format 0.0.4, the format every Prometheus
//! server scrapes.
//!
//! The format, as written here: each metric family opens with `# HELP name text` and
//! `# TYPE name counter|gauge|histogram`, then one line per series, `name{label="value",...}
//! value`. Names are `spindle_*` in base units (seconds, not nanoseconds); counters end in
//! `_total`. A histogram is its buckets as cumulative counts, `name_bucket{le="upper bound"}`
//! from the smallest bound up to `le="+Inf"` (which equals the count), then `name_sum` and
//! `name_count`. Label values escape backslash, double quote and line feed (`\\`, `\"`, `\n`),
//! `# HELP` text escapes backslash and line feed.
//!
//! Per-worker series carry a `worker="0"` label. The histograms of spindle (runtime and HTTP)
//! have buckets with exclusive upper bounds (`[128 ns, 256 ns)`), where Prometheus's `le` means
//! "at most": a sample exactly on a bound is counted one bucket higher than `le` says, a
//! nanosecond's difference.
//!
//! Mount it on any app with [`App::metrics_endpoint`](crate::App::metrics_endpoint), or route
//! [`handler`] yourself.
//!
//! ```
//! use spindle_http::metrics::prometheus;
//! use spindle_http::App;
//! let app = App::new().get("/", |_req: spindle_http::Request| async { "hi" });
//! let rt = spindle::Runtime::new().unwrap();
//! let text = prometheus::render(Some(&rt.handle().metrics()), Some(&app.metrics().snapshot()));
//! assert!(text.contains("# TYPE spindle_http_requests_total counter\n"));
//! assert!(text.contains("spindle_worker_polls_total{worker=\"0\"} "));
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;
use std::future::{ready, Ready};
use std::time::Duration;

use spindle::metrics::{RuntimeMetrics, WorkerState};

use super::{HttpMetrics, HttpSnapshot, REJECTION_STATUSES};
use crate::app::request::Request;
use crate::app::response::Response;

/// The `content-type` of the exposition: text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A handler that answers with the current runtime's metrics (the runtime it runs on) and
/// `http`'s, in the exposition format: what [`App::metrics_endpoint`](crate::App::metrics_endpoint)
/// mounts.
///
/// ```
/// use spindle_http::{metrics::prometheus, App};
/// let app = App::new();
/// let handler = prometheus::handler(app.metrics());
/// let app = app.get("/metrics", handler);
/// ```
pub fn handler(http: HttpMetrics) -> impl Fn(Request) -> Ready<Response> + Send + Sync + 'static {
    move |_req: Request| {
        let runtime = spindle::Handle::try_current().map(|h| h.metrics());
        let text = render(runtime.as_ref(), Some(&http.snapshot()));
        ready(Response::bytes(text).set_header("content-type", CONTENT_TYPE))
    }
}

/// The exposition of `runtime`'s and `http`'s metrics (either may be left out).
pub fn render(runtime: Option<&RuntimeMetrics>, http: Option<&HttpSnapshot>) -> String {
    let mut out = Exposition::default();
    if let Some(rt) = runtime {
        out.runtime(rt);
    }
    if let Some(http) = http {
        out.http(http);
    }
    out.text
}

/// The text being written.
#[derive(Default)]
struct Exposition {
    /// Everything written so far.
    text: String,
}

/// The kind of a metric family, for its `# TYPE` line.
#[derive(Clone, Copy)]
enum Kind {
    /// Only grows; the name ends in `_total`.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Exposition {
    /// `# HELP` and `# TYPE` for a family.
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One series: `name{labels} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        self.text.push(' ');
        value.write(&mut self.text);
        self.text.push('\n');
    }

    /// A family with one unlabelled series.
    fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A family with one series per worker, labelled `worker="i"`.
    fn per_worker<V: Value>(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        rt: &RuntimeMetrics,
        f: impl Fn(&spindle::metrics::WorkerMetrics) -> V,
    ) {
        self.family(name, kind, help);
        for (i, w) in rt.workers.iter().enumerate() {
            self.sample(name, &[("worker", &i.to_string())], f(w));
        }
    }

    /// A histogram: `buckets` are (exclusive upper bound or `None` for the last, samples in
    /// the bucket), shortest first; written cumulatively, ending with `+Inf`.
    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        buckets: impl Iterator<Item = (Option<Duration>, u64)>,
        sum: Duration,
    ) {
        self.family(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        let mut saw_inf = false;
        for (upper, n) in buckets {
            cumulative += n;
            match upper {
                Some(upper) => {
                    let le = format_f64(upper.as_secs_f64());
                    self.sample(&bucket, &[("le", &le)], cumulative);
                }
                None => {
                    self.sample(&bucket, &[("le", "+Inf")], cumulative);
                    saw_inf = true;
                }
            }
        }
        if !saw_inf {
            self.sample(&bucket, &[("le", "+Inf")], cumulative);
        }
        self.sample(&format!("{name}_sum"), &[], sum.as_secs_f64());
        self.sample(&format!("{name}_count"), &[], cumulative);
    }

    /// The runtime's families (see `docs/observe.md`, "Prometheus", for what each teaches).
    fn runtime(&mut self, rt: &RuntimeMetrics) {
        use Kind::{Counter, Gauge};
        self.per_worker(
            "spindle_worker_polls_total",
            Counter,
            "Tasks polled by the worker.",
            rt,
            |w| w.polls,
        );
        self.per_worker(
            "spindle_worker_busy_seconds_total",
            Counter,
            "Time the worker spent not parked: running tasks or looking for them.",
            rt,
            |w| w.busy.as_secs_f64(),
        );
        self.family("spindle_worker_parks_total", Counter, "Times the worker went to sleep: light (at most 1 ms, then it looks around again) or deep (until woken).");
        for (i, w) in rt.workers.iter().enumerate() {
            let worker = i.to_string();
            self.sample(
                "spindle_worker_parks_total",
                &[("worker", &worker), ("kind", "light")],
                w.parks_light,
            );
            self.sample(
                "spindle_worker_parks_total",
                &[("worker", &worker), ("kind", "deep")],
                w.parks_deep,
            );
        }
        self.per_worker(
            "spindle_worker_unparks_total",
            Counter,
            "Sleeps ended by another thread's notification.",
            rt,
            |w| w.unparks,
        );
        self.per_worker(
            "spindle_worker_steals_total",
            Counter,
            "Successful steals from a sibling worker's queue.",
            rt,
            |w| w.steals,
        );
        self.per_worker(
            "spindle_worker_stolen_tasks_total",
            Counter,
            "Tasks those steals moved to this worker.",
            rt,
            |w| w.stolen_tasks,
        );
        self.per_worker(
            "spindle_worker_steals_out_total",
            Counter,
            "Successful steals that sibling workers made from this worker's queue.",
            rt,
            |w| w.steals_out,
        );
        self.per_worker(
            "spindle_worker_stolen_out_tasks_total",
            Counter,
            "Tasks those steals took from this worker.",
            rt,
            |w| w.stolen_out_tasks,
        );
        self.per_worker(
            "spindle_worker_local_queue_depth",
            Gauge,
            "Tasks in the worker's local queue (the LIFO slot not counted).",
            rt,
            |w| w.local_queue_depth as u64,
        );
        self.per_worker(
            "spindle_worker_lifo_hits_total",
            Counter,
            "Tasks run from the LIFO slot (woken by the task that ran just before).",
            rt,
            |w| w.lifo_hits,
        );
        self.per_worker(
            "spindle_worker_overflowed_total",
            Counter,
            "Tasks the worker queued on the global injector instead of its own queues.",
            rt,
            |w| w.overflowed,
        );
        self.per_worker(
            "spindle_worker_budget_exhausted_total",
            Counter,
            "Polls that spent the whole cooperative budget and were made to yield.",
            rt,
            |w| w.budget_exhausted,
        );
        self.family(
            "spindle_worker_state",
            Gauge,
            "What the worker is doing: 1 for its current state, 0 for the others.",
        );
        for (i, w) in rt.workers.iter().enumerate() {
            let worker = i.to_string();
            for (state, label) in [
                (WorkerState::Busy, "busy"),
                (WorkerState::ParkedLight, "parked_light"),
                (WorkerState::ParkedDeep, "parked_deep"),
            ] {
                self.sample(
                    "spindle_worker_state",
                    &[("worker", &worker), ("state", label)],
                    u64::from(w.state == state),
                );
            }
        }
        let polls = rt.poll_duration();
        self.histogram(
            "spindle_poll_duration_seconds",
            "Duration of the timed polls (a sample of about one in 1024 by default), all workers.",
            polls.iter(),
            polls.sum(),
        );
        let latency = rt.schedule_latency();
        self.histogram(
            "spindle_schedule_latency_seconds",
            "From a timed task's wake (or spawn) to the start of its poll, all workers.",
            latency.iter(),
            latency.sum(),
        );
        self.single(
            "spindle_tasks_alive",
            Gauge,
            "Async tasks spawned and not yet finished.",
            rt.alive_tasks as u64,
        );
        self.single(
            "spindle_tasks_spawned_total",
            Counter,
            "Async tasks spawned since the runtime started.",
            rt.spawned_tasks,
        );
        self.single(
            "spindle_injector_depth",
            Gauge,
            "Tasks waiting in the global injector.",
            rt.injector_depth as u64,
        );
        self.single(
            "spindle_blocking_threads",
            Gauge,
            "Blocking-pool threads alive.",
            rt.blocking_threads as u64,
        );
        self.single(
            "spindle_blocking_idle_threads",
            Gauge,
            "Blocking-pool threads waiting for a job.",
            rt.blocking_idle_threads as u64,
        );
        self.single(
            "spindle_blocking_queue_depth",
            Gauge,
            "Blocking jobs waiting for a thread.",
            rt.blocking_queue_depth as u64,
        );
        self.single(
            "spindle_timers_pending",
            Gauge,
            "Timers (sleeps, timeouts, intervals) waiting to fire.",
            rt.pending_timers as u64,
        );
        self.single(
            "spindle_reactor_turns_total",
            Counter,
            "Times the reactor asked the OS for I/O events (epoll_wait calls).",
            rt.reactor_turns,
        );
        self.single(
            "spindle_reactor_events_total",
            Counter,
            "I/O events those turns delivered.",
            rt.reactor_events,
        );
        self.single(
            "spindle_reactor_registrations",
            Gauge,
            "Sockets registered with the reactor.",
            rt.registrations as u64,
        );
        self.single(
            "spindle_long_polls_total",
            Counter,
            "Polls that ran longer than the long-poll threshold (Builder::long_poll_threshold).",
            rt.long_polls,
        );
    }

    /// The HTTP families.
    fn http(&mut self, s: &HttpSnapshot) {
        use Kind::{Counter, Gauge};
        self.family(
            "spindle_http_requests_total",
            Counter,
            "Requests answered, by route template (<unmatched> when no handler ran), method and status class; counted when the response is ready.",
        );
        for r in &s.routes {
            self.sample(
                "spindle_http_requests_total",
                &[
                    ("route", &r.route),
                    ("method", r.method),
                    ("status", r.status_class),
                ],
                r.count,
            );
        }
        let d = &s.duration;
        self.histogram(
            "spindle_http_request_duration_seconds",
            "From the request's dispatch to its response being ready, for the timed requests (one in spindle_http_request_duration_sample_period).",
            d.iter(),
            d.sum(),
        );
        self.single(
            "spindle_http_request_duration_sample_period",
            Gauge,
            "One request in this many is timed for the duration histogram (1: every request).",
            u64::from(s.sample_period),
        );
        self.single(
            "spindle_http_requests_in_flight",
            Gauge,
            "Requests whose handler is running or waiting (counted from its first wait; a handler in its first poll only by a scrape on its own thread).",
            s.in_flight,
        );
        self.single(
            "spindle_http_connections_open",
            Gauge,
            "Connections open now.",
            s.open_connections,
        );
        self.single(
            "spindle_http_connections_total",
            Counter,
            "Connections accepted.",
            s.connections,
        );
        self.family(
            "spindle_http_rejections_total",
            Counter,
            "Requests the connection refused before any handler ran, by status (malformed or too large heads, slow heads, unsupported versions).",
        );
        for (i, status) in REJECTION_STATUSES.iter().enumerate() {
            self.sample(
                "spindle_http_rejections_total",
                &[("status", &status.to_string())],
                s.rejections[i],
            );
        }
        self.sample(
            "spindle_http_rejections_total",
            &[("status", "other")],
            s.rejections[REJECTION_STATUSES.len()],
        );
    }
}

/// A sample value.
trait Value {
    /// Appends the value as the format writes numbers.
    fn write(self, out: &mut String);
}

impl Value for u64 {
    fn write(self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl Value for f64 {
    fn write(self, out: &mut String) {
        out.push_str(&format_f64(self));
    }
}

/// A float as the format writes it: `+Inf`, `-Inf`, `NaN`, or Rust's shortest round-trip
/// decimal (`0.000000128`, `3`).
fn format_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// A label value with backslash, double quote and line feed escaped.
fn escape_label(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len() + 8);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `# HELP` text with backslash and line feed escaped.
fn escape_help(v: &str) -> Cow<'_, str> {
    if !v.contains(['\\', '\n']) {
        return Cow::Borrowed(v);
    }
    Cow::Owned(v.replace('\\', "\\\\").replace('\n', "\\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let table = [
            ("/users/{id}", "/users/{id}"),
            ("a\\b", "a\\\\b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("two\nlines", "two\\nlines"),
            ("\\\"\n", "\\\\\\\"\\n"),
        ];
        for (raw, escaped) in table {
            assert_eq!(escape_label(raw), escaped, "{raw:?}");
        }
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
        let mut e = Exposition::default();
        e.sample("m", &[("route", "/a\"b"), ("x", "\\")], 3u64);
        assert_eq!(e.text, "m{route=\"/a\\\"b\",x=\"\\\\\"} 3\n");
    }

    #[test]
    fn floats_as_the_format_writes_them() {
        assert_eq!(format_f64(1.28e-7), "0.000000128");
        assert_eq!(format_f64(3.0), "3");
        assert_eq!(format_f64(0.5), "0.5");
        assert_eq!(format_f64(f64::INFINITY), "+Inf");
        assert_eq!(format_f64(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_f64(f64::NAN), "NaN");
    }

    /// Buckets are cumulative, in increasing `le` order, `+Inf` last and equal to `_count`.
    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let mut e = Exposition::default();
        let buckets = [
            (Some(Duration::from_micros(1)), 2),
            (Some(Duration::from_micros(2)), 0),
            (Some(Duration::from_millis(1)), 5),
            (None, 1),
        ];
        e.histogram(
            "h_seconds",
            "a help\nline",
            buckets.into_iter(),
            Duration::from_millis(3),
        );
        let want = "# HELP h_seconds a help\\nline\n\
                    # TYPE h_seconds histogram\n\
                    h_seconds_bucket{le=\"0.000001\"} 2\n\
                    h_seconds_bucket{le=\"0.000002\"} 2\n\
                    h_seconds_bucket{le=\"0.001\"} 7\n\
                    h_seconds_bucket{le=\"+Inf\"} 8\n\
                    h_seconds_sum 0.003\n\
                    h_seconds_count 8\n";
        assert_eq!(e.text, want);
        // Without an unbounded last bucket, `+Inf` is still written.
        let mut e = Exposition::default();
        e.histogram(
            "g",
            "h",
            [(Some(Duration::from_secs(1)), 4)].into_iter(),
            Duration::from_secs(2),
        );
        assert!(
            e.text
                .ends_with("g_bucket{le=\"1\"} 4\ng_bucket{le=\"+Inf\"} 4\ng_sum 2\ng_count 4\n"),
            "{}",
            e.text
        );
    }

    /// Every family has HELP then TYPE before its samples, each name once; every sample line
    /// belongs to the family last declared.
    #[test]
    fn families_are_declared_once_before_their_samples() {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let app = crate::App::new().get("/", |_req: Request| async { "hi" });
        let text = render(
            Some(&rt.handle().metrics()),
            Some(&app.metrics().snapshot()),
        );
        let mut declared = std::collections::HashSet::new();
        let mut current = String::new();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(declared.insert(name.to_string()), "{name} declared twice");
                assert!(
                    lines[i + 1].starts_with(&format!("# TYPE {name} ")),
                    "{line}"
                );
                current = name.to_string();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|f| *f == current))
                    .unwrap_or(name);
                assert_eq!(family, current, "{line} outside its family");
                assert!(name.starts_with("spindle_"), "{line}");
            }
        }
        assert!(text.contains("spindle_worker_polls_total{worker=\"1\"} "));
        assert!(text.ends_with('\n'));
    }
}

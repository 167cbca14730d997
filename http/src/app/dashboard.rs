//! [`App::dashboard`]: a live page that shows the runtime at work, `GET /debug/runtime` in the
//! demo. One self-contained HTML page (`dashboard.html`, our own small script and canvas
//! drawing, nothing fetched from elsewhere) and a server-sent-events stream of metric
//! snapshots that feeds it.
//!
//! How the numbers travel:
//! 1. Every [`SNAPSHOT_INTERVAL`] (250 ms) the stream's producer task takes
//!    [`spindle::Handle::metrics`] (a read of each worker's own counters, no worker stopped),
//!    (with the detector's recent long-poll reports) and the app's HTTP metrics
//!    (`crate::metrics`: requests, status classes, connections, the duration histogram);
//! 2. writes them as one JSON object ([`snapshot_json`], written by hand so the page works
//!    without the `json` feature) and sends it as an SSE event named `snapshot`;
//! 3. the page keeps the last minute of snapshots and subtracts neighbours to get rates
//!    (polls/s, steals/s, req/s) and the latency percentiles of the last second: the server
//!    sends only counters that grow and gauges read at the instant.
//!
//! Each connected page has its own producer (snapshots are cheap: see `Handle::metrics`); it
//! stops when the page goes away (`sse.rs`) or when a graceful shutdown begins. Talks to: `sse.rs` (the stream), the runtime's
//! `metrics` module (the numbers).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use spindle::metrics::{Histogram, RuntimeMetrics, WorkerState};

use crate::app::request::Request;
use crate::app::response::Response;
use crate::app::sse::Event;
use crate::app::App;
use crate::metrics::{HttpMetrics, HttpSnapshot};

/// How often a connected page gets a snapshot.
pub(crate) const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(250);

/// The page. `__EVENTS_URL__` is replaced by the stream's path (a JSON string) when mounted.
const PAGE: &str = include_str!("dashboard.html");

impl App {
    /// Mounts the live runtime dashboard: `GET path` serves the page and `GET path/events` the
    /// stream of snapshots it draws (one SSE event named `snapshot` every 250 ms, its data one
    /// JSON object). Open `path` in a browser while the server is under load.
    ///
    /// # Panics
    /// As [`App::route`], if `path` is not a valid pattern or is already routed.
    ///
    /// ```
    /// use spindle_http::{App, Request};
    /// let app = App::new()
    ///     .get("/", |_req: Request| async { "hello" })
    ///     .dashboard("/debug/runtime");
    /// assert!(app
    ///     .routes()
    ///     .contains(&("GET".to_string(), "/debug/runtime/events".to_string())));
    /// ```
    pub fn dashboard(self, path: &str) -> App {
        let events = format!("{}/events", path.trim_end_matches('/'));
        let page: Arc<str> = PAGE.replace("__EVENTS_URL__", &json_string(&events)).into();
        // The app's own counters: this handle sees every request the finished app serves.
        let http = self.metrics();
        let draining = self.draining_flag();
        self.get(path, move |_req: Request| {
            let page = page.clone();
            async move { Response::html(page.to_string()).with_header("cache-control", "no-store") }
        })
        .get(&events, move |_req: Request| {
            let (http, draining) = (http.clone(), draining.clone());
            async move { snapshot_stream(http, draining) }
        })
    }
}

/// The SSE response behind `path/events`: a snapshot now, then one every [`SNAPSHOT_INTERVAL`],
/// until the page goes away or the server begins a graceful shutdown (`draining`): a stream
/// that never ended would hold the shutdown for its whole timeout.
fn snapshot_stream(http: HttpMetrics, draining: Arc<AtomicBool>) -> Response {
    let handle = spindle::Handle::current();
    Response::sse(|tx| async move {
        let start = Instant::now();
        let mut ticks = spindle::time::interval(SNAPSHOT_INTERVAL);
        // A page that fell behind (its worker was stuck) gets the next snapshot on the grid,
        // not a burst of the missed ones: they would all say the same.
        ticks.set_missed_tick_behavior(spindle::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            if draining.load(Ordering::SeqCst) {
                return; // the body ends; the browser's EventSource will try to reconnect
            }
            let json = snapshot_json(&handle.metrics(), &http.snapshot(), start);
            if tx
                .send(Event::new().event("snapshot").data(json))
                .await
                .is_err()
            {
                return; // the page went away
            }
        }
    })
}

/// One snapshot as a JSON object, `t_ms` counted from `start` (the stream's beginning).
///
/// ```text
/// {"t_ms":1250.3,"interval_ms":250,
///  "workers":[{"state":"busy","polls":..,"busy_ns":..,"parks_light":..,"parks_deep":..,
///              "unparks":..,"steals":..,"stolen_tasks":..,"steals_out":..,
///              "stolen_out_tasks":..,"queue":..,"lifo_hits":..,
///              "overflowed":..,"budget_exhausted":..}, ...],
///  "alive_tasks":..,"spawned_tasks":..,"injector":..,
///  "blocking":{"threads":..,"idle":..,"queued":..},"timers":..,
///  "reactor":{"turns":..,"events":..,"registrations":..},
///  "poll_duration":{"sum_ns":..,"buckets":[..]},"schedule_latency":{..},
///  "http":{..},"long_polls_total":N,"long_polls":[..]}
/// ```
pub(crate) fn snapshot_json(m: &RuntimeMetrics, http: &HttpSnapshot, start: Instant) -> String {
    let mut o = String::with_capacity(2048);
    let t_ms = m.taken_at.saturating_duration_since(start).as_secs_f64() * 1e3;
    // `write!` into a String cannot fail: the `let _` below ignore an always-Ok result.
    let _ = write!(
        o,
        "{{\"t_ms\":{t_ms:.3},\"interval_ms\":{},\"workers\":[",
        SNAPSHOT_INTERVAL.as_millis()
    );
    for (i, w) in m.workers.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let state = match w.state {
            WorkerState::Busy => "busy",
            WorkerState::ParkedLight => "parked_light",
            WorkerState::ParkedDeep => "parked_deep",
            _ => "unknown",
        };
        let _ = write!(
            o,
            "{{\"state\":\"{state}\",\"polls\":{},\"busy_ns\":{},\"parks_light\":{},\
             \"parks_deep\":{},\"unparks\":{},\"steals\":{},\"stolen_tasks\":{},\
             \"steals_out\":{},\"stolen_out_tasks\":{},\"queue\":{},\
             \"lifo_hits\":{},\"overflowed\":{},\"budget_exhausted\":{}}}",
            w.polls,
            w.busy.as_nanos(),
            w.parks_light,
            w.parks_deep,
            w.unparks,
            w.steals,
            w.stolen_tasks,
            w.steals_out,
            w.stolen_out_tasks,
            w.local_queue_depth,
            w.lifo_hits,
            w.overflowed,
            w.budget_exhausted,
        );
    }
    let _ = write!(
        o,
        "],\"alive_tasks\":{},\"spawned_tasks\":{},\"injector\":{},\
         \"blocking\":{{\"threads\":{},\"idle\":{},\"queued\":{}}},\"timers\":{},\
         \"reactor\":{{\"turns\":{},\"events\":{},\"registrations\":{}}}",
        m.alive_tasks,
        m.spawned_tasks,
        m.injector_depth,
        m.blocking_threads,
        m.blocking_idle_threads,
        m.blocking_queue_depth,
        m.pending_timers,
        m.reactor_turns,
        m.reactor_events,
        m.registrations,
    );
    o.push_str(",\"poll_duration\":");
    histogram_json(&mut o, &m.poll_duration());
    o.push_str(",\"schedule_latency\":");
    histogram_json(&mut o, &m.schedule_latency());
    o.push_str(",\"http\":");
    http_json(&mut o, http);
    let _ = write!(o, ",\"long_polls_total\":{},\"long_polls\":", m.long_polls);
    long_polls_json(&mut o, m);
    o.push('}');
    o
}

/// `{"sum_ns":N,"buckets":[..]}`: bucket `i` counts durations below `2^(7+i)` ns, the last
/// one everything longer (the runtime's `Histogram`); the page turns bucket differences
/// into the percentiles of the last second.
fn histogram_json(o: &mut String, h: &Histogram) {
    let _ = write!(o, "{{\"sum_ns\":{},\"buckets\":[", h.sum().as_nanos());
    for (i, n) in h.buckets().iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(o, "{n}");
    }
    o.push_str("]}");
}

/// The app's HTTP metrics: `{"requests":N,"status":[1xx,2xx,3xx,4xx,5xx,other],
/// "in_flight":N,"connections":N,"accepted":N,"sample_period":N,
/// "latency":{"bounds_ns":[..],"counts":[..]}}`; the last latency bound is `null` (unbounded).
fn http_json(o: &mut String, h: &HttpSnapshot) {
    let _ = write!(o, "{{\"requests\":{},\"status\":[", h.requests);
    for (i, n) in h.status_classes.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(o, "{n}");
    }
    let _ = write!(
        o,
        "],\"in_flight\":{},\"connections\":{},\"accepted\":{},\"sample_period\":{},\
         \"latency\":{{\"bounds_ns\":[",
        h.in_flight, h.open_connections, h.connections, h.sample_period
    );
    let buckets = h.duration.buckets();
    for i in 0..buckets.len() {
        if i > 0 {
            o.push(',');
        }
        match h.duration.bucket_upper_bound(i) {
            Some(d) => {
                let _ = write!(o, "{}", d.as_nanos());
            }
            None => o.push_str("null"),
        }
    }
    o.push_str("],\"counts\":[");
    for (i, n) in buckets.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(o, "{n}");
    }
    o.push_str("]}}");
}

/// The detector's recent reports, oldest first: an array of `{"worker":N,"task":"id",
/// "name":".."|null,"site":"file:line:col","route":".."|null,"ms":F,"done":bool}`, where `ms`
/// is the whole poll once it returned (`done`), else how long it had run when reported.
fn long_polls_json(o: &mut String, m: &RuntimeMetrics) {
    o.push('[');
    for (i, p) in m.recent_long_polls.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let name = p.name.as_deref().map_or("null".to_string(), json_string);
        let route = p.route.map_or("null".to_string(), json_string);
        let ms = p.total.unwrap_or(p.so_far).as_secs_f64() * 1e3;
        let _ = write!(
            o,
            "{{\"worker\":{},\"task\":{},\"name\":{name},\"site\":{},\"route\":{route},\
             \"ms\":{ms:.1},\"done\":{}}}",
            p.worker,
            json_string(&p.task_id.to_string()),
            json_string(&p.spawn_site.to_string()),
            p.total.is_some(),
        );
    }
    o.push(']');
}

/// `s` as a JSON string literal (quotes, backslashes and control characters escaped).
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `<` too, so a string can never close the page's <script> element.
            c if (c as u32) < 0x20 || c == '<' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(
            json_string("a\"b\\c\nd\u{1}</"),
            r#""a\"b\\c\nd\u0001\u003c/""#
        );
    }

    /// The snapshot is valid JSON with one entry per worker (checked with serde_json, which
    /// the tests have through the default `json` feature).
    #[cfg(feature = "json")]
    #[test]
    fn snapshot_is_json_with_one_entry_per_worker() {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(3)
            .build()
            .unwrap();
        rt.block_on(async { spindle::spawn(async {}).await.unwrap() });
        let start = Instant::now();
        let http = App::new().metrics().snapshot();
        let text = snapshot_json(&rt.handle().metrics(), &http, start);
        let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert_eq!(v["workers"].as_array().unwrap().len(), 3);
        assert!(v["workers"][0]["state"].is_string());
        assert_eq!(v["spawned_tasks"], 1);
        assert_eq!(v["poll_duration"]["buckets"].as_array().unwrap().len(), 27);
        assert_eq!(v["http"]["requests"], 0);
        let bounds = v["http"]["latency"]["bounds_ns"].as_array().unwrap();
        assert_eq!(
            bounds.len(),
            v["http"]["latency"]["counts"].as_array().unwrap().len()
        );
        assert!(bounds.last().unwrap().is_null());
        assert!(v["long_polls"].is_array());
    }

    /// A task that blocks its worker for 50 ms shows up in `long_polls` with its name and
    /// spawn site (the runtime's detector is on by default at 10 ms).
    #[cfg(feature = "json")]
    #[test]
    fn long_polls_carry_name_and_site() {
        let rt = spindle::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        // The monitor is a thread: on a loaded machine it may not run during one 50 ms block,
        // so block again until it has reported (at most 100 times).
        for _ in 0..100 {
            rt.block_on(async {
                spindle::task::Builder::new()
                    .name("sleepy \"one\"")
                    .spawn(async { std::thread::sleep(Duration::from_millis(50)) })
                    .unwrap()
                    .await
                    .unwrap();
            });
            if rt.handle().metrics().long_polls > 0 {
                break;
            }
        }
        let http = App::new().metrics().snapshot();
        let text = snapshot_json(&rt.handle().metrics(), &http, Instant::now());
        let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
        assert!(v["long_polls_total"].as_u64().unwrap() >= 1, "{text}");
        let report = &v["long_polls"][0];
        assert_eq!(report["name"], "sleepy \"one\"");
        assert!(
            report["site"].as_str().unwrap().contains("dashboard.rs"),
            "{report}"
        );
        assert!(report["ms"].as_f64().unwrap() >= 10.0, "{report}");
    }
}

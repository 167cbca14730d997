//! End-to-end: `GET /metrics` read by a real client (python3's http.client) and parsed by a
//! real parser (`prometheus_client.parser.text_string_to_metric_families`, installed by
//! `.ci/run`), after a known workload over real sockets: the counts per route, method and
//! status class are exact, the malformed request is a counted 400 rejection, histograms are
//! cumulative and end in `+Inf` equal to `_count`, and per-worker series carry `worker`.
//!
//! When a request is counted: once its response is ready, before it is written (see
//! `spindle_http::metrics`). The workload reads every response before the scrape, so every
//! count is final when `/metrics` renders; the scrape itself is the one request in flight.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{exchange_until_close, python, status_of, Demo};
use spindle_http::serde_json::{self, Value};
use spindle_http::{App, Request, Server};

/// Fetches `/metrics` with http.client, parses it with prometheus_client, and prints JSON:
/// status, content type, and per family its type and samples `[name, labels, value]`.
const SCRAPE: &str = r#"
import sys, json, http.client
from prometheus_client.parser import text_string_to_metric_families
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/metrics")
r = c.getresponse()
body = r.read().decode("utf-8")
families = {}
for fam in text_string_to_metric_families(body):
    families[fam.name] = {
        "type": fam.type,
        "samples": [[s.name, s.labels, s.value] for s in fam.samples],
    }
print(json.dumps({"status": r.status, "content_type": r.getheader("content-type"), "families": families}))
"#;

/// A parsed scrape.
struct Scrape {
    /// The whole JSON the script printed.
    json: Value,
}

impl Scrape {
    /// Scrapes the server at `addr`.
    fn of(addr: SocketAddr) -> Scrape {
        let out = python(SCRAPE, addr);
        let json: Value = serde_json::from_str(out.trim()).expect("the script prints JSON");
        assert_eq!(json["status"], 200);
        assert_eq!(
            json["content_type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        Scrape { json }
    }

    /// The samples named `sample` (all families), as (labels, value).
    fn samples(&self, sample: &str) -> Vec<(HashMap<String, String>, f64)> {
        let mut out = Vec::new();
        for fam in self.json["families"].as_object().unwrap().values() {
            for s in fam["samples"].as_array().unwrap() {
                if s[0] == sample {
                    let labels = s[1]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                        .collect();
                    out.push((labels, s[2].as_f64().unwrap()));
                }
            }
        }
        out
    }

    /// The value of the one sample named `sample` whose labels include `want`; 0 if none.
    fn value(&self, sample: &str, want: &[(&str, &str)]) -> f64 {
        let hits: Vec<f64> = self
            .samples(sample)
            .into_iter()
            .filter(|(labels, _)| {
                want.iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| v)
            .collect();
        assert!(
            hits.len() <= 1,
            "{sample} {want:?} matches {} series",
            hits.len()
        );
        hits.first().copied().unwrap_or(0.0)
    }

    /// The family's type as the parser read it (`counter`, `gauge`, `histogram`).
    fn kind(&self, family: &str) -> String {
        self.json["families"][family]["type"]
            .as_str()
            .unwrap_or_else(|| panic!("no family {family}"))
            .to_string()
    }

    /// Checks a histogram: buckets in increasing `le` order, cumulative, `+Inf` last and equal
    /// to `_count`; returns `_count`.
    fn histogram(&self, name: &str) -> f64 {
        assert_eq!(self.kind(name), "histogram");
        let buckets = self.samples(&format!("{name}_bucket"));
        assert!(buckets.len() >= 2, "{name}: {} buckets", buckets.len());
        let mut last_le = f64::NEG_INFINITY;
        let mut last_count = 0.0;
        for (labels, count) in &buckets {
            let le: f64 = match labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                le => le.parse().unwrap(),
            };
            assert!(le > last_le, "{name}: le {le} after {last_le}");
            assert!(*count >= last_count, "{name}: bucket counts not cumulative");
            (last_le, last_count) = (le, *count);
        }
        assert_eq!(last_le, f64::INFINITY, "{name}: the last bucket is +Inf");
        let count = self.value(&format!("{name}_count"), &[]);
        assert_eq!(last_count, count, "{name}: +Inf equals _count");
        assert!(self.value(&format!("{name}_sum"), &[]) >= 0.0);
        count
    }
}

/// The workload: 7 `GET /`, 3 `GET /users/1`, 2 `GET /nope` (404) on one keep-alive
/// connection, then one malformed request (400) on its own.
fn workload(addr: SocketAddr) {
    let mut raw = String::new();
    for target in ["/"; 7]
        .into_iter()
        .chain(["/users/1"; 3])
        .chain(["/nope"; 2])
    {
        raw += &format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    raw += "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"; // the 8th GET /
    let out = exchange_until_close(addr, raw.as_bytes());
    assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 11, "{out}");
    assert_eq!(out.matches("HTTP/1.1 404").count(), 2, "{out}");
    let out = exchange_until_close(addr, b"GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    assert_eq!(status_of(&out), 400);
}

/// The counts the workload must give, whatever else the scrape holds.
fn check_counts(s: &Scrape) {
    assert_eq!(s.kind("spindle_http_requests"), "counter");
    let requests = |route, method, status| {
        s.value(
            "spindle_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("/", "GET", "2xx"), 8.0);
    assert_eq!(requests("/users/{id}", "GET", "2xx"), 3.0);
    assert_eq!(requests("<unmatched>", "GET", "4xx"), 2.0);
    let total: f64 = s
        .samples("spindle_http_requests_total")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        total, 13.0,
        "no other request counted (the scrape is in flight)"
    );
    assert_eq!(
        s.value("spindle_http_rejections_total", &[("status", "400")]),
        1.0
    );
    assert_eq!(
        s.value("spindle_http_rejections_total", &[("status", "431")]),
        0.0
    );
    assert_eq!(s.value("spindle_http_requests_in_flight", &[]), 1.0);
    assert_eq!(s.value("spindle_http_connections_total", &[]), 3.0);
    // Per-worker runtime series, one per worker (the demo and the test server have 2).
    let polls = s.samples("spindle_worker_polls_total");
    let mut workers: Vec<&str> = polls.iter().map(|(l, _)| l["worker"].as_str()).collect();
    workers.sort_unstable();
    assert_eq!(workers, ["0", "1"]);
    assert!(polls.iter().map(|(_, v)| v).sum::<f64>() > 0.0);
    assert_eq!(s.kind("spindle_worker_local_queue_depth"), "gauge");
    s.histogram("spindle_poll_duration_seconds");
    s.histogram("spindle_schedule_latency_seconds");
}

/// The demo's `GET /metrics` (access log on, so every request goes through a middleware;
/// durations sampled, so the histogram holds at most the 13 requests).
#[test]
fn demo_metrics_parse_and_count_the_workload() {
    let demo = Demo::start(&[]);
    workload(demo.addr);
    let s = Scrape::of(demo.addr);
    check_counts(&s);
    let timed = s.histogram("spindle_http_request_duration_seconds");
    assert!(timed <= 13.0, "{timed} timed requests of 13");
    // The demo's routes are known; curl sees the same text.
    let (text, _) = common::curl(&[&demo.url("/metrics")]);
    assert!(text.contains("# TYPE spindle_http_request_duration_seconds histogram\n"));
}

/// An app timing every request (`duration_sample_period(1)`) on 127.0.0.1:0: the duration
/// histogram's `_count` equals the request count.
#[test]
fn every_request_timed_gives_count_equal_to_requests() {
    let app = App::new()
        .duration_sample_period(1)
        .metrics_endpoint("/metrics")
        .get("/", |_req: Request| async { "Hello, World!" })
        .get("/users/{id}", |req: Request| async move {
            format!("user {}\n", req.param("id").unwrap_or_default())
        });
    let rt = spindle::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let server = rt
        .block_on(Server::bind("127.0.0.1:0").start(app))
        .expect("bind 127.0.0.1:0");
    let addr = server.local_addr();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        workload(addr);
        let _ = tx.send(Scrape::of(addr).json);
    });
    let json = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the workload and the scrape finish within 60 s");
    rt.block_on(server.shutdown());
    let s = Scrape { json };
    check_counts(&s);
    assert_eq!(s.histogram("spindle_http_request_duration_seconds"), 13.0);
    assert_eq!(
        s.value("spindle_http_request_duration_sample_period", &[]),
        1.0
    );
}

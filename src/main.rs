//! The spindle demo server: `cargo run --release` serves it on http://127.0.0.1:8080.
//!
//! Every route shows one idea from the seed notes (FastAPI / Starlette / Uvicorn), running on
//! spindle's own runtime and HTTP server:
//!
//! | route | idea |
//! |---|---|
//! | `GET /` | the smallest async handler |
//! | `GET /hi` | `await asyncio.sleep(1)`: a timer, no thread held while waiting |
//! | `GET /sleep?ms=N`, `GET /async-sleep?ms=N` | the same with a chosen delay (`await asyncio.sleep(n)`) |
//! | `GET /users/{id}` | a path parameter |
//! | `POST /echo` | reading the request body (Content-Length or chunked, 100-continue) |
//! | `GET /blocking?ms=N`, `GET /normal?ms=N` | a plain `def` handler: blocking work on the blocking pool |
//! | `GET /dump?ms=N` | the mistake: `time.sleep` inside `async def` blocks a worker; the long-poll detector reports it on stderr |
//! | `GET /stream?n=N` | a streamed (chunked) response, ASGI-style |
//! | `GET /json` | a JSON response |
//! | `/headers` (any method) | the request's header fields as received |
//! | `GET /cookies` | the parsed cookies |
//! | `GET /healthz` | 200, or 503 once a graceful shutdown has begun (for a load balancer) |
//! | `GET /debug/runtime` | the live runtime dashboard (workers, queues, pool, timers), fed by SSE |
//! | `GET /metrics` | the runtime's and the server's metrics for Prometheus (`docs/observe.md`) |
//! | `GET /debug/trace` | the scheduling trace so far, as JSON to open in Perfetto (`--no-trace` turns it off) |
//!
//! `--max-connections N` caps the connections served at once (default 10,000; clients past it
//! wait in the listen backlog).
//!
//! Flags: `--port N` (0 picks a free port), `--workers N` (default: one per core),
//! `--host ADDR` (default 127.0.0.1), `--header-timeout-ms N` (default 10000), `--no-access-log`
//! (like uvicorn's; the benchmarks use it), `--processes N` (N processes on one port with
//! SO_REUSEPORT, supervised by this one: `src/processes.rs`), `--drain-delay-ms N` /
//! `--drain-grace-ms N` (see `Server::drain_delay` / `drain_grace`), `--no-trace` (the
//! flight recorder is on by default, keeping each thread's last 16,384 events for
//! `/debug/trace`; `SPINDLE_TRACE` / `SPINDLE_TRACE_EVENTS` choose otherwise). Stops gracefully
//! on Ctrl-C / SIGTERM.

mod processes;

use std::time::Duration;

use spindle_http::{AccessLog, App, HttpError, Request, Response, Server, ServerConfig};

/// Upper bound on `ms` parameters, so a client cannot park a request for hours.
const MAX_MS: u64 = 60_000;
/// Upper bound on `/stream?n=`.
const MAX_CHUNKS: u64 = 100_000;
/// Events each runtime thread's trace ring keeps in the demo (`docs/benchmarks.md` has the cost).
const DEMO_TRACE_EVENTS: &str = "16384";

fn main() {
    // The libraries print nothing themselves; the demo shows their reports (accept errors,
    // the shutdown signal) on stderr, one line each.
    spindle::report::set_hook(spindle::report::stderr);
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}\nusage: spindle-demo [--host ADDR] [--port N] [--workers N] [--header-timeout-ms N] [--max-connections N] [--drain-delay-ms N] [--drain-grace-ms N] [--no-access-log] [--no-trace] [--processes N]");
            std::process::exit(2);
        }
    };
    // The server builds its runtime from the environment's trace settings; the demo asks for
    // an in-memory recorder unless told otherwise. Still one thread here, so setting the
    // environment races with nothing.
    if !args.trace {
        std::env::remove_var("SPINDLE_TRACE");
        std::env::remove_var("SPINDLE_TRACE_EVENTS");
    } else if std::env::var_os("SPINDLE_TRACE_EVENTS").is_none() {
        std::env::set_var("SPINDLE_TRACE_EVENTS", DEMO_TRACE_EVENTS);
    }
    if let Some(n) = args.processes {
        std::process::exit(processes::supervise(
            n,
            args.port,
            processes::forwarded_args(),
        ));
    }
    let app = demo_app(args.access_log);
    let mut server = Server::bind((args.host.as_str(), args.port));
    if processes::is_child() {
        server = server.reuse_port(1); // share the port with the supervisor's other children
    }
    if let Some(n) = args.workers {
        server = server.workers(n);
    }
    if let Some(n) = args.max_connections {
        server = server.max_connections(n);
    }
    server = server
        .drain_delay(Duration::from_millis(args.drain_delay_ms))
        .drain_grace(Duration::from_millis(args.drain_grace_ms));
    if let Some(ms) = args.header_timeout_ms {
        server = server.config(ServerConfig {
            header_timeout: Duration::from_millis(ms),
            ..ServerConfig::default()
        });
    }
    let routes = app.routes();
    let result = server.serve_with(app, |addr| {
        println!("spindle demo listening on http://{addr}");
        println!("routes:");
        for (method, path) in &routes {
            println!("  {method:<7} {path}");
        }
        println!("press Ctrl-C to stop");
    });
    if let Err(e) = result {
        eprintln!("spindle demo: {e}");
        std::process::exit(1);
    }
}

/// `GET /debug/trace`: the runtime's scheduling trace as a JSON download for Perfetto. The
/// JSON is built on the blocking pool (a few milliseconds for full rings), not on a worker.
async fn debug_trace() -> Response {
    let handle = spindle::Handle::current();
    match spindle::task::spawn_blocking(move || handle.trace_json()).await {
        Ok(Some(json)) => Response::bytes(json)
            .set_header("content-type", "application/json")
            .set_header(
                "content-disposition",
                "attachment; filename=\"spindle-trace.json\"",
            ),
        Ok(None) => Response::text("tracing is off: the demo was started with --no-trace\n")
            .with_status(404),
        Err(_) => Response::text("could not build the trace\n").with_status(500),
    }
}

/// The demo's routes, with an access-log line per request unless `access_log` is false.
fn demo_app(access_log: bool) -> App {
    let app = if access_log {
        App::new().middleware(AccessLog::new())
    } else {
        App::new()
    };
    app.healthz()
        .dashboard("/debug/runtime")
        .metrics_endpoint("/metrics")
        .get("/", |_req: Request| async { "Hello, World!" })
        .get("/debug/trace", |_req: Request| debug_trace())
        .get("/hi", |_req: Request| async {
            spindle::time::sleep(Duration::from_secs(1)).await;
            "Hi, after one second on a timer\n"
        })
        .get("/sleep", timer_sleep)
        .get("/async-sleep", timer_sleep)
        .get("/dump", worker_sleep)
        .get("/users/{id}", |req: Request| async move {
            Response::text(format!("user {}\n", req.param("id").unwrap_or_default()))
        })
        .post("/echo", |mut req: Request| async move {
            let content_type = req
                .header("content-type")
                .unwrap_or("application/octet-stream")
                .to_string();
            let body = req.bytes().await?;
            Ok::<_, HttpError>(Response::bytes(body).set_header("content-type", content_type))
        })
        .get_blocking("/blocking", pool_sleep)
        .get_blocking("/normal", pool_sleep)
        .get("/stream", |req: Request| async move {
            let n = match req.query_param("n") {
                None => 5,
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n <= MAX_CHUNKS => n,
                    _ => {
                        return Err(HttpError::new(
                            400,
                            format!("n must be an integer from 0 to {MAX_CHUNKS}"),
                        ))
                    }
                },
            };
            Ok(Response::stream(
                "text/plain; charset=utf-8",
                move |tx| async move {
                    for i in 0..n {
                        if tx.send(format!("chunk {i}\n")).await.is_err() {
                            return; // the client went away
                        }
                    }
                },
            ))
        })
        .get("/json", |_req: Request| async {
            Response::json(&spindle_http::serde_json::json!({
                "message": "Hello, World!",
                "runtime": "spindle",
                "features": ["work-stealing", "epoll reactor", "timing wheel", "blocking pool"],
            }))
        })
        .any("/headers", |req: Request| async move {
            let mut out = String::new();
            for field in req.head().headers() {
                out.push_str(field.name());
                out.push_str(": ");
                out.push_str(&String::from_utf8_lossy(field.value()));
                out.push('\n');
            }
            Response::text(out)
        })
        .get("/cookies", |req: Request| async move {
            let mut out = String::new();
            for (name, value) in req.cookies() {
                out.push_str(&format!("{name}={value}\n"));
            }
            Response::text(out)
        })
}

/// `GET /sleep`, `GET /async-sleep`: `await asyncio.sleep(ms)`, a timer; the worker runs other
/// tasks meanwhile.
async fn timer_sleep(req: Request) -> Result<String, HttpError> {
    let ms = ms_param(&req)?;
    spindle::time::sleep(Duration::from_millis(ms)).await;
    Ok(format!("slept {ms} ms on a timer\n"))
}

/// `GET /blocking`, `GET /normal`: a plain `def` handler; the blocking sleep is fine here,
/// because this handler runs on the blocking pool.
fn pool_sleep(req: Request) -> Result<String, HttpError> {
    let ms = ms_param(&req)?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(format!("blocked a pool thread for {ms} ms\n"))
}

/// `GET /dump`: `time.sleep(ms)` inside `async def`, the mistake the seed notes warn about.
/// The worker thread sleeps inside the poll and runs nothing else meanwhile; the runtime's
/// long-poll detector reports it on stderr (task, spawn site, route). At most
/// [`MAX_DUMP_MS`], since it stalls a worker.
async fn worker_sleep(req: Request) -> Result<String, HttpError> {
    let ms = ms_param(&req)?.min(MAX_DUMP_MS);
    // The report names the route: the server labels every handler's poll with it
    // (`spindle::task::set_route`).
    std::thread::sleep(Duration::from_millis(ms)); // blocks the worker: don't do this
    Ok(format!("blocked a worker for {ms} ms\n"))
}

/// The most `GET /dump` blocks a worker for.
const MAX_DUMP_MS: u64 = 5_000;

/// The `ms` query parameter (default 100), bounded by [`MAX_MS`].
fn ms_param(req: &Request) -> Result<u64, HttpError> {
    match req.query_param("ms") {
        None => Ok(100),
        Some(v) => match v.parse::<u64>() {
            Ok(ms) if ms <= MAX_MS => Ok(ms),
            _ => Err(HttpError::new(
                400,
                format!("ms must be an integer from 0 to {MAX_MS}"),
            )),
        },
    }
}

/// Command-line flags.
#[derive(Debug)]
struct Args {
    /// Address to bind.
    host: String,
    /// Port to bind (0: any free port; the banner says which).
    port: u16,
    /// Worker threads (None: one per core).
    workers: Option<usize>,
    /// Override of the request-head deadline (default 10 s); the slowloris test shortens it.
    header_timeout_ms: Option<u64>,
    /// Override of the connection limit (the server's default: 10,000).
    max_connections: Option<usize>,
    /// `--drain-delay-ms`: listeners stay open this long after SIGTERM (`/healthz` says 503).
    drain_delay_ms: u64,
    /// `--drain-grace-ms`: then accepted connections may still deliver a request this long.
    drain_grace_ms: u64,
    /// Print an access-log line per request (uvicorn's default); `--no-access-log` for benchmarks.
    access_log: bool,
    /// `--processes N`: run N supervised processes on one port instead of serving here.
    processes: Option<usize>,
    /// Record a scheduling trace for `/debug/trace`; `--no-trace` turns it off.
    trace: bool,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut args = Args {
            host: "127.0.0.1".to_string(),
            port: 8080,
            workers: None,
            header_timeout_ms: None,
            max_connections: None,
            drain_delay_ms: 0,
            drain_grace_ms: 1000,
            access_log: true,
            processes: None,
            trace: true,
        };
        while let Some(flag) = it.next() {
            let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
            match flag.as_str() {
                "--host" => args.host = value("--host")?,
                "--port" => {
                    args.port = value("--port")?
                        .parse()
                        .map_err(|e| format!("--port: {e}"))?
                }
                "--workers" => {
                    let n: usize = value("--workers")?
                        .parse()
                        .map_err(|e| format!("--workers: {e}"))?;
                    if n == 0 {
                        return Err("--workers must be at least 1".into());
                    }
                    args.workers = Some(n);
                }
                "--header-timeout-ms" => {
                    let ms = value("--header-timeout-ms")?
                        .parse()
                        .map_err(|e| format!("--header-timeout-ms: {e}"))?;
                    args.header_timeout_ms = Some(ms);
                }
                "--max-connections" => {
                    let n: usize = value("--max-connections")?
                        .parse()
                        .map_err(|e| format!("--max-connections: {e}"))?;
                    if n == 0 {
                        return Err("--max-connections must be at least 1".into());
                    }
                    args.max_connections = Some(n);
                }
                "--drain-delay-ms" => {
                    args.drain_delay_ms = value("--drain-delay-ms")?
                        .parse()
                        .map_err(|e| format!("--drain-delay-ms: {e}"))?
                }
                "--drain-grace-ms" => {
                    args.drain_grace_ms = value("--drain-grace-ms")?
                        .parse()
                        .map_err(|e| format!("--drain-grace-ms: {e}"))?
                }
                "--no-access-log" => args.access_log = false,
                "--no-trace" => args.trace = false,
                "--processes" => match value("--processes")?.parse::<usize>() {
                    Ok(n) if n >= 1 => args.processes = Some(n),
                    _ => return Err("--processes must be an integer of at least 1".into()),
                },
                "-h" | "--help" => return Err("spindle demo server".into()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(args)
    }
}

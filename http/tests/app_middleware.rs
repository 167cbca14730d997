//! Middleware through the public `App::handle` entry point: chain order, short-circuiting,
//! `ConcurrencyLimit` shedding load while a handler holds the only permit, the `AccessLog`
//! line format, and the `Timing` header fields.

mod common;

use common::within;

use std::sync::{Arc, Mutex};

use spindle::sync::Notify;
use spindle_http::{
    from_fn, AccessLog, App, Body, ConcurrencyLimit, Limits, Next, Request, RequestParser,
    Response, Timing,
};

/// `method target` with a Host header and no body.
fn req(method: &str, target: &str) -> Request {
    let raw = format!("{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n");
    let head = RequestParser::new(Limits::default())
        .parse(raw.as_bytes())
        .expect("a valid head")
        .expect("a complete head");
    Request::new(head, Body::empty())
}

/// A middleware that records `<name>-in` before and `<name>-out` after the rest of the chain.
fn recorder(name: &'static str, log: Arc<Mutex<Vec<String>>>) -> impl spindle_http::Middleware {
    from_fn(move |req: Request, next: Next| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(format!("{name}-in"));
            let resp = next.run(req).await;
            log.lock().unwrap().push(format!("{name}-out"));
            resp
        }
    })
}

/// The first middleware added is the outermost; middleware also wraps 404 answers.
#[test]
fn middleware_runs_in_order_around_the_handler() {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let in_handler = log.clone();
    let app = App::new()
        .middleware(recorder("outer", log.clone()))
        .middleware(recorder("inner", log.clone()))
        .get("/", move |_req: Request| {
            in_handler.lock().unwrap().push("handler".into());
            async { "ok" }
        });
    let statuses = within(move || {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async move {
            let a = app.handle(req("GET", "/")).await.status();
            let b = app.handle(req("GET", "/missing")).await.status();
            (a, b)
        })
    });
    assert_eq!(statuses, (200, 404));
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "outer-in",
            "inner-in",
            "handler",
            "inner-out",
            "outer-out", // GET /
            "outer-in",
            "inner-in",
            "inner-out",
            "outer-out", // GET /missing (router's 404)
        ]
    );
}

/// A middleware may answer by itself; the handler then never runs. Its changes to the
/// response of the rest of the chain are seen by the client.
#[test]
fn middleware_can_short_circuit_and_edit_responses() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let app = App::new()
        .middleware(from_fn(|req: Request, next: Next| async move {
            if req.header("x-key") != Some("secret") && req.path() != "/public" {
                return Response::text("no key\n").with_status(401);
            }
            next.run(req).await.with_header("x-checked", "1")
        }))
        .get("/private", move |_req: Request| {
            *counted.lock().unwrap() += 1;
            async { "secret stuff" }
        })
        .get("/public", |_req: Request| async { "hello" });
    let (private, public) = within(move || {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async move {
            (
                app.handle(req("GET", "/private")).await,
                app.handle(req("GET", "/public")).await,
            )
        })
    });
    assert_eq!(private.status(), 401);
    assert_eq!(*calls.lock().unwrap(), 0, "the handler must not run");
    assert_eq!(public.status(), 200);
    assert_eq!(public.header("x-checked"), Some("1"));
}

/// With one permit, a second request while a handler holds it gets 503 + `retry-after: 1` at
/// once (never queued); once the first response is produced the permit is free again.
#[test]
fn concurrency_limit_sheds_load_instead_of_queueing() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (e, r) = (entered.clone(), release.clone());
    let app = Arc::new(
        App::new()
            .middleware(ConcurrencyLimit::new(1))
            .get("/slow", move |_req: Request| {
                let (e, r) = (e.clone(), r.clone());
                async move {
                    e.notify_one(); // "I hold the permit now"
                    r.notified().await; // ...until the test says so
                    "slow done"
                }
            })
            .get("/fast", |_req: Request| async { "fast" }),
    );
    let (busy, slow, after) = within(move || {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async move {
            let app2 = app.clone();
            let slow = spindle::spawn(async move { app2.handle(req("GET", "/slow")).await });
            entered.notified().await;
            let busy = app.handle(req("GET", "/fast")).await;
            release.notify_one();
            let slow = slow.await.expect("the slow request task");
            let after = app.handle(req("GET", "/fast")).await;
            (busy, slow, after)
        })
    });
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(slow.status(), 200);
    assert_eq!(slow.body_bytes(), Some(&b"slow done"[..]));
    assert_eq!(after.status(), 200, "the permit came back");
}

/// Splits `... <status> <ms>ms` off the end of an access-log line; checks the time parses.
fn split_status_and_ms(line: &str) -> (&str, &str) {
    let (rest, ms) = line.rsplit_once(' ').expect("a time field");
    let ms = ms.strip_suffix("ms").expect("the time ends in ms");
    let ms: f64 = ms.parse().expect("the time is a number");
    assert!(ms >= 0.0);
    let (rest, status) = rest.rsplit_once(' ').expect("a status field");
    (rest, status)
}

/// One line per request, Uvicorn-style: address (`-` without a socket), the request line as
/// received, the status, and the time in milliseconds.
#[test]
fn access_log_line_format() {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let app = App::new()
        .middleware(AccessLog::with_sink(move |line| {
            sink.lock().unwrap().push(line.to_string())
        }))
        .get("/users/{id}", |_req: Request| async { "user" });
    within(move || {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async move {
            app.handle(req("GET", "/users/42?x=1")).await;
            app.handle(req("DELETE", "/users/42")).await;
            app.handle(req("GET", "/nope")).await;
        })
    });
    let lines = lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 3);
    let parsed: Vec<(&str, &str)> = lines.iter().map(|l| split_status_and_ms(l)).collect();
    assert_eq!(
        parsed,
        [
            ("INFO: - - \"GET /users/42?x=1 HTTP/1.1\"", "200"),
            ("INFO: - - \"DELETE /users/42 HTTP/1.1\"", "405"),
            ("INFO: - - \"GET /nope HTTP/1.1\"", "404"),
        ]
    );
    assert!(lines.iter().all(|l| !l.contains('\n')));
}

/// `Timing` adds `server-timing: app;dur=<ms>` and `x-response-time: <ms>ms`, also to 404s.
#[test]
fn timing_headers() {
    let app = App::new()
        .middleware(Timing::new())
        .get("/", |_req: Request| async { "hi" });
    let resps = within(move || {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async move {
            vec![
                app.handle(req("GET", "/")).await,
                app.handle(req("GET", "/missing")).await,
            ]
        })
    });
    for resp in &resps {
        let st = resp.header("server-timing").expect("server-timing");
        let dur: f64 = st
            .strip_prefix("app;dur=")
            .expect("app;dur=")
            .parse()
            .expect("a number");
        assert!(dur >= 0.0);
        let rt = resp.header("x-response-time").expect("x-response-time");
        let ms: f64 = rt
            .strip_suffix("ms")
            .expect("ms")
            .parse()
            .expect("a number");
        assert!(ms >= 0.0);
    }
    assert_eq!(resps[1].status(), 404);
}

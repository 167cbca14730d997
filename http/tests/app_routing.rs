//! Routing through the public `App::handle` entry point, without a socket: path parameters,
//! 404, 405 with `Allow`, HEAD served by GET, OPTIONS, any-method routes, route conflicts, and
//! blocking handlers on the blocking pool.

mod common;

use common::{poll_once, within};

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use spindle_http::{blocking, App, Body, Limits, Request, RequestParser, Response};

/// A request parsed from `head` (a full request head) with `body`.
fn request(head: &str, body: &str) -> Request {
    let head = RequestParser::new(Limits::default())
        .parse(head.as_bytes())
        .expect("a valid head")
        .expect("a complete head");
    Request::new(head, Body::from(body))
}

/// `GET target` with a Host header.
fn get(method: &str, target: &str) -> Request {
    request(
        &format!("{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n"),
        "",
    )
}

/// Runs each request through `app` on one runtime and returns the responses in order.
fn run(app: App, requests: Vec<Request>) -> Vec<Response> {
    within(move || {
        let rt = spindle::Runtime::new().unwrap();
        rt.block_on(async move {
            let mut out = Vec::new();
            for req in requests {
                out.push(app.handle(req).await);
            }
            out
        })
    })
}

/// The body as text (empty for a streamed body).
fn text(resp: &Response) -> String {
    String::from_utf8_lossy(resp.body_bytes().unwrap_or_default()).into_owned()
}

/// Path parameters are captured and decoded, the query string is still readable, and the
/// static route wins over the parameter at the same position.
#[test]
fn path_params_and_precedence() {
    let app = App::new()
        .get("/users/me", |_req: Request| async { "me" })
        .get("/users/{id}", |req: Request| async move {
            format!(
                "user={} x={}",
                req.param("id").unwrap_or("?"),
                req.query_param("x").unwrap_or_default()
            )
        })
        .get("/files/{*path}", |req: Request| async move {
            format!("path={}", req.param("path").unwrap_or("?"))
        });
    let resps = run(
        app,
        vec![
            get("GET", "/users/42?x=1"),
            get("GET", "/users/me"),
            get("GET", "/users/J%C3%BCrgen?x=a+b"),
            get("GET", "/files/css/site%20main.css"),
        ],
    );
    let got: Vec<(u16, String)> = resps.iter().map(|r| (r.status(), text(r))).collect();
    assert_eq!(
        got,
        vec![
            (200, "user=42 x=1".to_string()),
            (200, "me".to_string()),
            (200, "user=Jürgen x=a b".to_string()),
            (200, "path=css/site main.css".to_string()),
        ]
    );
}

/// Unknown paths get 404; a known path with another method gets 405 and a sorted `Allow`.
#[test]
fn not_found_and_method_not_allowed() {
    let app = App::new()
        .post("/items", |_req: Request| async { (201, "created") })
        .get("/items", |_req: Request| async { "list" })
        .delete("/items/{id}", |_req: Request| async { 204 });
    let resps = run(
        app,
        vec![
            get("GET", "/nothing"),
            get("PUT", "/items"),
            get("GET", "/items/7"),
            get("GET", "/items/7/"),
        ],
    );
    assert_eq!(resps[0].status(), 404);
    assert_eq!(resps[1].status(), 405);
    assert_eq!(resps[1].header("allow"), Some("GET, HEAD, OPTIONS, POST"));
    assert_eq!(resps[2].status(), 405);
    assert_eq!(resps[2].header("allow"), Some("DELETE, OPTIONS"));
    assert_eq!(resps[3].status(), 404, "a trailing slash is another path");
}

/// HEAD runs the GET handler (the writer drops the body) unless HEAD has its own route;
/// OPTIONS without a route of its own is answered 204 with `Allow`.
#[test]
fn head_and_options() {
    let app = App::new()
        .get("/page", |req: Request| async move {
            format!("page via {}", req.method_str())
        })
        .get("/ping", |_req: Request| async { "pong" })
        .head("/ping", |_req: Request| async {
            Response::new(200).with_header("x-own-head", "yes")
        })
        .options("/cors", |_req: Request| async {
            Response::new(204).with_header("access-control-allow-origin", "*")
        });
    let resps = run(
        app,
        vec![
            get("HEAD", "/page"),
            get("HEAD", "/ping"),
            get("OPTIONS", "/page"),
            get("OPTIONS", "/cors"),
            get("OPTIONS", "*"),
        ],
    );
    assert_eq!(
        (resps[0].status(), text(&resps[0])),
        (200, "page via HEAD".into())
    );
    assert_eq!(resps[1].header("x-own-head"), Some("yes"));
    assert_eq!(resps[2].status(), 204);
    assert_eq!(resps[2].header("allow"), Some("GET, HEAD, OPTIONS"));
    assert_eq!(resps[3].header("access-control-allow-origin"), Some("*"));
    assert_eq!(resps[4].status(), 204);
    assert_eq!(resps[4].header("allow"), Some("GET, HEAD, OPTIONS"));
}

/// `any` serves every method, behind routes for a specific method; `route` takes any token.
#[test]
fn any_and_extension_methods() {
    let app = App::new()
        .any("/echo", |req: Request| async move {
            format!("any {}", req.method_str())
        })
        .get("/echo", |_req: Request| async { "get" })
        .route("PROPFIND", "/dav/{*path}", |req: Request| async move {
            format!("propfind {}", req.param("path").unwrap_or("?"))
        });
    let resps = run(
        app,
        vec![
            get("GET", "/echo"),
            get("PATCH", "/echo"),
            get("PROPFIND", "/dav/a/b"),
        ],
    );
    let bodies: Vec<String> = resps.iter().map(text).collect();
    assert_eq!(bodies, ["get", "any PATCH", "propfind a/b"]);
}

/// Registering the same method and pattern twice, or a malformed pattern, panics at once with
/// a message naming the route.
#[test]
fn route_conflicts_panic_at_registration() {
    /// Builds an app; expected to panic.
    type Build = Box<dyn FnOnce() -> App + std::panic::UnwindSafe>;
    let cases: Vec<(&str, Build)> = vec![
        (
            "already routed",
            Box::new(|| {
                App::new()
                    .get("/a/{id}", |_r: Request| async { "1" })
                    .get("/a/{id}", |_r: Request| async { "2" })
            }),
        ),
        (
            "names its parameters differently",
            Box::new(|| {
                App::new()
                    .get("/a/{id}", |_r: Request| async { "1" })
                    .post("/a/{name}", |_r: Request| async { "2" })
            }),
        ),
        (
            "must start with `/`",
            Box::new(|| App::new().get("a", |_r: Request| async { "1" })),
        ),
    ];
    for (want, build) in cases {
        let err = std::panic::catch_unwind(build).expect_err("registration should panic");
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains(want), "panic `{msg}` should mention `{want}`");
    }
}

/// A blocking handler runs on another thread than the caller (a blocking-pool thread), gets
/// its body as bytes in memory, and its return value becomes the response; a panic is a 500.
/// (That the body is read *before* the function runs is proven on a socket in `app_server.rs`.)
#[test]
fn blocking_handlers_run_on_the_pool_with_the_body_read() {
    let seen: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let (s1, s2) = (seen.clone(), seen.clone());
    let app = App::new()
        .post_blocking("/upload", move |mut req: Request| {
            s1.lock().unwrap().push(std::thread::current().id());
            // The body is plain bytes by now: one poll completes, no I/O is needed.
            match poll_once(req.bytes()) {
                Some(Ok(bytes)) => format!("got {} bytes", bytes.len()),
                Some(Err(e)) => format!("error {e}"),
                None => "body was not read before the handler".to_string(),
            }
        })
        .get(
            "/wrapped",
            blocking(move |_req: Request| {
                s2.lock().unwrap().push(std::thread::current().id());
                (202, "wrapped")
            }),
        )
        .get_blocking("/boom", |_req: Request| -> &'static str {
            panic!("handler failure (expected by the test)")
        });
    let (caller, resps) = within(move || {
        let rt = spindle::Runtime::new().unwrap();
        let caller = std::thread::current().id();
        let resps = rt.block_on(async move {
            let upload = request(
                "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
                "hello world",
            );
            vec![
                app.handle(upload).await,
                app.handle(get("GET", "/wrapped")).await,
                app.handle(get("GET", "/boom")).await,
            ]
        });
        (caller, resps)
    });
    assert_eq!(
        (resps[0].status(), text(&resps[0])),
        (200, "got 11 bytes".into())
    );
    assert_eq!(
        (resps[1].status(), text(&resps[1])),
        (202, "wrapped".into())
    );
    assert_eq!(resps[2].status(), 500);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "both blocking functions ran once");
    assert!(
        seen.iter().all(|t| *t != caller),
        "ran off the caller's thread"
    );
}

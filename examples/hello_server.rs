//! The smallest useful spindle-http server: two routes, one with a path parameter.
//!
//! Run: `cargo run --release --example hello_server`, then `curl http://127.0.0.1:8080/users/7`.
//! The README and `docs/http.md` quote this file (a test keeps them in step).

use spindle_http::{App, Request, Response, Server};

fn main() -> std::io::Result<()> {
    let app = App::new()
        .get("/", |_req: Request| async { "Hello, World!" })
        .get("/users/{id}", |req: Request| async move {
            Response::text(format!("user {}\n", req.param("id").unwrap_or("?")))
        });
    println!("hello_server listening on http://127.0.0.1:8080 (Ctrl-C stops it)");
    Server::bind("127.0.0.1:8080").workers(2).serve(app)
}

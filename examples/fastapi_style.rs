//! What a FastAPI user writes, in spindle-http: async and blocking handlers, a path parameter,
//! a body with precise errors, middleware, and a background task.
//!
//! Run: `cargo run --release --example fastapi_style`. It starts the app on a free port, sends
//! it a few requests over a plain socket, and prints each request and response.

use std::io::{Read, Write};

use spindle_http::{AccessLog, App, HttpError, Request, Response, Server};

fn app() -> App {
    App::new()
        .middleware(AccessLog::new())
        .get("/", |_req: Request| async { "Hello, World!" }) // async def
        .get("/users/{id}", |req: Request| async move {
            Response::text(format!("user {}\n", req.param("id").unwrap_or("?")))
        })
        .post("/echo", |mut req: Request| async move {
            // `?` turns a body error into its status: 413 too large, 400 malformed, 408 too slow.
            Ok::<_, HttpError>(Response::bytes(req.bytes().await?))
        })
        .get_blocking("/report", |req: Request| {
            // A plain `def`: runs on the blocking pool, so blocking here stalls nobody.
            std::thread::sleep(std::time::Duration::from_millis(50));
            req.background()
                .add(async { println!("  (background task: after the response)") });
            "report done\n"
        })
}

fn main() -> std::io::Result<()> {
    let rt = spindle::Runtime::new()?;
    let server = rt.block_on(Server::bind("127.0.0.1:0").start(app()))?;
    let requests: [&[u8]; 5] = [
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /users/42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        b"GET /report HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"DELETE /users/42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    ];
    for request in requests {
        let mut s = std::net::TcpStream::connect(server.local_addr())?;
        s.write_all(request)?;
        let mut response = String::new();
        s.read_to_string(&mut response)?;
        let first_line = String::from_utf8_lossy(request)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let status = response.lines().next().unwrap_or("");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").trim_end();
        println!("{first_line:<28} -> {status:<34} {body}");
    }
    std::thread::sleep(std::time::Duration::from_millis(50)); // let the background task print
    rt.block_on(server.shutdown());
    Ok(())
}

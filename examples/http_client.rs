//! The HTTP client (httpx's role): `spindle_http::client` talking to a spindle-http server
//! started in the same process on 127.0.0.1:0.
//!
//! Shows: `Client::new()`, `get(..).header(..).send().await`, `post(..).json(..)`, reading a body
//! as text, as JSON and chunk by chunk, and keep-alive pooling (20 requests, one connection).
//!
//! Run: `cargo run --release --example http_client`

use spindle_http::client::{Client, Error};
use spindle_http::serde_json::{json, Value};
use spindle_http::{App, Request, Response, Server};

fn app() -> App {
    App::new()
        .get("/", |_req: Request| async { "Hello, World!" })
        .post("/orders", |mut req: Request| async move {
            let body = req.body_mut().bytes().await.unwrap_or_default();
            let order: Value = spindle_http::serde_json::from_slice(&body).unwrap_or(Value::Null);
            Response::json(&json!({"accepted": order}))
        })
        .get("/stream", |_req: Request| async {
            Response::stream("text/plain", |tx| async move {
                for i in 1..=3 {
                    if tx.send(format!("chunk {i}\n")).await.is_err() {
                        return;
                    }
                }
            })
        })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = spindle::Runtime::new()?;
    rt.block_on(async {
        let server = Server::bind("127.0.0.1:0").start(app()).await?;
        let addr = server.local_addr();
        let base = format!("http://{addr}");
        let client = Client::new();

        // 1. A GET, read as text.
        let r = client
            .get(&format!("{base}/"))
            .header("accept", "text/plain")
            .send()
            .await?;
        println!("GET /         -> {} {:?}", r.status(), r.text().await?);

        // 2. A POST with a JSON body, answer read as JSON.
        let order: Value = client
            .post(&format!("{base}/orders"))
            .json(&json!({"item": "tea", "qty": 2}))
            .send()
            .await?
            .json()
            .await?;
        println!("POST /orders  -> {order}");

        // 3. A streamed (chunked) body, one chunk at a time.
        let mut r = client.get(&format!("{base}/stream")).send().await?;
        print!("GET /stream   -> chunks:");
        while let Some(chunk) = r.chunk().await? {
            print!(" {:?}", String::from_utf8_lossy(&chunk));
        }
        println!();

        // 4. Keep-alive: every response above was read to its end, so its connection went back
        //    to the pool; 20 more requests reuse it.
        for _ in 0..20 {
            client
                .get(&format!("{base}/"))
                .send()
                .await?
                .bytes()
                .await?;
        }
        let idle = client.idle_connections(&addr.ip().to_string(), addr.port());
        println!("after 23 requests the pool holds {idle} idle connection(s) to {addr}");

        // 5. https is out of scope: a clear error, not a hang.
        let e: Error = client.get("https://example.com/").send().await.unwrap_err();
        println!("GET https://  -> error: {e}");

        server.shutdown().await;
        Ok(())
    })
}

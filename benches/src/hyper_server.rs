//! `spindle-bench hyper-server --port P`: the hyper 1.x reference server for `benches/http.sh`.
//!
//! It answers `GET /` with `200 Hello, World!` and the headers spindle's demo sends
//! (`content-type: text/plain; charset=utf-8`, `content-length: 13`, `date`, `server`), on a tokio
//! multi-thread runtime with 2 workers, HTTP/1.1 only, keep-alive on, and `pipeline_flush(true)`
//! so that responses to pipelined requests are gathered into one write, as spindle does.
//! Any other method or path gets an empty 404 (the cost of one comparison, like a tiny router).
//!
//! It runs until killed. Neighbours: `main.rs` calls [`run`]; `http.sh` starts and kills it.

use std::convert::Infallible;
use std::io;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The response body; `content-length` below must match its length.
const BODY: &[u8] = b"Hello, World!";

/// Serves on `127.0.0.1:port` forever (returns only if the listener cannot be set up).
pub(crate) fn run(port: u16) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        eprintln!(
            "hyper-server listening on http://{}",
            listener.local_addr()?
        );
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _peer)) => stream,
                // e.g. EMFILE under a connection storm: skip this one, keep serving.
                Err(e) => {
                    eprintln!("hyper-server: accept failed: {e}");
                    continue;
                }
            };
            // Small responses must leave at once, not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let connection = http1::Builder::new()
                    .keep_alive(true)
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), service_fn(hello));
                // A client that hangs up mid-request is normal during a benchmark; ignore it.
                let _ = connection.await;
            });
        }
    })
}

/// `GET /` → 200 "Hello, World!"; anything else → 404. Hyper adds the `date` header itself.
async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET || request.uri().path() != "/" {
        let mut not_found = Response::new(Full::new(Bytes::new()));
        *not_found.status_mut() = StatusCode::NOT_FOUND;
        return Ok(not_found);
    }
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(BODY.len()));
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    Ok(response)
}

//! spindle-http: a strict HTTP/1.1 server (Uvicorn + Starlette + FastAPI, in Rust) on the
//! spindle runtime.
//!
//! ```no_run
//! use spindle_http::{App, Request, Response, Server};
//!
//! let app = App::new()
//!     .get("/", |_req: Request| async { "Hello, World!" })
//!     .get("/users/{id}", |req: Request| async move {
//!         Response::text(format!("user {}", req.param("id").unwrap_or("?")))
//!     });
//! Server::bind("127.0.0.1:8080").workers(2).serve(app).unwrap();
//! ```
//!
//! The folders follow the layers, and files import downward only: `server/` drives `app/`,
//! `app/` is built on the wire format (`parse/`, `body/`, `write/`).
//!
//! | module | what it is |
//! |---|---|
//! | [`parse`] | the wire, reading: the incremental request-head parser, bytes in, [`RequestHead`] or a status out |
//! | [`body`] | the wire, reading: body framing, `Content-Length` and chunked decoders |
//! | `write` | the wire, writing: a [`Response`] head and its framing, the `Date` header |
//! | [`error`], [`limits`] | [`ParseError`], each rejection with its status code; [`Limits`], the sizes a client may not exceed |
//! | `io` | the connection's read buffer and socket, lent to the request [`Body`] while a handler runs |
//! | `app` | what a handler sees: [`App`] (routing, handlers, middleware), [`Request`], [`Body`], [`Response`] |
//! | `server` | [`Server`]: listeners, accept loop, the per-connection loop (`server/conn.rs`), graceful shutdown |
//! | [`client`] | an HTTP/1.1 client (`http://` only): keep-alive pool, strict response parser, timeouts |
//!
//! `docs/http.md` in the repository walks a request through all of them.
//!
//! ## Per-thread caches
//!
//! A worker thread keeps a few caches so that a busy connection neither allocates nor formats
//! again what it did a moment ago. No signature shows them; they are all here, each with the
//! invariant that makes it safe for any connection on the thread to use:
//!
//! | cache | file | holds | invariant |
//! |---|---|---|---|
//! | `READ_POOL` | `io.rs` | read buffers of connections gone idle | every entry is `READ_CHUNK` bytes long; at most `POOL_MAX` entries |
//! | `WRITE_POOL` | `io.rs` | write buffers of connections gone idle | every entry is empty, with at most 64 KiB of capacity; at most `POOL_MAX` entries |
//! | `CACHE` | `write/date.rs` | the `Date` value of the current second, and the span of `Instant`s it covers | used only within that span, so a date is never more than a second old |
//! | `LAST_HEAD` | `write/mod.rs` | the last response head rendered (with its static body), keyed by status, version, flags, lengths and the addresses of its `&'static` content type and body | reused only for an equal key and the same date; a `'static` address always holds the same bytes, so the copy is exactly what rendering would write |
//! | `LOCAL` | `app/log_batch.rs` | the access-log lines this thread made since its buffer was last written out | only this thread appends, under the buffer's lock; whoever writes it out takes the whole contents, so lines are never split and keep their order |
//! | `HEAD_PARTS`, `SPARE_HEAD` | `parse/head.rs` | the allocations of dropped request heads (box, field table and byte buffer) | every entry's byte buffer is empty, with capacity at most `HEAD_POOL_CAPACITY`; at most `HEAD_POOL_MAX` entries |
//!
//! Each per-connection value that outlives one request is listed where it lives instead: the
//! parser's last valid `Host` value (`parse/fields.rs`, `Facts::recent_host`), the handler
//! future's allocation (`server/conn.rs`, `Conn::handler`).
#![forbid(unsafe_code)]

pub mod body;
pub mod client;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod parse;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

mod app;
mod io;
mod server;
mod write;

pub use app::background::BackgroundTasks;
pub use app::extract::percent_decode;
pub use app::http_error::HttpError;
pub use app::incoming::Body;
pub use app::middleware::{from_fn, AccessLog, ConcurrencyLimit, FromFn, Timing};
pub use app::request::Request;
pub use app::response::{
    reason_phrase, BodySender, ClientGone, IntoResponse, Response, ResponseBody,
};
pub use app::sse::{Event, Sse, SseSender};
pub use app::stack::{BoxFuture, Middleware, Next};
pub use app::{blocking, App};
pub use error::ParseError;
pub use limits::Limits;
pub use parse::{BodyFraming, Method, RequestHead, RequestParser, TargetForm, Version};
pub use server::{RunningServer, Server, ServerConfig};

/// `serde_json`, re-exported so applications use the same version as [`Request::json`] and
/// [`Response::json`].
#[cfg(feature = "json")]
pub use serde_json;

/// The `docs/` pages as doc tests (see the file).
#[cfg(doctest)]
mod doc_pages;

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
//!
//! `docs/http.md` in the repository walks a request through all of them.
#![forbid(unsafe_code)]

pub mod body;
pub mod error;
pub mod limits;
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

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
//! | module | what it is |
//! |---|---|
//! | [`parse`] | the incremental request-head parser: bytes in, [`RequestHead`] or a status out |
//! | [`body`] | body framing: `Content-Length` and chunked decoders |
//! | [`error`] | [`ParseError`], each rejection with its status code |
//! | [`limits`] | [`Limits`], the sizes a client may not exceed |
//! | `request`, `incoming` | [`Request`] and its lazily read [`Body`] |
//! | `response`, `writer` | [`Response`] and how it is framed on the wire |
//! | `app`, `router`, `middleware` | routing, handlers (async and blocking), middleware |
//! | `conn` | the per-connection loop: read, parse, dispatch, write, keep alive |
//! | `server` | [`Server`]: listeners, accept loop, connection limit, graceful shutdown |
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
mod background;
mod conn;
mod date;
mod extract;
mod health;
mod http_error;
mod incoming;
mod io;
mod listen;
mod middleware;
mod request;
mod response;
mod router;
mod server;
mod shutdown;
mod writer;

pub use app::{blocking, App, BoxFuture};
pub use background::BackgroundTasks;
pub use error::ParseError;
pub use extract::percent_decode;
pub use http_error::HttpError;
pub use incoming::Body;
pub use limits::Limits;
pub use middleware::{from_fn, AccessLog, ConcurrencyLimit, FromFn, Middleware, Next, Timing};
pub use parse::{BodyFraming, Method, RequestHead, RequestParser, TargetForm, Version};
pub use request::Request;
pub use response::{reason_phrase, BodySender, ClientGone, IntoResponse, Response, ResponseBody};
pub use server::{RunningServer, Server, ServerConfig};

/// `serde_json`, re-exported so applications use the same version as [`Request::json`] and
/// [`Response::json`].
#[cfg(feature = "json")]
pub use serde_json;

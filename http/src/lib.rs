//! spindle-http: a strict HTTP/1.1 server on the spindle runtime.
//!
//! | module | what it is |
//! |---|---|
//! | [`parse`] | the incremental request-head parser: bytes in, [`RequestHead`] or a status out |
//! | [`body`] | body framing: `Content-Length` and chunked decoders |
//! | [`error`] | [`ParseError`], each rejection with its status code |
//! | [`limits`] | [`Limits`], the sizes a client may not exceed |
#![forbid(unsafe_code)]

pub mod body;
pub mod error;
pub mod limits;
pub mod parse;

pub use error::ParseError;
pub use limits::Limits;
pub use parse::{BodyFraming, Method, RequestHead, RequestParser, TargetForm, Version};

//! spindle-http: a strict HTTP/1.1 server on the spindle runtime.
#![forbid(unsafe_code)]

//! [`ServerConfig`]: the limits and timeouts every connection of a server applies, in a module
//! of its own so that the connection loop and the body reader read it without importing the
//! server that owns it.

use std::time::Duration;

use crate::app::incoming::BodyPace;
use crate::limits::Limits;

/// Limits and timeouts that every connection of a server applies.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Request size limits (head 16 KiB / 100 fields, target 8 KiB, body 2 MiB by default).
    pub limits: Limits,
    /// A request head must arrive completely within this time from its first byte (408).
    pub header_timeout: Duration,
    /// Each read of a request body may wait this long for bytes (408).
    pub body_timeout: Duration,
    /// The whole request body must arrive within this time from the handler's first read of
    /// it; past it the read fails with 408 and the connection closes. `None`: no overall
    /// limit (each read is still bounded by `body_timeout`).
    pub body_deadline: Option<Duration>,
    /// The least average rate, in bytes per second, at which a request body must arrive once
    /// `min_body_rate_grace` has passed (Kestrel's `MinRequestBodyDataRate`): a client
    /// trickling its body slower is answered 408 and closed. Only time spent waiting for the
    /// client counts, not time the handler spends elsewhere. 0 turns the check off.
    pub min_body_bytes_per_second: u64,
    /// How long a body may arrive at any rate before `min_body_bytes_per_second` applies.
    pub min_body_rate_grace: Duration,
    /// An idle keep-alive connection is closed after this long without a new request.
    pub idle_timeout: Duration,
    /// Writing a response (or one streamed chunk) may take this long; then the connection closes.
    pub write_timeout: Duration,
    /// Unread request-body bytes the server will read and discard to keep a connection alive.
    pub max_drain_bytes: usize,
    /// `SO_SNDBUF` for each accepted connection: how much response data the kernel may hold
    /// for a client that does not read. Bounded, a response larger than this meets the write
    /// timeout; unbounded (`None`, the kernel's autotuning, up to `tcp_wmem`'s maximum), a
    /// client that never reads can pin megabytes of kernel memory per connection. Linux
    /// doubles the value for its bookkeeping.
    pub send_buffer_bytes: Option<usize>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            limits: Limits::default(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            body_deadline: Some(Duration::from_secs(300)),
            min_body_bytes_per_second: 240,
            min_body_rate_grace: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            max_drain_bytes: 256 * 1024,
            send_buffer_bytes: Some(128 * 1024),
        }
    }
}

impl ServerConfig {
    /// How fast a request body must arrive, as the body reader enforces it.
    pub(crate) fn body_pace(&self) -> BodyPace {
        BodyPace {
            read_timeout: self.body_timeout,
            deadline: self.body_deadline,
            min_rate: self.min_body_bytes_per_second,
            grace: self.min_body_rate_grace,
        }
    }
}

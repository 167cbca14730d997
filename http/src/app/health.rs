//! `GET /healthz`: the health route a load balancer or a Kubernetes probe polls.
//!
//! It answers `200 ok` while the server serves normally and `503 draining` from the moment a
//! graceful shutdown begins (phase 1 in `server/shutdown.rs`), so a balancer that checks actively
//! (HAProxy `option httpchk`, a Kubernetes readiness probe, nginx Plus `health_check`) takes
//! the instance out of rotation while it still serves; `Server::drain_delay` keeps the
//! listeners open that long. Open-source nginx checks passively: there, refused connects and
//! `proxy_next_upstream` are what move requests to another instance (`docs/deploy.md`).
//!
//! Talks to: `app` (which owns the flag and mounts the route) and `server` (whose
//! [`Shutdown`](crate::server::shutdown::Shutdown) sets the flag). Invariant: the flag only goes from
//! false to true.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::app::request::Request;
use crate::app::response::Response;

/// The path [`App::healthz`](crate::App::healthz) mounts.
pub(crate) const HEALTHZ_PATH: &str = "/healthz";

/// The handler behind `GET /healthz`: 200 until `draining` is set, 503 after.
pub(crate) fn healthz_handler(
    draining: Arc<AtomicBool>,
) -> impl Fn(Request) -> std::future::Ready<Response> + Send + Sync + 'static {
    move |_req: Request| {
        let response = if draining.load(Ordering::SeqCst) {
            Response::text("draining\n").with_status(503)
        } else {
            Response::text("ok\n")
        };
        // A cached "ok" would hide the drain from whoever polls through a cache.
        std::future::ready(response.with_header("cache-control", "no-store"))
    }
}

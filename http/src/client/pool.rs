//! [`Pool`]: idle keep-alive connections per host, and the per-host connection limit.
//!
//! Talks to: `client::conn` (it stores `Conn`s), `client::pipeline` (it keeps the `Pipe`s),
//! `client::url` (the `Key`), `client::mod` (which takes a connection before each request and
//! gives it back when a response's body is done), `spindle::sync::Semaphore` (the limit).
//!
//! The limit counts *busy* connections: a request takes a permit before it takes an idle
//! connection or opens a new one, and the permit is released when the connection goes back to
//! the pool. A new connection is opened only when no idle one exists, so busy plus idle never
//! exceeds the limit either, and a request waiting for a permit can never be blocked by idle
//! connections that hold permits nobody will release.
//!
//! Rules: a connection is put back only after its response was read completely and the response
//! allowed keep-alive; the most recently used connection is taken first (it is the least likely
//! to have been closed by the server); a connection idle longer than `idle_timeout`, or whose
//! server already closed it, is dropped instead of used. Locks are never held across an `await`.
//!
//! With a pipelining depth above 1, idempotent requests use the separate `pipes` list instead
//! (see `client::pipeline`): there `max_connections_per_host` caps the number of pipelined
//! connections, each carrying up to `depth` requests, and no permit is taken.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::Conn;
use super::pipeline::{Pipe, Settings};
use super::url::Key;

/// An idle connection and when it became idle.
#[derive(Debug)]
struct Idle {
    /// The connection.
    conn: Conn,
    /// When it was put back.
    since: Instant,
}

/// The pool's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    /// Most idle connections kept per host; more are closed.
    pub(crate) max_idle_per_host: usize,
    /// Most connections carrying a request at once per host; `None` for no limit.
    pub(crate) max_connections_per_host: Option<usize>,
    /// An idle connection older than this is closed instead of reused.
    pub(crate) idle_timeout: Duration,
}

/// The shared pool of one `Client`.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Its settings.
    config: PoolConfig,
    /// Idle connections per host, the most recently used last.
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    /// The per-host limit's semaphores (created on first use; only if there is a limit).
    limits: Mutex<HashMap<Key, Arc<Semaphore>>>,
    /// Pipelined connections per host (only with a pipelining depth above 1).
    pipes: Mutex<HashMap<Key, Vec<Pipe>>>,
}

impl Pool {
    /// An empty pool.
    pub(crate) fn new(config: PoolConfig) -> Pool {
        Pool {
            config,
            idle: Mutex::new(HashMap::new()),
            limits: Mutex::new(HashMap::new()),
            pipes: Mutex::new(HashMap::new()),
        }
    }

    /// The pipelined connection for the next request to `key`: the least loaded one if it has
    /// a free slot; else a new one while the host has fewer than `max_connections_per_host`;
    /// else the least loaded one anyway (the request queues for a slot there).
    pub(crate) fn pipe(&self, key: &Key, settings: Settings) -> Pipe {
        let mut pipes = self.pipes.lock().unwrap_or_else(|e| e.into_inner());
        let list = pipes.entry(key.clone()).or_default();
        list.retain(Pipe::is_open);
        let least = list
            .iter()
            .min_by_key(|p| p.load.load(std::sync::atomic::Ordering::SeqCst));
        let max = self.config.max_connections_per_host.unwrap_or(usize::MAX);
        match least {
            Some(p) if p.load.load(std::sync::atomic::Ordering::SeqCst) < settings.depth => {
                p.clone()
            }
            Some(p) if list.len() >= max => p.clone(),
            _ => {
                let p = Pipe::start(key.clone(), settings);
                list.push(p.clone());
                p
            }
        }
    }

    /// How many pipelined connections to `key` are open (for tests).
    pub(crate) fn pipe_count(&self, key: &Key) -> usize {
        let pipes = self.pipes.lock().unwrap_or_else(|e| e.into_inner());
        pipes
            .get(key)
            .map_or(0, |l| l.iter().filter(|p| p.is_open()).count())
    }

    /// An idle connection to `key` that still looks usable, if any.
    pub(crate) fn take(&self, key: &Key) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(entry) = list.pop() {
            if entry.since.elapsed() < self.config.idle_timeout && !entry.conn.is_stale() {
                return Some(entry.conn);
            }
            // Too old, or the server closed it: dropping it closes our side.
        }
        None
    }

    /// Puts back a connection whose last response was complete and allowed keep-alive.
    pub(crate) fn put(&self, key: Key, mut conn: Conn) {
        conn.reused = true;
        conn.permit = None; // idle connections do not count against the limit (see above)
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(key).or_default();
        if list.len() < self.config.max_idle_per_host {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Waits for room under the per-host limit; the permit is held while a request is in flight.
    pub(crate) async fn permit(&self, key: &Key) -> Option<OwnedSemaphorePermit> {
        let max = self.config.max_connections_per_host?;
        let semaphore = {
            let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
            limits
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(max)))
                .clone()
        };
        // The semaphore is never closed, so acquiring can only succeed.
        semaphore.acquire_owned().await.ok()
    }

    /// How many idle connections are kept for `key` (for tests and metrics).
    pub(crate) fn idle_count(&self, key: &Key) -> usize {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.get(key).map_or(0, Vec::len)
    }
}

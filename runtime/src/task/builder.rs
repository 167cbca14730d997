//! [`Builder`]: spawning a task with a name, as `tokio::task::Builder` does.
//!
//! The name is copied into the task's cell once, at spawn (one allocation, only for named
//! tasks), and shows wherever the task is reported: metrics, long-poll reports, traces.
//!
//! Talks to: `runtime::Handle` (`spawn_with` / `spawn_blocking_with`), and `mod.rs` (`Meta`).

use std::future::Future;
use std::io;
use std::panic::Location;

use super::{JoinHandle, Meta};
use crate::runtime::{context, Handle};

/// Spawns a task with a name.
///
/// `spawn`, `spawn_on` and `spawn_blocking` return `io::Result<JoinHandle<T>>`, as tokio's
/// builder does, so code moves between the two unchanged. spindle uses the `Err` for the one
/// thing that can go wrong: `spawn` or `spawn_blocking` called outside a runtime is an error
/// here (kind `Other`) instead of the panic that [`spawn`](crate::spawn) gives.
///
/// ```
/// let rt = spindle::Runtime::new().unwrap();
/// rt.block_on(async {
///     let handle = spindle::task::Builder::new()
///         .name("greeter")
///         .spawn(async { "hello" })
///         .unwrap();
///     assert_eq!(handle.await.unwrap(), "hello");
/// });
/// // Outside a runtime: an error, not a panic.
/// assert!(spindle::task::Builder::new().spawn(async {}).is_err());
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Builder<'a> {
    /// The name to give the task, if any.
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder for an unnamed task.
    pub fn new() -> Builder<'a> {
        Builder { name: None }
    }

    /// Names the task (copied at spawn).
    pub fn name(self, name: &'a str) -> Builder<'a> {
        Builder { name: Some(name) }
    }

    /// Spawns `future` onto the current runtime (see [`spawn`](crate::spawn)).
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let meta = self.meta(Location::caller());
        let handle = context::current_handle().ok_or_else(outside_runtime)?;
        Ok(handle.spawn_owned(future, meta))
    }

    /// Spawns `future` onto the runtime of `handle`.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(handle.spawn_with(future, self.meta(Location::caller())))
    }

    /// Runs `f` on the current runtime's blocking pool (see
    /// [`spawn_blocking`](crate::task::spawn_blocking)).
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> io::Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let meta = self.meta(Location::caller());
        context::with_current(|h| h.spawn_blocking_with(f, meta)).ok_or_else(outside_runtime)
    }

    fn meta(self, site: &'static Location<'static>) -> Meta {
        match self.name {
            Some(name) => Meta::named(name, site),
            None => Meta::at(site),
        }
    }
}

fn outside_runtime() -> io::Error {
    io::Error::other("spindle::task::Builder: spawn called outside a spindle runtime")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The header's meta word: an unnamed task's site, a named task's name and site behind
    /// the tagged pointer; dropping a named one frees its heap half (Miri checks the tagging).
    #[test]
    fn meta_word_holds_site_and_name() {
        let here = Location::caller();
        let unnamed = Meta::at(here);
        assert_eq!(unnamed.name(), None);
        assert!(std::ptr::eq(unnamed.spawned_at(), here));
        let named = Meta::named("conn 127.0.0.1:1", here);
        assert_eq!(named.name(), Some("conn 127.0.0.1:1"));
        assert!(std::ptr::eq(named.spawned_at(), here));
        drop((unnamed, named));
    }

    /// Every spawn function records its caller's line, and the builder's name; unnamed tasks
    /// have none.
    // A real multi-thread runtime, whose crossbeam-epoch queues Stacked Borrows rejects:
    // `scripts/miri.sh` runs it in its Tree Borrows run, with the other real runtimes.
    #[test]
    fn names_and_spawn_sites_are_recorded() {
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let h = rt.handle();
        let named = Builder::new().name("conn 127.0.0.1:1");
        let (a, la) = (rt.spawn(async {}), line!());
        let (b, lb) = (h.spawn(async {}), line!());
        let (c, lc) = (rt.spawn_blocking(|| ()), line!());
        let (d, ld) = (named.spawn_on(async {}, h).unwrap(), line!());
        let (e, f, g, le, lf, lg) = rt.block_on(async {
            let (e, le) = (crate::spawn(async {}), line!());
            let (f, lf) = (crate::task::spawn_blocking(|| ()), line!());
            let bg = Builder::new().name("bg");
            let (g, lg) = (bg.spawn_blocking(|| ()).unwrap(), line!());
            (e, f, g, le, lf, lg)
        });
        let lines: Vec<u32> = [&a, &b, &c, &d, &e, &f, &g]
            .iter()
            .map(|j| j.spawned_at())
            .map(|l| {
                assert_eq!(l.file(), file!());
                l.line()
            })
            .collect();
        assert_eq!(lines, [la, lb, lc, ld, le, lf, lg]);
        assert_eq!((a.name(), c.name(), e.name()), (None, None, None));
        assert_eq!(d.name(), Some("conn 127.0.0.1:1"));
        assert_eq!(g.name(), Some("bg"));
        rt.block_on(async move {
            a.await.unwrap();
            b.await.unwrap();
            c.await.unwrap();
            d.await.unwrap();
            e.await.unwrap();
            f.await.unwrap();
            g.await.unwrap();
        });
    }
}

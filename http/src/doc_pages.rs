//! The pages of `docs/` (and the README) as doc tests, so that their code cannot drift.
//!
//! Each page is the doc comment of one item below, through `include_str!`; `cargo test --doc`
//! then compiles, and runs, every ```` ```rust ```` block in it, exactly as it runs the examples
//! in the crates' own docs. A block that must not run (a server that never returns) is marked
//! `rust,no_run`; a block that is not Rust (diagrams, shell sessions, output) is marked `text`
//! (or `sh`). The one kind of block that is not compiled here is an excerpt quoted from a file
//! that compiles (`rust,ignore`, announced by `<!-- quote: PATH -->`): it is not a program by
//! itself, and `runtime/tests/sync_docs.rs` checks that it is still word for word in PATH.
//!
//! The module lives in the http crate because it is the one crate that sees both `spindle`
//! and `spindle_http`, and it exists only when rustdoc collects doc tests
//! (`#[cfg(doctest)]`), so it adds nothing to the library.
//!
//! A new page goes here too: `scripts/check-doc-links.py` fails when a page in `docs/` is not
//! included below.

/// `README.md`.
#[doc = include_str!("../../README.md")]
pub struct Readme;

/// `docs/README.md`.
#[doc = include_str!("../../docs/README.md")]
pub struct DocsIndex;

/// `docs/benchmarks.md`.
#[doc = include_str!("../../docs/benchmarks.md")]
pub struct Benchmarks;

/// `docs/observe.md`.
#[doc = include_str!("../../docs/observe.md")]
pub struct Observe;

/// `docs/blocking.md`.
#[doc = include_str!("../../docs/blocking.md")]
pub struct Blocking;

/// `docs/client.md`.
#[doc = include_str!("../../docs/client.md")]
pub struct Client;

/// `docs/coroutines.md`.
#[doc = include_str!("../../docs/coroutines.md")]
pub struct Coroutines;

/// `docs/deploy.md`.
#[doc = include_str!("../../docs/deploy.md")]
pub struct Deploy;

/// `docs/fuzzing.md`.
#[doc = include_str!("../../docs/fuzzing.md")]
pub struct Fuzzing;

/// `docs/http.md`.
#[doc = include_str!("../../docs/http.md")]
pub struct Http;

/// `docs/load.md`.
#[doc = include_str!("../../docs/load.md")]
pub struct Load;

/// `docs/reactor.md`.
#[doc = include_str!("../../docs/reactor.md")]
pub struct Reactor;

/// `docs/runtime.md`.
#[doc = include_str!("../../docs/runtime.md")]
pub struct Runtime;

/// `docs/server-models.md`.
#[doc = include_str!("../../docs/server-models.md")]
pub struct ServerModels;

/// `docs/stress.md`.
#[doc = include_str!("../../docs/stress.md")]
pub struct Stress;

/// `docs/sync.md`.
#[doc = include_str!("../../docs/sync.md")]
pub struct Sync;

/// `docs/time.md`.
#[doc = include_str!("../../docs/time.md")]
pub struct Time;

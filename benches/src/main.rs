//! `spindle-bench`: spindle measured side by side with tokio and hyper, in one binary.
//!
//! Four subcommands, each in its own module:
//!
//! | command | module | what it does |
//! |---|---|---|
//! | `runtime [--iters N] [--only NAME]` | [`runtime_bench`] (+ [`workloads`]) | runs the same seven workloads on a spindle and a tokio runtime, alternating, and prints medians and the ratio |
//! | `hyper-server --port P` | [`hyper_server`] | hyper 1.x on tokio, "Hello, World!" on `GET /`, the reference for `benches/http.sh` |
//! | `tokio-minimal --port P` | [`tokio_minimal`] | the least a tokio HTTP server can do: httparse + one write per batch |
//! | `parse [--iters N] [--batches B] [--only CASE]` | [`parse_bench`] | spindle's request-head parser against httparse on three inputs |
//!
//! `benches/http.sh` drives the two servers (and the spindle demo server) with `wrk`;
//! `docs/benchmarks.md` explains how to run everything and how to read the numbers.
//!
//! Invariant: nothing here asserts on timing. A benchmark reports numbers; people judge them.

mod http_date;
mod hyper_server;
mod parse_bench;
mod runtime_bench;
mod tokio_minimal;
mod workloads;

use std::process::ExitCode;

/// How to call this binary; printed on any argument error.
const USAGE: &str = "\
usage:
  spindle-bench runtime [--iters N] [--only NAME]   compare spindle and tokio on runtime workloads
  spindle-bench hyper-server --port P               hyper 1.x hello-world server (tokio, 2 workers)
  spindle-bench tokio-minimal --port P              minimal httparse server (tokio, 2 workers)
  spindle-bench parse [--iters N] [--batches B] [--only CASE]
                                                    request-head parser vs httparse, ns per request";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("spindle-bench: {message}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

/// Dispatches on the subcommand; every error comes back as a message for the user.
fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args.split_first().ok_or("missing subcommand")?;
    let mut flags = Flags::parse(rest)?;
    match command.as_str() {
        "runtime" => {
            let options = runtime_bench::Options {
                iterations: flags.take_number("--iters")?.unwrap_or(25),
                only: flags.take("--only"),
            };
            flags.expect_empty()?;
            runtime_bench::run(&options)
        }
        "hyper-server" => {
            let port = flags.take_number("--port")?.ok_or("--port is required")?;
            flags.expect_empty()?;
            hyper_server::run(port).map_err(|e| format!("hyper-server: {e}"))
        }
        "tokio-minimal" => {
            let port = flags.take_number("--port")?.ok_or("--port is required")?;
            flags.expect_empty()?;
            tokio_minimal::run(port).map_err(|e| format!("tokio-minimal: {e}"))
        }
        "parse" => {
            let options = parse_bench::Options {
                iterations: flags.take_number("--iters")?.unwrap_or(200_000),
                batches: flags.take_number("--batches")?.unwrap_or(15),
                only: flags.take("--only"),
            };
            flags.expect_empty()?;
            parse_bench::run(&options)
        }
        other => Err(format!("unknown subcommand `{other}`")),
    }
}

/// `--name value` pairs from the command line, consumed one by one so leftovers can be reported.
#[derive(Debug)]
struct Flags {
    /// The pairs not yet taken, in command-line order.
    pairs: Vec<(String, String)>,
}

impl Flags {
    /// Splits `--a 1 --b x` into pairs; a flag without a value is an error.
    fn parse(args: &[String]) -> Result<Flags, String> {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(name) = it.next() {
            if !name.starts_with("--") {
                return Err(format!("unexpected argument `{name}`"));
            }
            let value = it.next().ok_or(format!("{name} needs a value"))?;
            pairs.push((name.clone(), value.clone()));
        }
        Ok(Flags { pairs })
    }

    /// Removes and returns the value of `name`, if it was given.
    fn take(&mut self, name: &str) -> Option<String> {
        let index = self.pairs.iter().position(|(n, _)| n == name)?;
        Some(self.pairs.remove(index).1)
    }

    /// Like [`Flags::take`], parsed as a number.
    fn take_number<N: std::str::FromStr>(&mut self, name: &str) -> Result<Option<N>, String> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("{name}: `{v}` is not a valid number")),
        }
    }

    /// Fails if any flag was given that the subcommand does not know.
    fn expect_empty(&self) -> Result<(), String> {
        match self.pairs.first() {
            None => Ok(()),
            Some((name, _)) => Err(format!("unknown flag `{name}`")),
        }
    }
}

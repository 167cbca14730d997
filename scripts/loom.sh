#!/usr/bin/env bash
# Runs the loom models: the task state protocol (wake while running, join vs completion, abort vs a poll under way,
# abort vs run, join-handle drop vs completion), park/unpark on the condvar and reactor paths, shutdown
# racing a park, the idle-worker handshake, the long-poll record (a monitor reading a worker's poll
# record never mixes two polls' fields, and the end of a flagged poll is claimed exactly once), and
# the trace ring (a writer flushing while a dump reads).
# loom replaces the atomics, locks and UnsafeCell imported through runtime/src/loom.rs and
# explores every interleaving of each model. The oneshot channel and the in-memory duplex pipe have
# their own models (tests/loom_oneshot.rs, tests/loom_duplex.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
# Optimized for speed of the models, not of the build: the workspace's release profile uses
# fat LTO and one codegen unit (for the benchmarks), which would only slow this build down.
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
# A separate target dir: a loom build must not evict the normal one.
# Only the models run: ordinary unit tests use the loom types outside `loom::model`, which loom refuses.
cargo test -p spindle --release --target-dir target/loom --lib -- loom_tests task::tests trace:: "$@"
exec cargo test -p spindle --release --target-dir target/loom --test loom_oneshot --test loom_duplex -- "$@"

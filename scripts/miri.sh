#!/usr/bin/env bash
# Runs the task/waker tests under Miri (and FutureSlot's, below), which checks the raw-pointer code of the task cell
# (runtime/src/task/raw.rs, waker.rs) and of the oneshot channel (runtime/src/sync/oneshot.rs) for undefined behaviour: use-after-free, double free,
# invalid aliasing, data races, and leaks.
# Needs the nightly toolchain with the miri component; installs the component if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add --toolchain nightly miri rust-src
fi
# A separate target dir keeps Miri's build apart from the normal one.
export MIRIFLAGS="${MIRIFLAGS:-}"
cargo +nightly miri test -p spindle --lib --target-dir target/miri -- task:: "$@"
# The oneshot channel is the other unsafe, lock-free code on the hot path.
cargo +nightly miri test -p spindle --lib --target-dir target/miri -- sync::oneshot "$@"
# FutureSlot writes futures into kept raw memory and drops them in place.
cargo +nightly miri test -p spindle --lib --target-dir target/miri -- future::slot "$@"

#!/usr/bin/env bash
# Runs the runtime's unsafe and lock-based code under Miri, which checks for undefined behaviour:
# use-after-free, double free, invalid aliasing, data races, and leaks.
#
# - task::          the raw task cell and its wakers (task/raw.rs), including the models
#                   of a task completed and freed while it is being scheduled;
# - sync::          the oneshot channel (lock-free), and the lock-based primitives: mutex,
#                   semaphore, notify, mpsc, and the wait list they share;
# - future::slot    FutureSlot writes futures into kept raw memory and drops them in place;
# - monitor::       the long-poll record (seqlock reads of a worker's poll, the route label,
#                   the claim of a flagged poll's end); task::names, the name registry;
# - executor::      the idle-worker accounting, and a real 2-worker runtime handing a worker's
#                   local queue to a light sleeper that steals it (mio's epoll and eventfd run
#                   under Miri's shims);
# - trace::         the trace rings and JSON writer, and a traced 2-worker runtime dumped from
#                   another thread while it runs (in the Tree Borrows run, for crossbeam's sake);
#                   so does task::builder's test of spawn sites and names on a real runtime, whose
#                   spawns reach the scheduler through the task cell (`Handle::spawn_owned`).
#
# Needs the nightly toolchain with the miri component; installs the component if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup component add --toolchain nightly miri rust-src
fi
# A separate target dir keeps Miri's build apart from the normal one.
export MIRIFLAGS="${MIRIFLAGS:-}"
cargo +nightly miri test -p spindle --lib --target-dir target/miri -- task:: sync:: future::slot executor::idle monitor:: trace::ring trace::json --skip task::builder::tests::names_and_spawn_sites_are_recorded "$@"
# The real runtime steals through crossbeam-deque, whose epoch collector keeps an intrusive list
# that Stacked Borrows rejects inside crossbeam-epoch itself (internal.rs, `element_of`); Tree
# Borrows, Miri's newer aliasing model, accepts it, so this one runs under Tree Borrows. The
# epoch collector is a process-wide global that frees its garbage lazily, so what it still holds
# at exit is reported as leaked: leaks are not checked in this run (the runs above check ours).
# Isolation is off here: a real runtime starts the long-poll monitor, which stamps each report
# with the wall clock and reads the workers' CPU wait from /proc, and under Miri every poll is
# slow enough to be reported.
MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks -Zmiri-disable-isolation $MIRIFLAGS" \
    cargo +nightly miri test -p spindle --lib --target-dir target/miri -- executor::multi_thread trace::tests task::builder::tests::names_and_spawn_sites_are_recorded "$@"

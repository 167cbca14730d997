#!/usr/bin/env bash
# Reruns the runtime's concurrency tests many times in a debug build with a noisy neighbour
# beside them, and fails if any run fails.
#
# Why: a race shows up only when a thread is preempted at an odd point, and a quiet machine
# rarely does that. The neighbour is both CPU-bound (`yes`) and syscall-heavy (`dd` with 1-byte
# blocks, and python3 threads sleeping 100 µs in a loop), because the wake-ups of syscall-heavy
# processes are what preempt our workers in the middle of a poll (issue 9: the failure that
# `yes` alone never showed).
#
# usage: scripts/stress-tests.sh [RUNS] [SECONDS]
#   RUNS     reruns of each test binary (default 2000)
#   SECONDS  time budget per binary; reruns stop early when it is spent (default: none)
# Environment: STRESS_NOISE=0 runs without the neighbour (to compare); STRESS_ONLY="task sync_runtime"
# reruns only those binaries (names as in the table).
# Failed runs' output is kept in target/stress/.
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-2000}"
budget="${2:-0}"
out=target/stress
mkdir -p "$out"

# The binaries under test: the runtime's concurrency integration tests and the executor's unit
# tests (the lib test binary, filtered to `executor::`). Built once, as debug: slower code widens
# the windows in which a preemption lands.
cargo test -p spindle --no-run --message-format=json --test task --test sync_runtime \
    --test future_runtime --test metrics --test long_poll --test long_poll_off --test trace \
    --test runtime_tls --lib 2>/dev/null >"$out/build.json"
exe() { # the test executable whose target is named $1 (kind $2)
    python3 - "$1" "$2" "$out/build.json" <<'EOF'
import json, sys
name, kind, path = sys.argv[1:]
for line in open(path):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == name and kind in m["target"]["kind"]:
        print(m["executable"])
EOF
}
# Copied aside, so that a build running beside the reruns cannot replace them midway.
only="${STRESS_ONLY:-task sync_runtime future_runtime metrics long_poll long_poll_off trace runtime_tls executor_units}"
declare -A bins=()
for pair in task:test sync_runtime:test future_runtime:test metrics:test long_poll:test \
    long_poll_off:test trace:test runtime_tls:test spindle:lib; do
    target="${pair%%:*}"
    name="$target"
    [ "$target" = spindle ] && name=executor_units
    case " $only " in *" $name "*) ;; *) continue ;; esac
    src="$(exe "$target" "${pair##*:}")"
    if [ -z "$src" ]; then
        echo "stress-tests: no test binary for $name" >&2
        exit 2
    fi
    cp "$src" "$out/$name.bin"
    bins[$name]="$out/$name.bin"
done
declare -A filters=([executor_units]="executor::")

noise_pids=()
stop_noise() {
    for pid in "${noise_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap stop_noise EXIT
if [ "${STRESS_NOISE:-1}" != 0 ]; then
    yes >/dev/null &
    noise_pids+=($!)
    dd if=/dev/zero of=/dev/null bs=1 2>/dev/null &
    noise_pids+=($!)
    python3 -c '
import threading, time
def nap():
    while True:
        time.sleep(0.0001)
for _ in range(16):
    threading.Thread(target=nap, daemon=True).start()
time.sleep(24 * 3600)' &
    noise_pids+=($!)
fi

printf '%-16s %8s %8s %8s\n' binary runs failed seconds
status=0
for name in $only; do
    bin="${bins[$name]}"
    start=$SECONDS
    done_runs=0
    failed=0
    while [ "$done_runs" -lt "$runs" ]; do
        if [ "$budget" -gt 0 ] && [ $((SECONDS - start)) -ge "$budget" ]; then
            break
        fi
        done_runs=$((done_runs + 1))
        # shellcheck disable=SC2086 # the filter is one word or none
        if ! timeout 120 "$bin" -q ${filters[$name]:-} >"$out/$name-last.txt" 2>&1; then
            failed=$((failed + 1))
            cp "$out/$name-last.txt" "$out/$name-failure-$failed.txt"
        fi
        if [ $((done_runs % 100)) = 0 ]; then
            echo "  $name: $done_runs runs, $failed failed, $((SECONDS - start)) s" >&2
        fi
    done
    printf '%-16s %8d %8d %8d\n' "$name" "$done_runs" "$failed" $((SECONDS - start))
    if [ "$failed" -gt 0 ]; then
        status=1
        echo "  first failure: $out/$name-failure-1.txt" >&2
        grep -m5 -E "panicked|left|right|FAILED" "$out/$name-failure-1.txt" >&2 || true
    fi
done
exit "$status"

#!/usr/bin/env bash
# http-callgrind.sh: user-space instructions per request of the demo server, counted with
# callgrind (deterministic, so a shared machine's load does not move it, unlike wall time).
#
# Usage:   benches/http-callgrind.sh [DEMO_BINARY ...]   (default: target/release/spindle-demo)
# Needs:   valgrind, python3; a release build (cargo build --release --bin spindle-demo)
# Knobs (environment):
#   MODES="pipelined keep-alive"   workloads: 16 pipelined `GET /` per write, or one at a time
#   SMALL=1600 LARGE=4800           request counts of the two runs per workload
#   RUNS=1                          repetitions per binary and workload
#   TRACE=off                       off: pass --no-trace to a demo that has the flag (the demo
#                                   records a scheduling trace by default since issue 11's
#                                   part 5; the metrics' budget is measured without it)
#
# Plan: for each binary, workload and run: 1. start the binary under callgrind with one
# worker, no access log and a free port; 2. wait for its "listening" line; 3. send SMALL (then
# LARGE) `GET /` on one connection, one request or a batch of 16 per write, waiting for every
# answer before the next write; 4. stop it with SIGINT and read the instructions callgrind
# collected. The per-request figure is (count for LARGE - count for SMALL) / (LARGE - SMALL):
# start-up, shutdown and the connection's own set-up cancel out. Prints one line per run.
# docs/benchmarks.md ("Instructions per request") says how the figures are used.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
MODES=${MODES:-"pipelined keep-alive"}
SMALL=${SMALL:-1600}
LARGE=${LARGE:-4800}
RUNS=${RUNS:-1}
TRACE=${TRACE:-off}
BINARIES=("$@")
[ ${#BINARIES[@]} -eq 0 ] && BINARIES=("${CARGO_TARGET_DIR:-$ROOT/target}/release/spindle-demo")

command -v valgrind >/dev/null || { echo "http-callgrind.sh needs valgrind" >&2; exit 1; }

# The client: N `GET /` to 127.0.0.1:PORT on one connection, BATCH per write, each batch's
# answers read before the next write (counted by the demo's `Hello, World!` body).
CLIENT='
import socket, sys
port, batch, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * batch
marker = b"Hello, World!"
done, buf = 0, b""
while done < n:
    s.sendall(req)
    got = 0
    while got < batch:
        data = s.recv(1 << 16)
        if not data:
            sys.exit("the server closed the connection")
        buf += data
        c = buf.count(marker)
        if c:
            got += c
            buf = buf[buf.rindex(marker) + len(marker):]
    done += batch
s.close()
'

# Prints the instructions callgrind collected while binary $1 served $3 requests of batch $2.
count() {
    local bin=$1 batch=$2 n=$3 log pid port="" flags=(--port 0 --workers 1 --no-access-log)
    # Older demos have no --no-trace (and no trace); the flag's name is in the usage text.
    if [ "$TRACE" = off ] && grep -q -a -- "--no-trace" "$bin"; then
        flags+=(--no-trace)
    fi
    log=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "${flags[@]}" >"$log" 2>&1 &
    pid=$!
    # 1. - 2. The demo prints its address once it listens (slow under valgrind: up to 60 s).
    for _ in $(seq 600); do
        port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$' || true)
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        echo "$bin did not start:" >&2
        cat "$log" >&2
        kill "$pid" 2>/dev/null || true
        rm -f "$log"
        return 1
    fi
    # 3.
    python3 -c "$CLIENT" "$port" "$batch" "$n"
    # 4.
    kill -INT "$pid"
    wait "$pid" || true
    grep -o "Collected : [0-9]*" "$log" | grep -o "[0-9]*"
    rm -f "$log"
}

printf '%-40s %-11s %12s %12s %10s\n' binary workload "I($SMALL)" "I($LARGE)" "per req"
for bin in "${BINARIES[@]}"; do
    for mode in $MODES; do
        case $mode in
            pipelined) batch=16 ;;
            keep-alive) batch=1 ;;
            *) echo "unknown workload $mode" >&2; exit 1 ;;
        esac
        for _ in $(seq "$RUNS"); do
            small=$(count "$bin" "$batch" "$SMALL") || exit 1
            large=$(count "$bin" "$batch" "$LARGE") || exit 1
            printf '%-40s %-11s %12d %12d %10d\n' "$bin" "$mode" "$small" "$large" \
                $(((large - small) / (LARGE - SMALL)))
        done
    done
done

#!/usr/bin/env bash
# trace-ab.sh: the scheduling trace's cost on HTTP keep-alive. Runs one spindle-demo binary
# twice (the flight recorder on, as by default, and --no-trace), then wrk -t1 -c64 -d5s against
# each in turn, the order flipping every round, and prints req/s and the server's CPU time per
# 1,000 requests (utime+stime from /proc/PID/stat around each run) with the load average.
#
# Usage:   benches/trace-ab.sh        (needs: cargo build --release -p spindle-demo; wrk; curl)
# Knobs:   ROUNDS=7, BIN=target/release/spindle-demo, PORT_BASE=18290
# docs/benchmarks.md ("The scheduling trace: cost") says how to read it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/spindle-demo}
ROUNDS=${ROUNDS:-7}
PORT_BASE=${PORT_BASE:-18290}
ON_PORT=$((PORT_BASE + 1))
OFF_PORT=$((PORT_BASE + 2))
"$BIN" --port "$ON_PORT" --workers 2 --no-access-log >/dev/null 2>&1 &
ON=$!
"$BIN" --port "$OFF_PORT" --workers 2 --no-access-log --no-trace >/dev/null 2>&1 &
OFF=$!
trap 'kill $ON $OFF 2>/dev/null || true' EXIT
sleep 1
echo "GET /debug/trace: on $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ON_PORT/debug/trace"), off $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OFF_PORT/debug/trace")"
wrk -t1 -c64 -d2s "http://127.0.0.1:$ON_PORT/" >/dev/null # warm-up
wrk -t1 -c64 -d2s "http://127.0.0.1:$OFF_PORT/" >/dev/null
TCK=$(getconf CLK_TCK)
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="on off"; else order="off on"; fi
    for side in $order; do
        if [ "$side" = on ]; then pid=$ON port=$ON_PORT; else pid=$OFF port=$OFF_PORT; fi
        t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
        out=$(wrk -t1 -c64 -d5s "http://127.0.0.1:$port/")
        t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        reqs=$(echo "$out" | awk '/requests in/ {print $1}')
        cpu=$(awk -v a="$t0" -v b="$t1" -v t="$TCK" -v n="$reqs" 'BEGIN {printf "%.3f", (b-a)*1000/t/(n/1000)}')
        printf 'round %d %-3s %10s req/s %8s ms CPU per 1k requests\n' "$r" "$side" "$rps" "$cpu"
    done
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
done

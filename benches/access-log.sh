#!/usr/bin/env bash
# access-log.sh: what the demo's access log costs, in server CPU per 1,000 pipelined requests,
# measured with and without it (`--no-access-log`) in alternating runs of one demo binary.
#
# Usage:   benches/access-log.sh [DEMO_BINARY] [ROUNDS] [DURATION]
#          (default: target/release/spindle-demo, 3 rounds, 5s per run)
# Needs:   wrk, curl. The log goes to /dev/null, so the figure is the log's own work
#          (formatting, buffering, writing), not a terminal's.
# Prints one line per run; the cost per logged request is the difference of the medians.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$ROOT/target/release/spindle-demo}
rounds=${2:-3}
dur=${3:-5s}
port=${PORT:-18190}
tck=$(getconf CLK_TCK)

# utime + stime of process $1, in clock ticks (fields after the `(comm)` that may hold spaces).
ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat"; }

# One run: start the demo with flags "$@", warm up 1 s, measure one wrk run, stop it.
run() {
    local label=$1 pid before after out n
    shift
    "$bin" --port "$port" --workers 2 "$@" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    wrk -t1 -c64 -d1s -s "$ROOT/benches/pipeline.lua" "http://127.0.0.1:$port/" >/dev/null
    before=$(ticks "$pid")
    out=$(wrk -t1 -c64 "-d$dur" -s "$ROOT/benches/pipeline.lua" "http://127.0.0.1:$port/")
    after=$(ticks "$pid")
    n=$(awk '/ requests in / { print $1 }' <<<"$out")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    awk -v l="$label" -v t=$((after - before)) -v n="$n" -v k="$tck" \
        'BEGIN { printf "%s %.3f ms CPU per 1k pipelined requests (%d requests)\n", l, t * 1e6 / k / n, n }'
}

for _ in $(seq "$rounds"); do
    run "no-log" --no-access-log
    run "log   "
done

#!/usr/bin/env bash
# load_vs_wrk.sh: spindle-load against wrk, side by side, on the same server (the minimal tokio
# server of benches/, `spindle-bench tokio-minimal`), one load thread each, 64 connections,
# keep-alive and 16-deep pipelined; runs alternate (wrk, spindle-load, wrk, ...) and each
# figure is the median of ROUNDS runs. Prints a markdown table; docs/load.md quotes it.
#
#   cargo build --release -p spindle-bench --bin spindle-bench
#   cargo build --release --bin spindle-load
#   benches/load_vs_wrk.sh [SECONDS_PER_RUN] [ROUNDS]
#   benches/load_vs_wrk.sh instructions     # user-space instructions per request (valgrind)
#
# `instructions` runs each tool twice under callgrind in each mode (spindle-load with -n 20000
# and -n 60000; wrk, which has no request count, for 2 s and 6 s) and divides the difference in
# instructions by the difference in answers, so start-up, connecting and the report cancel out.
# Callgrind counts user space only: the kernel's share of each request (most of it, on
# loopback) is not in these figures, and the tools run about 50x slower under it.
#
# Latency: in keep-alive mode both tools measure each request from its write to its answer. In
# pipelined mode wrk (benches/pipeline.lua) measures one sample per 16-request batch and
# spindle-load one per request (refilling each slot as it frees), so only req/s compare there.
#
# Little's law check (keep-alive): 64 connections, each with one request outstanding or about
# to be, complete X requests/s, so the mean time around one connection's loop is 64/X. A tool
# whose mean latency is below 64/X is not counting part of that loop (for wrk: the time from
# parsing an answer to writing the next request, spent in its own event loop). The table shows
# the tool's mean latency next to 64/X; docs/benchmarks.md explains the difference.
#
# Two more columns and one more mode test that explanation: each tool's CPU use (user + system
# over wall time, from /usr/bin/time; 100% means the load thread itself is the bottleneck and
# its own queueing is part of every cycle), and keep-alive with 8 connections, where neither
# tool should be saturated, so their latencies should agree whatever their bookkeeping. `CPU
# per answer` is the tool's user + system time divided by its answers: what each request costs
# the load side, which a busy machine disturbs less than the rate.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-4}
ROUNDS=${2:-3}
PORT=${PORT:-18093}
BENCH=target/release/spindle-bench
LOAD=target/release/spindle-load
for b in "$BENCH" "$LOAD"; do
    [ -x "$b" ] || { echo "missing $b: build it first (see the header)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

"$BENCH" tokio-minimal --port "$PORT" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.1
done
URL=http://127.0.0.1:$PORT/


# Converts wrk's latency figures (12.3us, 1.2ms, 3s) to microseconds.
to_us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else if (v ~ /s$/) {sub(/s/,"",v); print v*1e6} else print v}'; }

# Connections for a mode.
conns() { [ "$1" = keep-alive-c8 ] && echo 8 || echo 64; }

# CPU use of the last timed run, in percent of one core.
cpu() { awk '{printf "%.0f", ($2 + $3) / $1 * 100}' /tmp/load_vs_wrk.time; }

# CPU time of the last timed run per answer, in microseconds, given its req/s.
cpu_per_req() { awk -v rps="$1" -v secs="$SECS" '{printf "%.2f", ($2 + $3) * 1e6 / (rps * secs)}' /tmp/load_vs_wrk.time; }

# One wrk run: prints "req/s p50_us p99_us mean_us cpu%".
run_wrk() {
    local out c
    c=$(conns "$1")
    if [ "$1" = pipelined ]; then
        out=$(/usr/bin/time -f "%e %U %S" -o /tmp/load_vs_wrk.time \
            wrk -t1 -c64 -d"${SECS}s" --latency -s benches/pipeline.lua "$URL")
    else
        out=$(/usr/bin/time -f "%e %U %S" -o /tmp/load_vs_wrk.time \
            wrk -t1 -c"$c" -d"${SECS}s" --latency "$URL")
    fi
    local rps p50 p99 mean
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    mean=$(echo "$out" | awk '$1=="Latency" {print $2; exit}' | to_us)
    p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_us)
    p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_us)
    echo "$rps $p50 $p99 $mean $(cpu) $(cpu_per_req "$rps")"
}

# One spindle-load run: prints "req/s p50_us p99_us mean_us cpu%".
run_load() {
    local depth=1 line
    [ "$1" = pipelined ] && depth=16
    line=$(/usr/bin/time -f "%e %U %S" -o /tmp/load_vs_wrk.time \
        "$LOAD" -t 1 -c "$(conns "$1")" --pipeline "$depth" -d "${SECS}s" --json --quiet "$URL" |
        python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency"]; print(r["requests_per_sec"], l["p50"]*1e6, l["p99"]*1e6, l["mean"]*1e6) if r["errors"]["total"]==0 else sys.exit("errors: %s" % r["errors"])')
    echo "$line $(cpu) $(cpu_per_req "${line%% *}")"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Instructions (callgrind's Ir total) of one run whose valgrind log is $1.
collected() { grep -o 'Collected : [0-9]*' "$1" | awk '{print $3}'; }

if [ "$SECS" = instructions ]; then
    command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
    tmp=$(mktemp -d)
    echo "| mode | tool | instructions per request |"
    echo "|---|---|---|"
    for mode in keep-alive pipelined keep-alive-c8; do
        c=$(conns $mode)
        depth=1
        [ $mode = pipelined ] && depth=16
        for n in 20000 60000; do
            valgrind --tool=callgrind --callgrind-out-file=/dev/null "$LOAD" -t 1 -c "$c" \
                --pipeline $depth -n $n -q "$URL" >/dev/null 2>"$tmp/load.$n"
        done
        ir=$(( $(collected "$tmp/load.60000") - $(collected "$tmp/load.20000") ))
        echo "| $mode | spindle-load -t1 -c$c | $((ir / 40000)) |"
        script=()
        [ $mode = pipelined ] && script=(-s benches/pipeline.lua)
        for d in 2 6; do
            valgrind --tool=callgrind --callgrind-out-file=/dev/null wrk -t1 -c"$c" -d${d}s \
                "${script[@]}" "$URL" >"$tmp/wrk.$d.out" 2>"$tmp/wrk.$d"
        done
        ir=$(( $(collected "$tmp/wrk.6") - $(collected "$tmp/wrk.2") ))
        answers=$(( $(awk '/requests in/ {print $1}' "$tmp/wrk.6.out") - $(awk '/requests in/ {print $1}' "$tmp/wrk.2.out") ))
        echo "| $mode | wrk -t1 -c$c | $((ir / answers)) |"
    done
    rm -r "$tmp"
    exit 0
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| mode | tool | req/s (median of $ROUNDS) | p50 | p99 | mean | in flight / req/s | CPU | CPU per answer | runs (req/s) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for mode in keep-alive pipelined keep-alive-c8; do
    : >/tmp/load_vs_wrk.wrk
    : >/tmp/load_vs_wrk.load
    for _ in $(seq "$ROUNDS"); do
        run_wrk "$mode" >>/tmp/load_vs_wrk.wrk
        run_load "$mode" >>/tmp/load_vs_wrk.load
    done
    for tool in wrk load; do
        f=/tmp/load_vs_wrk.$tool
        c=$(conns $mode)
        name=$([ $tool = wrk ] && echo "wrk -t1 -c$c" || echo "spindle-load -t1 -c$c")
        inflight=$([ $mode = pipelined ] && echo 1024 || echo "$c")
        rps=$(cut -d' ' -f1 $f | median)
        printf '| %s | %s | %.0f | %.0f us | %.0f us | %.0f us | %.0f us | %s%% | %s us | %s |\n' "$mode" "$name" \
            "$rps" "$(cut -d' ' -f2 $f | median)" "$(cut -d' ' -f3 $f | median)" \
            "$(cut -d' ' -f4 $f | median)" "$(echo "$inflight $rps" | awk '{print $1/$2*1e6}')" \
            "$(cut -d' ' -f5 $f | median)" "$(cut -d' ' -f6 $f | median)" \
            "$(cut -d' ' -f1 $f | awk '{printf "%s%.0f", (NR>1?", ":""), $1}')"
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

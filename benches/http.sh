#!/usr/bin/env bash
# http.sh: the HTTP comparison. Runs wrk against the spindle demo server, hyper and a minimal
# tokio server on loopback, one wrk run at a time, and prints one table with req/s, p99 latency,
# server CPU per 1,000 requests, and the ratios against tokio-minimal and hyper.
#
# Usage:   benches/http.sh                 (from anywhere; paths are relative to this file)
# Needs:   cargo build --release -p spindle-bench -p spindle-demo   (a missing binary is skipped)
#          wrk (installed with apt-get if absent)
# Knobs (environment):
#   DURATION=10s      length of each measured wrk run
#   WARMUP=2s         untimed wrk run per server before measuring (0 to skip)
#   ROUNDS=3          measured runs per server and workload; the table shows the median
#   CONNECTIONS=64    wrk -c
#   PORT_BASE=18080   servers listen on PORT_BASE+1, +2, +3
#   OUT_DIR=...       where raw wrk output and server logs go (default target/http-bench)
#   BASELINE_DEMO=... path of a spindle-demo binary built from an earlier commit: it joins the
#                     table as "spindle-base", so a change is measured side by side in one run
#   DEMO_FLAGS=...    extra flags for this tree's demo only (e.g. --no-trace: the scheduling
#                     trace's recorder is on by default, and a base from before it has no flag)
#
# Plan (numbered as in main): 1. start every server and wait until it answers GET /;
# 2. warm each up; 3. ROUNDS rounds: for each workload (keep-alive: one request per write;
# pipelined16: benches/pipeline.lua), for each server in an order that rotates every round,
# sample the server's CPU ticks (/proc/PID/stat utime+stime), run wrk, sample again;
# 4. stop the servers and print medians. Servers this script started are killed on any exit.
# Nothing here judges the numbers: docs/benchmarks.md says how to read them.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BIN_DIR=${CARGO_TARGET_DIR:-$ROOT/target}/release
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
PORT_BASE=${PORT_BASE:-18080}
OUT_DIR=${OUT_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/http-bench}
CLK_TCK=$(getconf CLK_TCK)

# The servers, in table order: name and command line (PORT is replaced by its port).
SERVERS=(spindle hyper tokio-minimal)
declare -A COMMAND=(
    [spindle]="$BIN_DIR/spindle-demo --port PORT --workers 2 --no-access-log ${DEMO_FLAGS:-}"
    [hyper]="$BIN_DIR/spindle-bench hyper-server --port PORT"
    [tokio-minimal]="$BIN_DIR/spindle-bench tokio-minimal --port PORT"
)
if [ -n "${BASELINE_DEMO:-}" ]; then
    SERVERS=(spindle spindle-base hyper tokio-minimal)
    COMMAND[spindle-base]="$BASELINE_DEMO --port PORT --workers 2 --no-access-log"
fi
WORKLOADS=(keep-alive pipelined16)

# Samples, keyed "server/workload": space-separated, one per round. The table shows medians.
# A missing key means the server was skipped or every run failed.
declare -A RPS P99_MS CPU_MS_PER_1K
# Servers that started and answered, in table order, with their pid and port.
RUNNING=()
declare -A PID PORT

# PIDs of servers this script started (and only those are killed).
STARTED_PIDS=()
cleanup() {
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wrk is needed (installed if this machine does not have it); curl probes readiness.
ensure_tools() {
    command -v curl >/dev/null || { echo "http.sh needs curl" >&2; exit 1; }
    command -v wrk >/dev/null && return
    echo "wrk not found; installing it with apt-get" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y wrk >&2
}

# Prints "utime + stime" of process $1 in clock ticks, for all its threads.
# The command name in field 2 may contain spaces, so fields are counted after its closing ')'.
cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    # After "pid (comm) " the fields start at 3 (state): utime is field 14, stime field 15.
    awk '{ print $12 + $13 }' <<<"$stat"
}

# Succeeds once something on port $1 answers GET / with HTTP (any status).
answers() {
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"
}

# Waits up to 10 s for server PID $1 to answer on port $2; fails if it exits or never answers.
wait_ready() {
    for _ in $(seq 100); do
        kill -0 "$1" 2>/dev/null || return 1
        answers "$2" && return 0
        sleep 0.1
    done
    return 1
}

# Converts a wrk time such as 812.00us, 1.23ms or 2.01s to milliseconds.
to_ms() {
    awk -v t="$1" 'BEGIN {
        n = t + 0; unit = t; sub(/^[0-9.]+/, "", unit)
        f = (unit == "us") ? 0.001 : (unit == "ms") ? 1 : (unit == "s") ? 1000 : (unit == "m") ? 60000 : (unit == "h") ? 3600000 : -1
        if (f > 0) printf "%.3f", n * f    # an unknown unit prints nothing: no sample
    }'
}

# Median of the numbers in $1 (space-separated); empty if there are none.
median() {
    tr ' ' '\n' <<<"$1" | sort -g |
        awk 'NF { v[++n] = $1 } END { if (n == 0) exit; if (n % 2) print v[(n + 1) / 2]; else printf "%.3f\n", (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

# One measured wrk run: server $1, workload $2, round $3. Appends to the sample lists.
measure() {
    local server=$1 workload=$2 round=$3
    local port=${PORT[$server]} pid=${PID[$server]}
    local out="$OUT_DIR/$server.$workload.round$round.wrk.txt"
    local args=(-t1 "-c$CONNECTIONS" "-d$DURATION" --latency)
    [ "$workload" = pipelined16 ] && args+=(-s "$SCRIPT_DIR/pipeline.lua")

    local before after other
    local -A idle_before=()
    for other in "${RUNNING[@]}"; do
        idle_before[$other]=$(cpu_ticks "${PID[$other]}" 2>/dev/null || echo 0)
    done
    before=${idle_before[$server]}
    wrk "${args[@]}" "http://127.0.0.1:$port/" >"$out"
    after=$(cpu_ticks "$pid") || { echo "  $server died during $workload" >&2; return 1; }
    # The servers not under load should be asleep; one that burns CPU while idle steals it
    # from the run being measured. Report (not judge) anything above 5 ticks.
    for other in "${RUNNING[@]}"; do
        [ "$other" = "$server" ] && continue
        local idle=$(($(cpu_ticks "${PID[$other]}" 2>/dev/null || echo 0) - ${idle_before[$other]}))
        [ "$idle" -gt 5 ] && echo "  note: idle $other used $idle CPU ticks during this run" >&2
    done

    local requests rps p99
    requests=$(awk '/ requests in / { print $1 }' "$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    p99=$(awk '$1 == "99%" { print $2 }' "$out")
    if [ -z "$requests" ] || [ -z "$rps" ] || [ -z "$p99" ] || [ "$requests" -eq 0 ]; then
        echo "  $server/$workload: could not read wrk output, see $out" >&2
        return 1
    fi
    # Errors make the numbers suspect; show them rather than hide them.
    grep -E "Socket errors|Non-2xx" "$out" | sed "s|^|  $server/$workload: |" >&2 || true

    local key=$server/$workload cpu
    # CPU ms per 1,000 requests = (ticks / CLK_TCK * 1000 ms) / (requests / 1000).
    cpu=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$requests" \
        'BEGIN { printf "%.3f", (t / hz * 1000) / (n / 1000) }')
    RPS[$key]+=" $rps"
    # wrk prints 0 for a percentile its histogram lost (see pipelined16 in docs/benchmarks.md):
    # keep no sample rather than a false one.
    local p99_ms
    p99_ms=$(to_ms "$p99")
    if awk -v v="$p99_ms" 'BEGIN { exit !(v > 0) }'; then
        P99_MS[$key]+=" $p99_ms"
    fi
    CPU_MS_PER_1K[$key]+=" $cpu"
    echo "  round $round $server $workload: $rps req/s, p99 $p99, $cpu CPU ms/1k ($((after - before)) ticks, $requests requests)" >&2
}

# Starts server $1 on port $2 and waits until it answers; on success adds it to RUNNING.
start_server() {
    local server=$1 port=$2
    local cmd=${COMMAND[$server]//PORT/$port}
    local binary=${cmd%% *}
    if [ ! -x "$binary" ]; then
        echo "SKIP $server: $binary not found (build it: cargo build --release -p spindle-bench -p spindle-demo)" >&2
        return
    fi
    if answers "$port"; then
        echo "SKIP $server: something already answers on port $port (set PORT_BASE)" >&2
        return
    fi

    echo "$server: $cmd" >&2
    # $cmd is unquoted on purpose: it is a command line to split into words.
    $cmd >"$OUT_DIR/$server.log" 2>&1 &
    local pid=$!
    STARTED_PIDS+=("$pid")
    if ! wait_ready "$pid" "$port"; then
        echo "SKIP $server: it did not answer on port $port within 10 s (log: $OUT_DIR/$server.log)" >&2
        kill "$pid" 2>/dev/null || true
        return
    fi
    PID[$server]=$pid
    PORT[$server]=$port
    RUNNING+=("$server")
}

# Prints $1 / $2 with two decimals, or "-" when either is missing.
ratio() {
    if [ -z "${1:-}" ] || [ -z "${2:-}" ]; then echo "-"; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

print_table() {
    echo
    echo "wrk -t1 -c$CONNECTIONS -d$DURATION on 127.0.0.1, median of $ROUNDS rounds; pipelined16 = 16 requests per write"
    echo "p99: wrk's; for pipelined16 it is per batch and distorted by wrk's latency correction (see docs/benchmarks.md)"
    echo "ratios are this row / the reference row of the same workload: req/s above 1 is better, CPU below 1 is better"
    printf "%-14s %-12s %12s %10s %12s %14s %10s %14s %10s\n" \
        server workload "req/s" "p99 ms" "CPU ms/1k" "rps/tokio-min" "rps/hyper" "cpu/tokio-min" "cpu/hyper"
    local server workload key rps cpu p99
    for workload in "${WORKLOADS[@]}"; do
        for server in "${SERVERS[@]}"; do
            key=$server/$workload
            rps=$(median "${RPS[$key]:-}")
            [ -n "$rps" ] || { printf "%-14s %-12s %12s\n" "$server" "$workload" "(skipped)"; continue; }
            cpu=$(median "${CPU_MS_PER_1K[$key]}")
            p99=$(median "${P99_MS[$key]:-}")
            printf "%-14s %-12s %12.0f %10s %12s %14s %10s %14s %10s\n" \
                "$server" "$workload" "$rps" "${p99:-n/a}" "$cpu" \
                "$(ratio "$rps" "$(median "${RPS[tokio-minimal/$workload]:-}")")" \
                "$(ratio "$rps" "$(median "${RPS[hyper/$workload]:-}")")" \
                "$(ratio "$cpu" "$(median "${CPU_MS_PER_1K[tokio-minimal/$workload]:-}")")" \
                "$(ratio "$cpu" "$(median "${CPU_MS_PER_1K[hyper/$workload]:-}")")"
        done
    done
}

main() {
    ensure_tools
    mkdir -p "$OUT_DIR"

    # 1. Start every server we have (an idle server costs no CPU), each on its own port.
    local i=1 server
    for server in "${SERVERS[@]}"; do
        start_server "$server" $((PORT_BASE + i))
        i=$((i + 1))
    done
    [ "${#RUNNING[@]}" -gt 0 ] || { echo "no server could be started" >&2; exit 1; }

    # 2. Warm each one up (connections, buffers, lazily started threads).
    if [ "$WARMUP" != 0 ]; then
        for server in "${RUNNING[@]}"; do
            wrk -t1 "-c$CONNECTIONS" "-d$WARMUP" "http://127.0.0.1:${PORT[$server]}/" >/dev/null
        done
    fi

    # 3. Rounds: every server runs every workload once per round; the order of servers rotates
    #    each round, so slow spells of a shared machine do not always hit the same server.
    local round workload k n=${#RUNNING[@]}
    for round in $(seq "$ROUNDS"); do
        for workload in "${WORKLOADS[@]}"; do
            for k in $(seq 0 $((n - 1))); do
                measure "${RUNNING[$(((k + round - 1) % n))]}" "$workload" "$round" || true
            done
        done
    done

    # 4. Stop the servers before printing (the EXIT trap would too).
    cleanup
    STARTED_PIDS=()
    print_table
    echo "raw wrk output and server logs: $OUT_DIR" >&2
}

main "$@"

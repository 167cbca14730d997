#!/usr/bin/env bash
# coordinated_omission.sh: coordinated omission shown with a real run. The demo serves
# `GET /sleep?ms=2`; during each run the server process is frozen (SIGSTOP) for STALL seconds
# and then resumed (SIGCONT), as a long GC pause or a blocked event loop would. Three runs of
# SECS seconds each, the stall starting 3 s in, loopback only, everything bounded in time:
#   1. wrk -t1 -c8            closed loop (wrk2 is not packaged here; wrk is the closed loop)
#   2. spindle-load -c8       closed loop, the same shape as wrk
#   3. spindle-load --rate R  open loop at R requests/s, latency counted from each request's
#                             intended send time (the coordinated-omission correction)
# Prints one table, then the open-loop run's percentile spectrum. docs/load.md quotes it.
#
#   cargo build --release --bin spindle-demo --bin spindle-load
#   benches/coordinated_omission.sh [SECS] [STALL] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
STALL=${2:-1}
RATE=${3:-2000}
PORT=${PORT:-18094}
DEMO=target/release/spindle-demo
LOAD=target/release/spindle-load
for b in "$DEMO" "$LOAD"; do
    [ -x "$b" ] || { echo "missing $b: build it first (see the header)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }

"$DEMO" --port "$PORT" --workers 2 --no-access-log >/dev/null 2>&1 &
SERVER=$!
# Whatever happens, the server is resumed and stopped.
trap 'kill -CONT $SERVER 2>/dev/null; kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break
    sleep 0.1
done
URL="http://127.0.0.1:$PORT/sleep?ms=2"

# Freezes the server 3 s from now for STALL seconds (runs beside the load; SECS must exceed
# 3 + STALL for the stall to fall inside the run).
stall() {
    sleep 3
    kill -STOP "$SERVER"
    sleep "$STALL"
    kill -CONT "$SERVER"
}

# Converts wrk's latency figures (12.3us, 1.2ms, 3s) to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v); print v} else if (v ~ /s$/) {sub(/s/,"",v); print v*1000} else print v}'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "GET /sleep?ms=2 on spindle-demo (2 workers), ${SECS} s per run, server frozen for ${STALL} s at 3 s"
echo
echo "| run | requests | req/s | p50 | p90 | p99 | p99.9 | max |"
echo "|---|---|---|---|---|---|---|---|"

# 1. wrk, closed loop.
stall &
STALLER=$!
out=$(timeout $((SECS + 30)) wrk -t1 -c8 -d"${SECS}s" --latency "$URL")
wait $STALLER
pct() { echo "$out" | awk -v p="$1" '$1==p {print $2}' | to_ms; }
printf '| wrk -t1 -c8 (closed) | %s | %s | %.2f ms | %.2f ms | %.2f ms | n/a | %.2f ms |\n' \
    "$(echo "$out" | awk '/requests in/ {print $1}')" \
    "$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')" \
    "$(pct 50%)" "$(pct 90%)" "$(pct 99%)" \
    "$(echo "$out" | awk '$1=="Latency" {print $4; exit}' | to_ms)"

# One spindle-load run's row, from its JSON on stdin.
row() {
    python3 -c '
import json, sys
r = json.load(sys.stdin)
l = r["latency"]
ms = lambda s: "%.2f ms" % (s * 1e3)
print("| %s | %d | %.0f | %s | %s | %s | %s | %s |" % (sys.argv[1], r["requests"],
      r["requests_per_sec"], ms(l["p50"]), ms(l["p90"]), ms(l["p99"]), ms(l["p99_9"]), ms(l["max"])))
if r["errors"]["total"]:
    print("errors:", r["errors"])
o = r.get("open_loop")
if o:
    print("open loop: %d scheduled, %d sent, %d late (>1 ms, worst %.0f ms), %d dropped" % (
          o["scheduled"], o["sent"], o["late"], o["max_late_secs"] * 1e3, o["dropped"]),
          file=open("/tmp/co_open.txt", "w"))
' "$1"
}

# 2. spindle-load, closed loop, the same shape as wrk.
stall &
STALLER=$!
timeout $((SECS + 30)) "$LOAD" -c 8 -d "${SECS}s" --json --quiet "$URL" | row "spindle-load -c8 (closed)"
wait $STALLER

# 3. spindle-load, open loop at RATE requests/s.
stall &
STALLER=$!
timeout $((SECS + 30)) "$LOAD" -c 64 --rate "$RATE" -d "${SECS}s" --json --quiet --percentiles "$URL" \
    >/tmp/co_open.json
wait $STALLER
row "spindle-load -c64 --rate $RATE (open)" </tmp/co_open.json
echo
cat /tmp/co_open.txt
echo
echo "open loop percentile spectrum (percentile, latency, answers in the step):"
python3 -c '
import json
r = json.load(open("/tmp/co_open.json"))
for p in r["percentiles"]:
    if p["count"] or p["percentile"] == 100.0:
        print("  %10.5f%%  %10.2f ms  %7d" % (p["percentile"], p["latency_secs"] * 1e3, p["count"]))
'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

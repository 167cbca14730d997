#!/usr/bin/env bash
# Stops one of two spindle demo instances with SIGTERM while nginx (deploy/nginx.conf) spreads
# mixed GET and POST load over both, and reports requests sent, failed and non-2xx.
# Goal: 0 failed and 0 non-2xx, POSTs included (docs/deploy.md has the results).
#
# Usage: deploy/nginx-drain.sh            (from the repository root; run as root to let it
#                                          install nginx with apt-get when it is missing)
# Environment (all optional):
#   DURATION=12      seconds of load          KILL_AT=4     seconds into the load for SIGTERM
#   CONCURRENCY=16   client threads           KEEPALIVE=1   0: no upstream keep-alive (nginx
#                                                           opens a connection per request)
#   NON_IDEMPOTENT=1 0: drop `non_idempotent` (POSTs are then retried only after a refused connect)
#   DEMO_FLAGS=""    extra flags for both instances, e.g. "--drain-grace-ms 500"
#   FRONT=18080 A=18081 B=18082   loopback ports
#   DEMO=path        the demo binary to run (default: build target/release/spindle-demo)
# Exit status: 0 when nothing failed, 1 otherwise. Everything it starts is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-12}
KILL_AT=${KILL_AT:-4}
CONCURRENCY=${CONCURRENCY:-16}
KEEPALIVE=${KEEPALIVE:-1}
NON_IDEMPOTENT=${NON_IDEMPOTENT:-1}
DEMO_FLAGS=${DEMO_FLAGS:-}
FRONT=${FRONT:-18080}
A=${A:-18081}
B=${B:-18082}
root=$(cd "$(dirname "$0")/.." && pwd)

# 1. nginx (the Debian package) if missing.
if ! command -v nginx >/dev/null; then
    echo "installing nginx (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi

# 2. The demo, release build (or the binary named by DEMO, e.g. an older build to compare).
demo=${DEMO:-}
if [ -z "$demo" ]; then
    (cd "$root" && cargo build --release --quiet --bin spindle-demo)
    demo="$root/target/release/spindle-demo"
fi

work=$(mktemp -d /tmp/spindle-deploy.XXXXXX)
mkdir -p "$work/logs"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# 3. Two instances on loopback, one worker each; wait until each answers /healthz.
# shellcheck disable=SC2086 # DEMO_FLAGS is a list of flags
"$demo" --port "$A" --workers 1 --no-access-log $DEMO_FLAGS >"$work/a.log" 2>&1 & pid_a=$!
# shellcheck disable=SC2086
"$demo" --port "$B" --workers 1 --no-access-log $DEMO_FLAGS >"$work/b.log" 2>&1 & pid_b=$!
pids+=("$pid_a" "$pid_b")
for port in "$A" "$B"; do
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "instance on $port did not start"; exit 1; }
done

# 4. nginx in front, with this run's ports (and without upstream keep-alive if asked).
sed -e "s/18080/$FRONT/; s/18081/$A/; s/18082/$B/" "$root/deploy/nginx.conf" >"$work/nginx.conf"
if [ "$KEEPALIVE" = 0 ]; then
    sed -i -e '/^\s*keepalive /d; /^\s*keepalive_timeout /d' "$work/nginx.conf"
fi
if [ "$NON_IDEMPOTENT" = 0 ]; then
    sed -i -e 's/ non_idempotent;/;/' "$work/nginx.conf"
fi
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' & pids+=($!)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$FRONT/healthz" >/dev/null && break
    sleep 0.1
done

# 5. Load, and SIGTERM to instance A while it runs.
echo "load: ${DURATION}s, $CONCURRENCY clients, GET / + GET /users/N + POST /echo;" \
     "SIGTERM to :$A at ${KILL_AT}s; upstream keep-alive: $KEEPALIVE;" \
     "non_idempotent: $NON_IDEMPOTENT; demo flags: ${DEMO_FLAGS:-none}"
python3 "$root/deploy/load.py" --port "$FRONT" --duration "$DURATION" \
    --concurrency "$CONCURRENCY" --term-pid "$pid_a" --term-at "$KILL_AT" \
    >"$work/load.out" & load=$!
status_a=0
wait "$pid_a" || status_a=$?
wait "$load"

# 6. Report.
cat "$work/load.out"
echo "instance :$A exited with status $status_a; its last log lines:"
sed 's/^/  | /' "$work/a.log" | tail -n 3
# nginx logs each failed attempt at an instance as an [error] line; the load's own counts above
# say whether the request then succeeded on the other instance.
echo "nginx error.log: $(grep -c '\[error\]' "$work/logs/error.log" || true) failed attempts at an instance:"
grep '\[error\]' "$work/logs/error.log" | sed -e 's/^.*\] [0-9#]*: \*[0-9]* //; s/ while .*request: "\([A-Z]*\) .*/ (\1)/' \
    | sort | uniq -c | sed 's/^/  /' || true
echo "(logs and config kept in $work)"
result=$(grep '^RESULT' "$work/load.out")
case "$result" in
    *"failed=0 non2xx=0 refused=0"*) echo "OK: $result"; exit 0 ;;
    *) echo "FAILED: $result"; exit 1 ;;
esac

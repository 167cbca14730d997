#!/usr/bin/env bash
# Finding B without a balancer: one demo instance, clients opening a new connection for every
# request (GET and POST), SIGTERM mid-load. Counts requests written that got no response
# ("failed": lost), apart from connects refused once the listener closed (never sent, so safe
# to retry). Goal: 0 failed.
#
# Usage: deploy/direct-drain.sh   (from the repository root)
# Environment (optional): DURATION=6 KILL_AT=3 CONCURRENCY=16 PORT=18091 DEMO_FLAGS=""
#   DEMO=path (the demo binary; default: build target/release/spindle-demo)
# Exit status: 0 when no written request went unanswered, 1 otherwise.
set -euo pipefail

DURATION=${DURATION:-6}
KILL_AT=${KILL_AT:-3}
CONCURRENCY=${CONCURRENCY:-16}
PORT=${PORT:-18091}
DEMO_FLAGS=${DEMO_FLAGS:-}
root=$(cd "$(dirname "$0")/.." && pwd)

demo=${DEMO:-}
if [ -z "$demo" ]; then
    (cd "$root" && cargo build --release --quiet --bin spindle-demo)
    demo="$root/target/release/spindle-demo"
fi
# shellcheck disable=SC2086 # DEMO_FLAGS is a list of flags
log=$(mktemp /tmp/spindle-direct-demo.XXXXXX)
"$demo" --port "$PORT" --workers 2 --no-access-log $DEMO_FLAGS >"$log" 2>&1 & pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/" >/dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/" >/dev/null || { echo "the instance did not start:"; cat "$log"; exit 1; }

echo "load: ${DURATION}s, $CONCURRENCY clients, a new connection per request; SIGTERM at ${KILL_AT}s"
out=$(mktemp /tmp/spindle-direct.XXXXXX)
python3 "$root/deploy/load.py" --port "$PORT" --duration "$DURATION" \
    --concurrency "$CONCURRENCY" --new-connection --term-pid "$pid" --term-at "$KILL_AT" \
    >"$out" & load=$!
status=0
wait "$pid" || status=$?
wait "$load"
cat "$out"
echo "the instance exited with status $status"
case "$(grep '^RESULT' "$out")" in
    *"failed=0 non2xx=0"*) echo "OK: no written request went unanswered"; exit 0 ;;
    *) echo "FAILED: written requests went unanswered"; exit 1 ;;
esac

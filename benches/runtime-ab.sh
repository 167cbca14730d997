#!/usr/bin/env bash
# Runs `spindle-bench runtime` from two builds in alternation and prints, per workload, the
# median over the rounds of each build's spindle/tokio ratio, and their quotient (new / base).
# Each round runs both binaries, base first on odd rounds and new first on even rounds, so
# that a machine getting busier or quieter during the run weighs on both. Pass the same binary
# twice for an A/A run: the spread it shows is what this machine can resolve.
#
# Usage: benches/runtime-ab.sh BASE_BIN NEW_BIN [ROUNDS] [extra spindle-bench runtime flags]
#   BASE_BIN, NEW_BIN: target/release/spindle-bench of the two commits (built with
#   `cargo build --release -p spindle-bench` in each worktree).
#   ROUNDS: default 8. Output files go to $OUT (default a fresh directory under /tmp).
# Every run is bounded: ROUNDS x 2 runs of the benchmark (about 20 s each on 2 cores).
# Example (docs/benchmarks.md, "Wall time"):
#   benches/runtime-ab.sh /work/base/target/release/spindle-bench target/release/spindle-bench 8
set -euo pipefail
BASE=${1:?BASE_BIN}
NEW=${2:?NEW_BIN}
ROUNDS=${3:-8}
shift $(( $# < 3 ? $# : 3 ))
OUT=${OUT:-$(mktemp -d /tmp/runtime-ab.XXXXXX)}
mkdir -p "$OUT"
NICE=${NICE:-0}
echo "# output in $OUT; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# SUMMARY_ONLY=1 with an existing OUT only summarizes its rounds again.
[[ ${SUMMARY_ONLY:-0} == 1 ]] && ROUNDS_RUN=0 || ROUNDS_RUN=$ROUNDS
for r in $(seq 1 "$ROUNDS_RUN"); do
  if (( r % 2 )); then order="base new"; else order="new base"; fi
  for side in $order; do
    bin=$BASE; [[ $side == new ]] && bin=$NEW
    nice -n "$NICE" "$bin" runtime "$@" > "$OUT/$side.$r.txt"
  done
  echo "# round $r done; load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def ratios(side):
    per = {}
    for r in range(1, rounds + 1):
        for line in open(os.path.join(out, f"{side}.{r}.txt")):
            parts = line.split()
            # "<workload> <median> [<p10> .. <p90>] <median> [<p10> .. <p90>] <ratio>"
            if len(parts) >= 2 and not line.startswith("workload"):
                try:
                    ratio = float(parts[-1])
                except ValueError:
                    continue
                per.setdefault(parts[0], []).append(ratio)
    return per
base, new = ratios("base"), ratios("new")
print(f"{'workload':<24} {'base':>8} {'new':>8} {'new/base':>9}   (median spindle/tokio over {rounds} rounds)")
for w in base:
    if w in new:
        b, n = statistics.median(base[w]), statistics.median(new[w])
        print(f"{w:<24} {b:8.3f} {n:8.3f} {n / b:9.3f}")
PY
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

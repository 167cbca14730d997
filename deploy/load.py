#!/usr/bin/env python3
"""Mixed GET and POST load for deploy/nginx-drain.sh: counts every request's outcome.

Each of --concurrency threads keeps one keep-alive connection (http.client) to the front and
sends, until --duration seconds have passed, a cycle of `GET /`, `GET /users/N` and
`POST /echo` with a unique body (the echo must come back byte for byte); with
--new-connection, each request opens its own connection. A request that gets no complete
response is counted as failed (and the thread reconnects); a response whose status is not
2xx, or a POST whose echo differs, as non-2xx. A connect that is refused is counted apart, as
refused: the request was never sent, so any client may safely retry it (and a refused connect
is expected once the only server has stopped, when the load goes straight to one instance).
Bounded: every request has a 10 s timeout and no request starts after the duration.

With --term-pid P --term-at T it sends SIGTERM to process P T seconds after the clients
start (timed from here, not by the caller, so a slow start cannot move the signal outside
the load).

Prints one summary line per method and a total line, then
`RESULT sent=N failed=N non2xx=N` (sent counts requests written, not refused connects).
"""

import argparse
import http.client
import os
import signal
import threading
import time

PATHS = ("GET /", "GET /users", "POST /echo")


def worker(host, port, deadline, tid, new_connection, counts, lock):
    conn = None
    i = 0
    # per method: sent, failed, non-2xx/bad, refused
    local = {kind: [0, 0, 0, 0] for kind in ("GET", "POST")}
    errors = {}
    while time.monotonic() < deadline:
        kind = PATHS[i % 3]
        i += 1
        method = kind.split()[0]
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=10)
            try:
                conn.connect()
            except ConnectionRefusedError:
                local[method][3] += 1
                conn = None
                time.sleep(0.001)  # nothing listens: do not spin
                continue
            except OSError as e:
                # Any other connect error counts as a failure of a request not yet sent.
                local[method][0] += 1
                local[method][1] += 1
                key = f"{method} connect {type(e).__name__}: {e}"
                errors[key] = errors.get(key, 0) + 1
                conn = None
                continue
        local[method][0] += 1
        try:
            if kind == "GET /":
                conn.request("GET", "/")
                expect = b"Hello, World!"
            elif kind == "GET /users":
                conn.request("GET", f"/users/{tid}-{i}")
                expect = f"user {tid}-{i}\n".encode()
            else:
                body = f"thread {tid} request {i} ".encode() * 8
                conn.request("POST", "/echo", body=body,
                             headers={"content-type": "text/plain"})
                expect = body
            resp = conn.getresponse()
            data = resp.read()
            if not (200 <= resp.status < 300) or data != expect:
                local[method][2] += 1
                key = f"{method} status {resp.status}"
                errors[key] = errors.get(key, 0) + 1
            if new_connection or resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            local[method][1] += 1
            key = f"{method} {type(e).__name__}: {e}"
            errors[key] = errors.get(key, 0) + 1
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()
    with lock:
        for method, values in local.items():
            c = counts.setdefault(method, [0, 0, 0, 0])
            for k, v in enumerate(values):
                c[k] += v
        for k, v in errors.items():
            counts.setdefault("errors", {})
            counts["errors"][k] = counts["errors"].get(k, 0) + v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--new-connection", action="store_true",
                    help="one connection per request (no keep-alive)")
    ap.add_argument("--term-pid", type=int, help="process to send SIGTERM to")
    ap.add_argument("--term-at", type=float, default=0.0,
                    help="seconds after the start to send it")
    args = ap.parse_args()

    counts, lock = {}, threading.Lock()
    deadline = time.monotonic() + args.duration
    threads = [
        threading.Thread(target=worker,
                         args=(args.host, args.port, deadline, t,
                               args.new_connection, counts, lock))
        for t in range(args.concurrency)
    ]
    start = time.monotonic()
    for t in threads:
        t.start()
    if args.term_pid:
        timer = threading.Timer(args.term_at,
                                lambda: os.kill(args.term_pid, signal.SIGTERM))
        timer.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start

    total = [0, 0, 0, 0]
    for method in ("GET", "POST"):
        s, f, n, r = counts.get(method, [0, 0, 0, 0])
        print(f"{method:<5} sent={s} failed={f} non2xx={n} (refused connects: {r})")
        total = [a + b for a, b in zip(total, (s, f, n, r))]
    for k, v in sorted(counts.get("errors", {}).items()):
        print(f"  {v} x {k}")
    print(f"in {elapsed:.1f} s, {total[0] / elapsed:.0f} requests/s")
    print(f"RESULT sent={total[0]} failed={total[1]} non2xx={total[2]} refused={total[3]}")


if __name__ == "__main__":
    main()

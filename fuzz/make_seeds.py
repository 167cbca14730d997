#!/usr/bin/env python3
"""Writes the committed seed corpora (fuzz/seeds/<target>/) from the requests and chunked
bodies that spindle-http's test suites already use, so fuzzing starts from inputs that reach
deep into the parser instead of from nothing. Rerun it after adding tests; the files are named
by content hash, so rerunning only adds.

    python3 fuzz/make_seeds.py
"""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"
PER_TARGET = 40

REQUEST_SOURCES = [
    "http/tests/differential.rs",
    "http/tests/parse_smuggling.rs",
    "http/tests/server_behaviour.rs",
    "http/src/parse/tests.rs",
]
CHUNKED_SOURCE = "http/src/body/chunked.rs"


def unescape(lit: str) -> bytes:
    """The bytes of a Rust (byte) string literal's body."""
    out = bytearray()
    i = 0
    while i < len(lit):
        c = lit[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = lit[i + 1]
        if n == "\n":  # line continuation: skip the newline and the next line's indent
            i += 2
            while i < len(lit) and lit[i] in " \t":
                i += 1
            continue
        simple = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'"}
        if n in simple:
            out += simple[n]
            i += 2
        elif n == "x":
            out.append(int(lit[i + 2 : i + 4], 16))
            i += 4
        else:
            raise ValueError(f"escape \\{n} in {lit!r}")
    return bytes(out)


def literals(path: str):
    text = (ROOT / path).read_text()
    for m in re.finditer(r'b?"((?:[^"\\]|\\.|\\\n)*)"', text, re.S):
        body = m.group(1)
        if "{" in body and "}" in body and "format" in text[max(0, m.start() - 20) : m.start()]:
            continue  # a format! template, not a request
        try:
            yield unescape(body)
        except (ValueError, IndexError):
            continue


def requests():
    seen = []
    for src in REQUEST_SOURCES:
        for lit in literals(src):
            if re.match(rb"[A-Z-]+ \S+ HTTP/", lit) and b"\n" in lit and lit not in seen:
                seen.append(lit)
    return seen


def chunked_bodies():
    return [
        lit
        for lit in literals(CHUNKED_SOURCE)
        if re.match(rb"[0-9a-fA-F;x+ -]", lit) and b"\r" in lit and len(lit) > 3
    ]


def write(target: str, items):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    for data in items[:PER_TARGET]:
        (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def split_prefix(selector: int, steps):
    """The SplitInput header: limits selector, split count, step bytes."""
    return bytes([selector, len(steps)]) + bytes(steps)


def main():
    reqs = requests()
    # head_splits: each request whole, and some cut into small pieces or under small limits.
    heads = [split_prefix(0, []) + r for r in reqs[:24]]
    heads += [split_prefix(i % 3, [0, 2, 5, 1]) + r for i, r in enumerate(reqs[24:40])]
    write("head_splits", heads)

    # httparse_diff: the raw requests.
    write("httparse_diff", reqs)

    # chunked_splits: the decoder's own test bodies, whole and cut.
    bodies = chunked_bodies()
    chunks = [split_prefix(0, []) + b for b in bodies]
    chunks += [split_prefix(i % 4, [0, 3, 1]) + b for i, b in enumerate(bodies)]
    write("chunked_splits", chunks)

    # connection: requests to the fuzz app's routes, pipelined, with bodies, in pieces.
    h = b"Host: x\r\n"
    conn = [
        b"GET / HTTP/1.1\r\n" + h + b"\r\n",
        b"GET / HTTP/1.1\r\n" + h + b"\r\nGET /users/7 HTTP/1.1\r\n" + h + b"\r\n",
        b"HEAD / HTTP/1.1\r\n" + h + b"\r\nGET /empty HTTP/1.1\r\n" + h + b"\r\n",
        b"POST /echo HTTP/1.1\r\n" + h + b"Content-Length: 5\r\n\r\nhello",
        b"POST /echo HTTP/1.1\r\n" + h + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"POST /ignore HTTP/1.1\r\n" + h + b"Content-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\n" + h + b"\r\n",
        b"POST /ignore HTTP/1.1\r\n" + h + b"Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
        b"GET /stream?n=3 HTTP/1.1\r\n" + h + b"\r\nGET / HTTP/1.1\r\n" + h + b"\r\n",
        b"GET /stream?n=2 HTTP/1.0\r\n\r\n",
        b"HEAD /stream HTTP/1.1\r\n" + h + b"\r\n",
        b"GET /blocking HTTP/1.1\r\n" + h + b"Connection: close\r\n\r\n",
        b"DELETE /any HTTP/1.1\r\n" + h + b"\r\nOPTIONS /any HTTP/1.1\r\n" + h + b"\r\n",
        b"OPTIONS * HTTP/1.1\r\n" + h + b"\r\n",
        b"PUT / HTTP/1.1\r\n" + h + b"Content-Length: 2\r\n\r\nhi",
        b"GET /missing HTTP/1.1\r\n" + h + b"\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /users/2 HTTP/1.0\r\n\r\n",
        b"POST /echo HTTP/1.1\r\n" + h + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
        b"GET / HTTP/1.1\r\n" + h + b"\r\nPOST /echo HTTP/1.1\r\n" + h + b"Content-Length: 2\r\n\r\nokGET /users/%41 HTTP/1.1\r\n" + h + b"\r\n",
    ]
    conn_seeds = [split_prefix(0, []) + r for r in conn]
    conn_seeds += [split_prefix(1, [4, 0, 9]) + r for r in conn[:8]]
    conn_seeds += [split_prefix(0, [1]) + r for r in reqs[:14]]
    write("connection", conn_seeds)
    # The in-memory connection's other endings (see fuzz_targets/connection.rs): selector
    # bit 1 (with bits 2-4, the yields first): the client vanishes; bit 5: a 7-byte pipe.
    endings = [split_prefix(2 | (y << 2), []) + r for y, r in enumerate(conn[:8])]
    endings += [split_prefix(32, [2, 7]) + r for r in conn[3:11]]
    endings += [split_prefix(32 | 2 | (2 << 2), []) + r for r in conn[7:10]]
    write("connection", endings)

    # router: route count, then (method, segment count, segments) per route, then lookups
    # separated by \n (method byte; high bit: a path derived from a route, see router.rs).
    def route(method, *segs):
        return bytes([method, len(segs), *segs])

    tables = [
        bytes([2]) + route(0, 3) + route(0, 3, 8) + b"\x00/users\n\x00/users/42\n\x80\x01%41",
        bytes([3]) + route(1, 1) + route(10, 1, 12) + route(0, 0) + b"\x00/\n\x01/a\n\x02/a/b/c\n\x03*",
        bytes([2]) + route(0, 3, 8, 1) + route(0, 3, 2) + b"\x00/users/me/a\n\x00/users/b\n\x80\x00x,y",
        bytes([4]) + route(0, 5) + route(1, 5) + route(0, 6, 9) + route(10, 7, 13) + b"\x02/x.y\n\x06/%E2%82%AC/q%2Fr",
        bytes([1]) + route(0, 4, 14) + b"\x00/%41/{",
        bytes([2]) + route(0, 1, 8) + route(1, 1, 9) + b"\x00/a/1\n\x01/a/2",
        bytes([1]) + route(0, 1, 12) + b"\x00/a/\n\x00/a/b/\n\x00/a/%FF",
        bytes([3]) + route(0, 8, 9) + route(2, 8, 9) + route(3, 8, 10) + b"\x83\x00a,b\n\x84\x01%20,%ZZ",
    ]
    write("router", tables)


if __name__ == "__main__":
    main()

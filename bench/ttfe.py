#!/usr/bin/env python3
"""Time to first event (TTFE) of an SSE chat-completion stream, direct vs. through relaygate.

For each request: open a new TCP connection to 127.0.0.1 (not timed), then time from just
before the request is sent until the first complete `data:` line of the body has been read.
The rest of the stream is then read to its end (so neither side sees a client abort) and the
connection is closed. Direct and gateway requests alternate, one at a time, after a few
untimed warm-up requests each. Python standard library only.

  ttfe.py --direct-port P --gateway-port Q --model M --token T [-n 50] [--warmup 3] --out FILE
"""

import argparse
import http.client
import json
import math
import socket
import statistics
import sys
import time

HOST = "127.0.0.1"
PATH = "/v1/chat/completions"
TIMEOUT_S = 15.0


def one(port: int, body: bytes, token: str) -> tuple:
    """Returns (first event, first content) times in milliseconds for one request: the first
    complete `data:` line, and the first `data:` line carrying answer text (a non-empty
    `"content"` delta). relaygate holds events before the first content to catch soft errors,
    so the two differ through the gateway."""
    conn = http.client.HTTPConnection(HOST, port, timeout=TIMEOUT_S)
    try:
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {
            "authorization": f"Bearer {token}",
            "content-type": "application/json",
            "accept": "text/event-stream",
        }
        t0 = time.perf_counter()
        conn.request("POST", PATH, body=body, headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"port {port}: HTTP {resp.status}: {resp.read()[:300]!r}")
        deadline = time.monotonic() + TIMEOUT_S
        ttfe = None
        ttfc = None
        while time.monotonic() < deadline:
            line = resp.readline()
            if not line:
                break
            if line.startswith(b"data:"):
                now = (time.perf_counter() - t0) * 1000.0
                if ttfe is None:
                    ttfe = now
                if b'"content":"' in line and b'"content":""' not in line:
                    ttfc = now
                    break
        if ttfe is None or ttfc is None:
            raise RuntimeError(f"port {port}: stream ended without a data: line with content")
        # Drain the rest of the stream (bounded by the socket timeout and the deadline).
        while time.monotonic() < deadline:
            if not resp.read(65536):
                break
        return ttfe, ttfc
    finally:
        conn.close()


def p90(xs: list) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def summary(xs: list) -> dict:
    return {
        "n": len(xs),
        "median_ms": statistics.median(xs),
        "p90_ms": p90(xs),
        "min_ms": min(xs),
        "max_ms": max(xs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--direct-port", type=int, required=True)
    ap.add_argument("--gateway-port", type=int, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.n < 1 or a.n > 10000:
        sys.exit("ttfe.py: -n must be between 1 and 10000")

    body = json.dumps(
        {"model": a.model, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        separators=(",", ":"),
    ).encode()
    targets = {"direct": a.direct_port, "gateway": a.gateway_port}
    samples = {"direct": [], "gateway": []}
    content = {"direct": [], "gateway": []}
    try:
        for _ in range(a.warmup):
            for port in targets.values():
                one(port, body, a.token)
        for _ in range(a.n):
            for name, port in targets.items():
                first, text = one(port, body, a.token)
                samples[name].append(first)
                content[name].append(text)
    except (OSError, RuntimeError, http.client.HTTPException) as e:
        sys.exit(f"ttfe.py: {e}")

    result = {name: summary(xs) for name, xs in samples.items()}
    for name, xs in content.items():
        result[name]["content"] = summary(xs)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    for name, s in result.items():
        print(f"  ttfe {name:8s} n={s['n']} median={s['median_ms']:.2f} ms p90={s['p90_ms']:.2f} ms")


if __name__ == "__main__":
    main()

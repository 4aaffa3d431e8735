#!/usr/bin/env python3
"""Small helpers for bench/run.sh (Python standard library only; loopback only).

  util.py ports N                      print N free TCP ports on 127.0.0.1, one per line
  util.py wait PORT PID TIMEOUT_S      wait until 127.0.0.1:PORT accepts connections
                                       (fails early if process PID exits)
  util.py probe PORT MODEL TOKEN json|stream
                                       one POST /v1/chat/completions; checks the answer
"""

import http.client
import json
import os
import socket
import sys
import time

HOST = "127.0.0.1"
PATH = "/v1/chat/completions"


def fail(msg: str) -> None:
    print(f"util.py: {msg}", file=sys.stderr)
    sys.exit(1)


def ports(n: int) -> None:
    # Bind all sockets at once so the N ports are distinct, then release them.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        for s in socks:
            print(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; check /proc for state Z where available.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def wait(port: int, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            fail(f"process {pid} exited before 127.0.0.1:{port} accepted connections")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    fail(f"127.0.0.1:{port} did not accept connections within {timeout:g}s")


def probe(port: int, model: str, token: str, mode: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if mode == "stream":
        body["stream"] = True
    conn = http.client.HTTPConnection(HOST, port, timeout=15)
    try:
        conn.request(
            "POST",
            PATH,
            body=json.dumps(body, separators=(",", ":")),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        resp = conn.getresponse()
        data = resp.read()
    except OSError as e:
        fail(f"probe 127.0.0.1:{port} ({mode}, model {model}): {e}")
    finally:
        conn.close()
    text = data.decode("utf-8", errors="replace")
    where = f"probe 127.0.0.1:{port} ({mode}, model {model})"
    if resp.status != 200:
        fail(f"{where}: HTTP {resp.status}: {text[:500]}")
    ctype = resp.getheader("content-type", "")
    if mode == "stream":
        if "text/event-stream" not in ctype:
            fail(f"{where}: content-type {ctype!r}, expected text/event-stream")
        events = [l for l in text.splitlines() if l.startswith("data:")]
        if len(events) < 2 or events[-1].strip() != "data: [DONE]":
            fail(f"{where}: not a complete SSE stream: {text[:500]}")
    else:
        try:
            obj = json.loads(text)
        except ValueError:
            fail(f"{where}: not JSON: {text[:500]}")
        if obj.get("object") != "chat.completion":
            fail(f"{where}: not a chat.completion: {text[:500]}")


def main() -> None:
    args = sys.argv[1:]
    if not args:
        fail(__doc__ or "usage")
    cmd, rest = args[0], args[1:]
    if cmd == "ports" and len(rest) == 1:
        ports(int(rest[0]))
    elif cmd == "wait" and len(rest) == 3:
        wait(int(rest[0]), int(rest[1]), float(rest[2]))
    elif cmd == "probe" and len(rest) == 4 and rest[3] in ("json", "stream"):
        probe(int(rest[0]), rest[1], rest[2], rest[3])
    else:
        fail(f"bad arguments: {' '.join(args)}\n{__doc__}")


if __name__ == "__main__":
    main()

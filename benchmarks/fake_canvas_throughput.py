"""How many simple requests per second the fake Canvas serves (it must never be the bottleneck).

Starts ``python -m fake_canvas --seed demo`` on a free port, hammers
``GET /api/v1/users/:id`` from several threads over keep-alive connections for a bounded time,
and prints requests/s and latency percentiles. The throttle is off by default (one token would
otherwise be refused within a second, as on real Canvas); ``--throttle`` keeps it on and gives each
thread its own token.

    .venv/bin/python benchmarks/fake_canvas_throughput.py --seconds 5 --threads 8
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fake_canvas.__main__ import command_line  # noqa: E402
from fake_canvas.seed import demo_people  # noqa: E402

ADMIN_TOKEN = "bench-admin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/__fake__/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("The fake Canvas did not start.")


def mint(port: int, user_id: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/__fake__/tokens", body=json.dumps({"user_id": user_id}))
    return str(json.loads(conn.getresponse().read())["token"])


def worker(port: int, token: str, ids: list[int], stop_at: float, latencies: list[float], codes: dict) -> None:
    rng = random.Random()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    local: list[float] = []
    local_codes: dict[int, int] = {}
    while time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            conn.request("GET", f"/api/v1/users/{rng.choice(ids)}", headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = 0
        local.append(time.perf_counter() - started)
        local_codes[status] = local_codes.get(status, 0) + 1
    latencies.extend(local)
    for status, n in local_codes.items():
        codes[status] = codes.get(status, 0) + n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--latency-median-ms", type=float, default=None)
    parser.add_argument("--throttle", action="store_true", help="keep the throttle on")
    args = parser.parse_args()

    port = free_port()
    cmd = command_line(port=port, admin_token=ADMIN_TOKEN, seed="demo")
    if not args.throttle:
        cmd.append("--no-throttle")
    if args.latency_median_ms:
        cmd += ["--latency-median-ms", str(args.latency_median_ms)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        wait_healthy(port)
        ids = [p["id"] for p in demo_people()]
        tokens = [mint(port, 1) if args.throttle else ADMIN_TOKEN for _ in range(args.threads)]
        latencies: list[float] = []
        codes: dict[int, int] = {}
        stop_at = time.monotonic() + args.seconds
        threads = [threading.Thread(target=worker, args=(port, t, ids, stop_at, latencies, codes)) for t in tokens]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    total = len(latencies)
    ordered = sorted(latencies)
    print(f"threads={args.threads} seconds={elapsed:.1f} throttle={'on' if args.throttle else 'off'}")
    if args.latency_median_ms:
        print(f"latency median setting: {args.latency_median_ms} ms")
    print(f"requests: {total}  status counts: {dict(sorted(codes.items()))}")
    print(f"throughput: {total / elapsed:.0f} requests/s")
    if ordered:

        def pct(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

        mean = statistics.fmean(ordered) * 1000
        print(f"latency ms: p50={pct(0.5):.2f} p90={pct(0.9):.2f} p99={pct(0.99):.2f} mean={mean:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Push N observer links into the fake Canvas with its throttle on; adaptive shared limiter vs one at a time.

    .venv/bin/python benchmarks/push_throughput.py --n 2000 [--threads 16] [--skip-serial]

The fake is set up as Canvas is documented (API.md section 5): high-water mark 600, outflow 10 units/s, 50 units
reserved up front per request in flight, a cost uniform in 0.05-0.3 units, and 150 ms median latency (lognormal).
"Adaptive" runs several threads that share one SharedLimiter (the same object every worker process uses, here over
a file store), so at most `window.limit` requests are in flight in total; "serial" sends one request at a time.
Prints links/minute, throttled responses, calls per link, and the ceiling arithmetic.
"""

from __future__ import annotations

import argparse
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from canvas_client import CanvasClient, CanvasError, NullLimiter
from canvas_client.fake import FakeCanvas
from canvas_client.fake.testing import running_fake_server
from canvas_client.throttle import ThrottleSettings
from mentorship.sync.ratelimit import FileStore, SharedLimiter

TOKEN = "bench-token"


def make_fake(n: int) -> tuple[FakeCanvas, list[tuple[int, int]]]:
    fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=42)
    fake.configure(throttle={"enabled": False})
    pairs = []
    for i in range(n):
        m = fake.add_user(name=f"Mentor {i}", sis_user_id=f"BM{i}", login_id=f"bm{i}@t")
        s = fake.add_user(name=f"Student {i}", sis_user_id=f"BS{i}", login_id=f"bs{i}@t")
        pairs.append((m["id"], s["id"]))
    fake.configure(
        latency_median_ms=150,
        throttle={"enabled": True, "hwm": 600, "outflow": 10, "up_front": 50, "cost_min": 0.05, "cost_max": 0.3},
    )
    fake.clear_request_log()
    return fake, pairs


def push(base_url: str, pairs: list[tuple[int, int]], threads: int, limiter_factory) -> tuple[float, int]:
    work: queue.Queue[tuple[int, int]] = queue.Queue()
    for pair in pairs:
        work.put(pair)
    failures = [0]
    lock = threading.Lock()

    def run() -> None:
        client = CanvasClient(base_url, TOKEN, limiter=limiter_factory(), timeout=(5, 30))
        while True:
            try:
                observer, student = work.get_nowait()
            except queue.Empty:
                return
            try:
                client.add_observee(observer, student)
            except CanvasError:
                with lock:
                    failures[0] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.monotonic() - started, failures[0]


def report(name: str, fake: FakeCanvas, n: int, seconds: float, failures: int, extra: str = "") -> None:
    log = fake.request_log
    throttled = sum(1 for r in log if r.get("throttled"))
    print(
        f"{name:9s} links={n} time={seconds:7.1f}s links/min={n / seconds * 60:7.0f} calls={len(log)} "
        f"calls/link={len(log) / n:.3f} throttled={throttled} ({throttled / max(1, len(log)) * 100:.2f}%) "
        f"failures={failures} linked={len(fake.observer_links())}{extra}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--serial-n", type=int, default=200, help="links for the one-at-a-time run")
    parser.add_argument("--skip-serial", action="store_true")
    args = parser.parse_args()

    s = ThrottleSettings()
    mean_cost = (0.05 + 0.3) / 2
    print(
        f"ceiling: in flight <= hwm/up_front - 1 = {s.hwm:.0f}/{s.up_front:.0f} - 1 = {s.max_limit}; "
        f"drain = outflow / mean cost = {s.outflow:.0f}/{mean_cost:.3f} = {s.outflow / mean_cost:.0f} req/s; "
        f"latency bound = {s.max_limit}/0.15 s = {s.max_limit / 0.15:.0f} req/s "
        f"-> at most ~{min(s.outflow / mean_cost, s.max_limit / 0.15) * 60:.0f} links/min"
    )

    fake, pairs = make_fake(args.n)
    store_dir = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    shared = SharedLimiter(FileStore(store_dir / "limiter.json"))
    with running_fake_server(fake) as base_url:
        seconds, failures = push(base_url, pairs, args.threads, lambda: shared)
        status = shared.status()
        report("adaptive", fake, args.n, seconds, failures, f" max_in_flight={status['max_in_flight_seen']}")

    if not args.skip_serial:
        fake, pairs = make_fake(args.serial_n)
        with running_fake_server(fake) as base_url:
            seconds, failures = push(base_url, pairs, 1, NullLimiter)
            report("serial", fake, args.serial_n, seconds, failures)


if __name__ == "__main__":
    main()

"""Push N observer links into the fake Canvas with its throttle on; adaptive shared limiter vs one at a time.

    .venv/bin/python benchmarks/push_throughput.py --n 2000 [--threads 16] [--skip-serial]

The fake is set up as Canvas is documented (docs/canvas.md, "Throttling"): high-water mark 600, outflow 10 units/s,
50 units reserved up front per request in flight, a cost uniform in 0.05-0.3 units, and 150 ms median latency
(lognormal).
"Adaptive" runs several threads that share one SharedLimiter (the same object every worker process uses, here over
a file store), so at most `window.limit` requests are in flight in total; "serial" sends one request at a time.
Prints links/minute, its share of the throttle's ceiling, the ratio to one at a time (same run), throttled
responses, calls per link, and the ceiling arithmetic.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from canvas_client import CanvasClient, CanvasError, NullLimiter
from canvas_client.throttle import ThrottleSettings
from fake_canvas import FakeCanvas
from fake_canvas.testing import running_fake_server
from mentorship.core.ratelimit import FileStore, SharedLimiter

TOKEN = "bench-token"
COST_MIN, COST_MAX = 0.05, 0.3
LATENCY_MEDIAN, LATENCY_SIGMA = 0.150, 0.5  # seconds; the fake's default sigma


def throttle_like_canvas(fake: FakeCanvas) -> None:
    """The issue's settings: throttle on (hwm 600, outflow 10/s, 50 up front, cost 0.05-0.3), 150 ms median latency."""
    fake.configure(
        latency_median_ms=LATENCY_MEDIAN * 1000,
        latency_sigma=LATENCY_SIGMA,
        throttle={
            "enabled": True,
            "hwm": 600,
            "outflow": 10,
            "up_front": 50,
            "cost_min": COST_MIN,
            "cost_max": COST_MAX,
        },
    )


def make_fake(n: int) -> tuple[FakeCanvas, list[tuple[int, int]]]:
    fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=42)
    fake.configure(throttle={"enabled": False})
    pairs = [(m["id"], s["id"]) for m, s in fake.add_pairs(n, tag="b")]
    throttle_like_canvas(fake)
    fake.clear_request_log()
    # Note each request's cost as charged (observation only; the throttle itself is untouched).
    costs: list[float] = []
    settle = fake.throttle.settle

    def settle_and_note(key: str) -> tuple[float, float]:
        cost, remaining = settle(key)
        costs.append(cost)
        return cost, remaining

    fake.throttle.settle = settle_and_note  # type: ignore[method-assign]
    fake.bench_costs = costs  # type: ignore[attr-defined]
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


def report(name: str, fake: FakeCanvas, n: int, seconds: float, failures: int, extra: str = "") -> float:
    log = fake.request_log
    throttled = sum(1 for r in log if r.get("throttled"))
    per_minute = n / seconds * 60
    print(
        f"{name:9s} links={n} time={seconds:7.1f}s links/min={per_minute:7.0f} calls={len(log)} "
        f"calls/link={len(log) / n:.3f} throttled={throttled} ({throttled / max(1, len(log)) * 100:.2f}%) "
        f"failures={failures} linked={len(fake.observer_links())}{extra}"
    )
    return per_minute


def ceiling_per_minute() -> float:
    """The throttle's ceiling for the settings below, printed with its arithmetic."""
    s = ThrottleSettings()
    mean_cost = (COST_MIN + COST_MAX) / 2
    mean_latency = LATENCY_MEDIAN * math.exp(LATENCY_SIGMA**2 / 2)  # lognormal mean
    drain = s.outflow / mean_cost
    reservations = s.max_limit / mean_latency
    print(
        f"ceiling: in flight <= hwm/up_front - 1 = {s.hwm:.0f}/{s.up_front:.0f} - 1 = {s.max_limit}; "
        f"drain = outflow / mean cost = {s.outflow:.0f}/{mean_cost:.3f} = {drain:.1f} req/s; "
        f"in-flight bound = {s.max_limit} / mean latency {mean_latency * 1000:.0f} ms = {reservations:.1f} req/s "
        f"-> ceiling {min(drain, reservations):.1f} req/s = {min(drain, reservations) * 60:.0f} links/min "
        f"(70% = {min(drain, reservations) * 60 * 0.7:.0f})"
    )
    return min(drain, reservations) * 60


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--serial-n", type=int, default=200, help="links for the one-at-a-time run")
    parser.add_argument("--skip-serial", action="store_true")
    args = parser.parse_args()

    ceiling = ceiling_per_minute()

    fake, pairs = make_fake(args.n)
    store_dir = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    shared = SharedLimiter(FileStore(store_dir / "limiter.json"))
    with running_fake_server(fake) as base_url:
        seconds, failures = push(base_url, pairs, args.threads, lambda: shared)
        status = shared.status()
        # What the run left in Canvas's bucket: room spent beyond the drain (a finite run starts with an empty bucket).
        backlog = fake.throttle.level("token:" + hashlib.sha256(TOKEN.encode()).hexdigest())
        adaptive = report("adaptive", fake, args.n, seconds, failures, f" max_in_flight={status['max_in_flight_seen']}")
    costs = getattr(fake, "bench_costs", [])
    print(
        f"adaptive: {adaptive / ceiling * 100:.0f}% of the ceiling; bucket left at {backlog:.0f} units "
        f"(~{backlog / ((COST_MIN + COST_MAX) / 2):.0f} requests' cost above the drain)"
        + (f"; mean cost seen {sum(costs) / len(costs):.3f}" if costs else "")
    )

    if not args.skip_serial:
        fake, pairs = make_fake(args.serial_n)
        with running_fake_server(fake) as base_url:
            seconds, failures = push(base_url, pairs, 1, NullLimiter)
            serial = report("serial", fake, args.serial_n, seconds, failures)
        print(f"adaptive / serial = {adaptive / serial:.1f}x")


if __name__ == "__main__":
    main()

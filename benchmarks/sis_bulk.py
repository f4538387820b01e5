"""10,000 observer links through one user_observers.csv SIS import vs one API call per link.

    .venv/bin/python benchmarks/sis_bulk.py [--n 10000] [--latency-ms 0] [--threads 8]

Both runs use the in-process fake Canvas served over HTTP (throttle off, so the comparison is about calls and
round trips, not pacing). Prints API calls and wall time for each transport.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from canvas_client import CanvasClient
from canvas_client.sis import UserObserverRow, build_user_observers_csv
from fake_canvas import FakeCanvas
from fake_canvas.testing import running_fake_server

TOKEN = "bench-token"


def make_fake(n: int, latency_ms: float) -> tuple[FakeCanvas, list[tuple[int, int, str, str]]]:
    fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=1)
    fake.configure(throttle={"enabled": False})
    people = [(m["id"], s["id"], m["sis_user_id"], s["sis_user_id"]) for m, s in fake.add_pairs(n, tag="s")]
    fake.configure(latency_ms=latency_ms)
    fake.clear_request_log()
    return fake, people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    fake, people = make_fake(args.n, args.latency_ms)
    with running_fake_server(fake) as base_url:
        client = CanvasClient(base_url, TOKEN)
        started = time.monotonic()
        body = build_user_observers_csv(UserObserverRow(m, s) for _, _, m, s in people)
        sis = client.start_sis_import("1", body)
        while not sis.finished:
            time.sleep(0.2)
            sis = client.get_sis_import("1", sis.id)
        seconds = time.monotonic() - started
        calls = len(fake.request_log)
        print(
            f"sis_import links={args.n} time={seconds:6.1f}s calls={calls} state={sis.workflow_state} "
            f"warnings={len(sis.processing_warnings)} linked={len(fake.observer_links())} csv_bytes={len(body)}"
        )

    fake, people = make_fake(args.n, args.latency_ms)
    with running_fake_server(fake) as base_url:
        work: queue.Queue[tuple[int, int]] = queue.Queue()
        for m, s, _, _ in people:
            work.put((m, s))

        def run() -> None:
            c = CanvasClient(base_url, TOKEN)
            while True:
                try:
                    m, s = work.get_nowait()
                except queue.Empty:
                    return
                c.add_observee(m, s)

        started = time.monotonic()
        threads = [threading.Thread(target=run) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started
        print(
            f"per_link   links={args.n} time={seconds:6.1f}s calls={len(fake.request_log)} "
            f"threads={args.threads} linked={len(fake.observer_links())}"
        )


if __name__ == "__main__":
    main()

"""The whole sync engine pushing N links into the throttled fake Canvas: link_sync (claim, Canvas call through the
shared limiter, record + audit) run by worker processes, as Celery's prefork workers would (each with a few threads,
standing in for a larger pool: the push needs at least ~11 link_sync calls at once to fill the throttle's window).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ml_bench [REDIS_URL=redis://127.0.0.1:6379/4] \\
        .venv/bin/python benchmarks/push_pipeline.py --n 2000 --processes 4 --threads 4

The fake Canvas is served from this process; the workers are separate processes (spawned), so the fake's CPU and
the workers' share no interpreter lock. ``--processes 0`` runs the workers as threads of this process instead
(everything under one interpreter lock: the fake, the HTTP client, the ORM).

Migrates the database it is given (use a scratch one). Fake Canvas as documented: hwm 600, outflow 10/s, 50 units
up front, cost uniform 0.05-0.3, 150 ms median latency. Prints links/minute, API calls per link, throttled
responses, failures and the audit events written.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mentorship.settings")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bench-{os.getpid()}")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from push_throughput import (  # noqa: E402  (the same settings)
    ceiling_per_minute,
    throttle_like_canvas,
)

from fake_canvas import FakeCanvas  # noqa: E402
from fake_canvas.testing import running_fake_server  # noqa: E402
from mentorship.assignments.models import MentorAssignment, Program  # noqa: E402
from mentorship.audit.models import AuditEvent  # noqa: E402
from mentorship.core.canvas import shared_limiter  # noqa: E402
from mentorship.people.models import Person  # noqa: E402
from mentorship.sync import services  # noqa: E402
from mentorship.sync.models import ObserverLink  # noqa: E402
from mentorship.sync.services import publishing  # noqa: E402

TOKEN = "bench-pipeline-token"


def push_links(work: Any, threads: int) -> dict[str, int]:
    """Run `threads` threads that take link ids from `work` (None: stop) and push each until it settles."""
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def run() -> None:
        while True:
            link_id = work.get()
            if link_id is None:
                break
            while True:
                result = services.link_sync(link_id=link_id, generation=1)
                with lock:
                    outcomes[result] = outcomes.get(result, 0) + 1
                if result not in ("throttled", "retry"):
                    break
                time.sleep(1)
        connection.close()

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return outcomes


def worker_process(base_url: str, work: Any, results: Any, go: Any, threads: int) -> None:
    settings.CANVAS_BASE_URL = base_url
    settings.CANVAS_TOKEN = TOKEN
    publishing._publish = lambda *a, **k: True  # retries are driven by this script
    connection.ensure_connection()
    shared_limiter()
    results.put("ready")
    go.wait()
    results.put(push_links(work, threads))


def _queue_of(ids: list[int], stops: int, work: Any) -> Any:
    """``work`` filled with the link ids, then one None a consumer thread, so each stops when the ids run out."""
    for pk in ids:
        work.put(pk)
    for _ in range(stops):
        work.put(None)
    return work


def seed_links(fake: FakeCanvas, total: int) -> tuple[list[ObserverLink], list[tuple[int, int]]]:
    """``total`` approved assignments, each with its mentor and student in the fake and one link to push."""
    run_id = int(time.time())
    people = [(m["id"], s["id"]) for m, s in fake.add_pairs(total, tag=f"p{run_id}-", sis_ids=False)]
    offset = run_id * 10_000_000  # Person.canvas_user_id is unique across runs on the same database
    persons = Person.objects.bulk_create(
        [Person(canvas_user_id=offset + mid, name=f"M{mid}") for mid, _ in people]
        + [Person(canvas_user_id=offset + sid, name=f"S{sid}") for _, sid in people]
    )
    program = Program.objects.create(name=f"Bench {run_id}", slug=f"bench-{run_id}", mentor_capacity=10**6)
    today = timezone.localdate()
    approved = {
        "starts_on": today,
        "ends_on": today + datetime.timedelta(days=30),
        "status": "approved",
        "generation": 1,
    }
    assignments = MentorAssignment.objects.bulk_create(
        [
            MentorAssignment(program=program, mentor=m, student=s, link_method="observee", reason="bench", **approved)
            for m, s in zip(persons[:total], persons[total:], strict=True)
        ]
    )
    links = ObserverLink.objects.bulk_create(
        [
            ObserverLink(assignment=a, kind="observee", observer_canvas_id=mid, student_canvas_id=sid, generation=1)
            for a, (mid, sid) in zip(assignments, people, strict=True)
        ]
    )
    return links, people


def push_in_processes(base_url: str, links: list[ObserverLink], *, processes: int, threads: int) -> tuple[dict, float]:
    """Push the links from ``processes`` spawned workers of ``threads`` threads; returns (outcomes, start time)."""
    ctx = multiprocessing.get_context("spawn")
    work: Any = _queue_of([link.pk for link in links], processes * threads, ctx.Queue())
    results: Any = ctx.Queue()
    go = ctx.Event()
    connection.close()  # the children open their own
    procs = [ctx.Process(target=worker_process, args=(base_url, work, results, go, threads)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    for _ in procs:
        results.get(timeout=120)  # "ready": Django set up, connections open
    started = time.monotonic()
    go.set()
    outcomes: dict[str, int] = {}
    for _ in procs:
        for key, count in results.get().items():
            outcomes[key] = outcomes.get(key, 0) + count
    for proc in procs:
        proc.join()
    return outcomes, started


def serial_rate(serial_links: list[ObserverLink]) -> float | None:
    """Links a minute when pushed one at a time (None when there are none to push)."""
    if not serial_links:
        return None
    one: queue.Queue[int | None] = _queue_of([link.pk for link in serial_links], 1, queue.Queue())
    serial_started = time.monotonic()
    push_links(one, 1)
    serial_seconds = time.monotonic() - serial_started
    serial_done = ObserverLink.objects.filter(pk__in=[link.pk for link in serial_links], state="linked").count()
    return serial_done / serial_seconds * 60


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=4, help="worker processes (0: threads of this process)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--serial-n", type=int, default=100, help="links pushed one at a time afterwards (0: skip)")
    args = parser.parse_args()
    ceiling = ceiling_per_minute()

    call_command("migrate", verbosity=0)
    fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=3)
    fake.configure(throttle={"enabled": False})
    links, _people = seed_links(fake, args.n + args.serial_n)
    links, serial_links = links[: args.n], links[args.n :]
    throttle_like_canvas(fake)
    fake.clear_request_log()
    publishing._publish = lambda *a, **k: True  # retries are driven by this script
    audit_before = AuditEvent.objects.count()

    with running_fake_server(fake) as base_url:
        settings.CANVAS_BASE_URL = base_url
        settings.CANVAS_TOKEN = TOKEN
        if args.processes <= 0:
            local: queue.Queue[int | None] = _queue_of([link.pk for link in links], args.threads, queue.Queue())
            started = time.monotonic()
            outcomes = push_links(local, args.threads)
        else:
            outcomes, started = push_in_processes(base_url, links, processes=args.processes, threads=args.threads)
        seconds = time.monotonic() - started
        log = fake.request_log
        audit_events = AuditEvent.objects.count() - audit_before
        one_at_a_time = serial_rate(serial_links)

    throttled = sum(1 for r in log if r.get("throttled"))
    linked = ObserverLink.objects.filter(pk__in=[link.pk for link in links], state="linked").count()
    rate = linked / seconds * 60
    print(
        f"pipeline links={args.n} processes={args.processes} threads={args.threads} time={seconds:.1f}s "
        f"links/min={rate:.0f} ({rate / ceiling * 100:.0f}% of the ceiling) "
        f"calls={len(log)} calls/link={len(log) / args.n:.3f} throttled={throttled} "
        f"({throttled / max(1, len(log)) * 100:.2f}%) linked={linked} failed={outcomes.get('failed', 0)} "
        f"outcomes={outcomes} audit_events={audit_events} "
        f"limiter={shared_limiter().status()}"
    )
    if one_at_a_time is not None:
        print(
            f"one at a time: links={len(serial_links)} links/min={one_at_a_time:.0f}; "
            f"pipeline / one at a time = {rate / one_at_a_time:.1f}x"
        )


if __name__ == "__main__":
    main()

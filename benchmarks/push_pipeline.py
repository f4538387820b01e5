"""The whole sync engine pushing N links into the throttled fake Canvas: link_sync (claim, Canvas call through the
shared limiter, record + audit) run by several threads, as worker processes would.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ml_bench [REDIS_URL=redis://127.0.0.1:6379/4] \\
        .venv/bin/python benchmarks/push_pipeline.py --n 2000 --threads 16

Migrates the database it is given (use a scratch one). Fake Canvas as documented: hwm 600, outflow 10/s, 50 units
up front, cost uniform 0.05-0.3, 150 ms median latency. Prints links/minute, API calls per link, throttled
responses, failures and the audit events written.
"""

from __future__ import annotations

import argparse
import datetime
import os
import queue
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mentorship.settings")
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bench-{os.getpid()}")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from canvas_client.fake import FakeCanvas  # noqa: E402
from canvas_client.fake.testing import running_fake_server  # noqa: E402
from mentorship.assignments.models import MentorAssignment, Program  # noqa: E402
from mentorship.audit.models import AuditEvent  # noqa: E402
from mentorship.people.models import Person  # noqa: E402
from mentorship.sync import services  # noqa: E402
from mentorship.sync.canvas import shared_limiter  # noqa: E402
from mentorship.sync.models import ObserverLink  # noqa: E402

TOKEN = "bench-pipeline-token"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=3)
    fake.configure(throttle={"enabled": False})
    run_id = int(time.time())
    people = []
    for i in range(args.n):
        m = fake.add_user(name=f"Mentor {i}", sis_user_id=None, login_id=f"pm{run_id}-{i}@t")
        s = fake.add_user(name=f"Student {i}", sis_user_id=None, login_id=f"ps{run_id}-{i}@t")
        people.append((m["id"], s["id"]))
    offset = run_id * 10_000_000  # Person.canvas_user_id is unique across runs on the same database
    persons = Person.objects.bulk_create(
        [Person(canvas_user_id=offset + mid, name=f"M{mid}") for mid, _ in people]
        + [Person(canvas_user_id=offset + sid, name=f"S{sid}") for _, sid in people]
    )
    mentors, students = persons[: args.n], persons[args.n :]
    program = Program.objects.create(name=f"Bench {run_id}", slug=f"bench-{run_id}", mentor_capacity=10**6)
    today = timezone.localdate()
    assignments = MentorAssignment.objects.bulk_create(
        [
            MentorAssignment(
                program=program,
                mentor=m,
                student=s,
                starts_on=today,
                ends_on=today + datetime.timedelta(days=30),
                link_method="observee",
                reason="bench",
                status="approved",
                generation=1,
            )
            for m, s in zip(mentors, students, strict=True)
        ]
    )
    links = ObserverLink.objects.bulk_create(
        [
            ObserverLink(
                assignment=a,
                kind="observee",
                observer_canvas_id=mid,
                student_canvas_id=sid,
                generation=1,
            )
            for a, (mid, sid) in zip(assignments, people, strict=True)
        ]
    )
    fake.configure(
        latency_median_ms=150,
        throttle={"enabled": True, "hwm": 600, "outflow": 10, "up_front": 50, "cost_min": 0.05, "cost_max": 0.3},
    )
    fake.clear_request_log()
    services._publish = lambda *a, **k: True  # retries are driven by this script
    audit_before = AuditEvent.objects.count()

    with running_fake_server(fake) as base_url:
        settings.CANVAS_BASE_URL = base_url
        settings.CANVAS_TOKEN = TOKEN
        work: queue.Queue[int] = queue.Queue()
        for link in links:
            work.put(link.pk)
        outcomes: dict[str, int] = {}
        lock = threading.Lock()

        def run() -> None:
            while True:
                try:
                    link_id = work.get_nowait()
                except queue.Empty:
                    break
                result = services.link_sync(link_id=link_id, generation=1)
                if result in ("throttled", "retry"):
                    time.sleep(1)
                    work.put(link_id)
                with lock:
                    outcomes[result] = outcomes.get(result, 0) + 1
            connection.close()

        started = time.monotonic()
        threads = [threading.Thread(target=run) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.monotonic() - started

    log = fake.request_log
    throttled = sum(1 for r in log if r.get("throttled"))
    linked = ObserverLink.objects.filter(pk__in=[link.pk for link in links], state="linked").count()
    print(
        f"pipeline links={args.n} threads={args.threads} time={seconds:.1f}s links/min={linked / seconds * 60:.0f} "
        f"calls={len(log)} calls/link={len(log) / args.n:.3f} throttled={throttled} "
        f"({throttled / max(1, len(log)) * 100:.2f}%) linked={linked} failed={outcomes.get('failed', 0)} "
        f"outcomes={outcomes} audit_events={AuditEvent.objects.count() - audit_before} "
        f"limiter={shared_limiter().status()}"
    )


if __name__ == "__main__":
    main()

"""A coordinator approves 10,000 proposals in one action, through real Celery worker processes and the throttled
fake Canvas (150 ms median latency), beside today's per-link path measured in the same run on a small sample.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ml_bench CELERY_BROKER_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/bulk_approve.py [--n 10000] [--mentors 200] [--sample 100] [--concurrency 4]

Runs against a throw-away test database (benchmarks/_bench_db.py); the fake Canvas is served from this process,
the workers are `celery worker` processes (tests/stack.py starts them as the integration tests do). Prints:

- the request: the coordinator's POST "approve all N matching" (confirmed), which queues the approval (target < 2 s);
- the time until every link is in Canvas (target < 3 min), and where it went (approval on the worker, SIS import);
- Canvas calls per link, the mentor-is-a-student checks included (target <= 0.05);
- the same for `--sample` rows approved one by one as bulk approve did before (an approval per row in the request,
  one check per row, one link handed over per approval, so one PUT per link), and the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"bench-bulk-{os.getpid()}")

from _bench_db import throwaway_database

TOKEN = "bench-bulk-token"


def seed(fake: Any, *, n: int, mentors: int, tag: str) -> tuple[Any, list[Any]]:
    """`n` proposals of `mentors` mentors in a new program, people in the fake and as Person rows (no e-mail)."""
    from mentorship.accounts.models import ProgramRole, User
    from mentorship.assignments.models import Program
    from mentorship.people.models import Person
    from tests.factories import pending_proposals

    per_mentor = -(-n // mentors)
    people = []
    for i in range(mentors):
        user = fake.add_user(name=f"{tag} Mentor {i}", sis_user_id=f"{tag}M{i}", login_id=f"{tag.lower()}m{i}@t")
        people.append(Person(canvas_user_id=user["id"], sis_user_id=f"{tag}M{i}", name=f"{tag} Mentor {i}"))
    for i in range(n):
        user = fake.add_user(name=f"{tag} Student {i}", sis_user_id=f"{tag}S{i}", login_id=f"{tag.lower()}s{i}@t")
        people.append(Person(canvas_user_id=user["id"], sis_user_id=f"{tag}S{i}", name=f"{tag} Student {i}"))
    persons = Person.objects.bulk_create(people, batch_size=2000)
    mentor_rows, students = persons[:mentors], persons[mentors:]
    program = Program.objects.create(name=f"Bench {tag}", slug=f"bench-{tag.lower()}", mentor_capacity=per_mentor)
    proposer = User.objects.create(username=f"proposer-{tag.lower()}")
    approver = User.objects.create(username=f"approver-{tag.lower()}")
    ProgramRole.objects.create(program=program, user=approver, role=ProgramRole.Role.COORDINATOR)
    pending_proposals(
        program=program, mentors=mentor_rows, students=students, proposed_by=proposer, reason="bench", batch_size=2000
    )
    return program, [approver]


def wait_linked(program: Any, n: int, *, timeout: float) -> float:
    from mentorship.sync.models import ObserverLink

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if ObserverLink.objects.filter(assignment__program=program, state="linked").count() >= n:
            return time.monotonic()
        time.sleep(0.5)
    raise SystemExit(f"timed out: not every link of {program} was linked in {timeout:.0f} s")


def old_path(fake: Any, program: Any, approver: Any, n: int) -> dict[str, float]:
    """Today's per-row path: approve each proposal on its own (its own check of the mentor, read afresh as each row
    loaded its own Person, and its own links_enqueue of one link)."""
    from mentorship.assignments.models import MentorAssignment
    from mentorship.assignments.services import AssignmentError, assignment_approve
    from mentorship.people.models import Person

    rows = list(MentorAssignment.objects.filter(program=program).select_related("program", "mentor", "student"))
    fake.clear_request_log()
    started = time.monotonic()
    approved = 0
    for a in rows:
        Person.objects.filter(pk=a.mentor_id).update(student_checked_at=None)  # each row saw a stale Person
        a.mentor.student_checked_at = None
        try:
            assignment_approve(assignment=a, actor=approver)
            approved += 1
        except AssignmentError:  # the check was throttled away: the row waits (counted, not linked)
            pass
    request = time.monotonic() - started
    done = wait_linked(program, approved, timeout=600)
    calls = len(fake.request_log)
    return {
        "request": request,
        "linked": done - started,
        "calls": calls,
        "per_link": calls / max(1, approved),
        "refused": n - approved,
    }


def new_path(fake: Any, program: Any, approver: Any, n: int) -> dict[str, float]:
    from django.test import Client
    from django.urls import reverse

    from mentorship.assignments.models import BulkApproval
    from mentorship.sync.models import SisBatch

    client = Client()
    client.force_login(approver)
    query = f"program={program.pk}&status=proposed"
    fake.clear_request_log()
    started = time.monotonic()
    confirm = client.post(reverse("assignments:bulk"), {"decision": "approve_all", "next": query})
    confirm_seconds = time.monotonic() - started
    assert confirm.status_code == 200 and f"Approve all {n:,}".replace(",", "") in confirm.content.decode(), confirm
    started = time.monotonic()
    response = client.post(
        reverse("assignments:bulk"),
        {"decision": "approve_all", "next": query, "confirmed": "1", "expected": str(n)},
    )
    request_seconds = time.monotonic() - started
    assert response.status_code == 302 and "/bulk/" in response["Location"], response
    job = BulkApproval.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))
    while True:
        job.refresh_from_db()
        if job.state != "queued":
            break
        time.sleep(0.5)
    approved = time.monotonic()
    done = wait_linked(program, n, timeout=900)
    calls = len(fake.request_log)
    batches = SisBatch.objects.filter(rows__gt=0).count()  # finished_at is written after the links are recorded
    checks = sum(1 for r in fake.request_log if r["path"].endswith("/enrollments"))
    return {
        "confirm": confirm_seconds,
        "request": request_seconds,
        "approved": approved - started,
        "linked": done - started,
        "calls": calls,
        "checks": checks,
        "per_link": calls / n,
        "skipped": len(job.skipped),
        "sis_batches": batches,
        "in_fake": len(fake.observer_links()),
    }


def start_worker(base_url: str, concurrency: int) -> Any:
    """A real `celery worker` on the throw-away database and the fake, as tests/stack.py starts them."""
    from django.conf import settings

    from tests.stack import CeleryProcess, database_url_for_subprocess

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="mentorship.settings",
        DATABASE_URL=database_url_for_subprocess(),
        CANVAS_BASE_URL=base_url,
        CANVAS_TOKEN=TOKEN,
        CELERY_TASK_DEFAULT_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        PYTHONUNBUFFERED="1",
    )
    log = Path(f"/tmp/bench-bulk-worker-{os.getpid()}.log")
    worker = CeleryProcess("worker", env, log, args=["--concurrency", str(concurrency), "-P", "prefork"])
    worker.start()
    return worker


def report(args: argparse.Namespace, old: dict[str, float] | None, new: dict[str, float]) -> None:
    from django.conf import settings
    from django.db import connection

    print(
        f"bulk approve n={args.n} mentors={args.mentors} worker_concurrency={args.concurrency} "
        f"threshold={settings.SIS_BULK_THRESHOLD} db={connection.vendor}"
    )
    print(
        f"  new: confirm page {new['confirm']:.2f}s, request {new['request']:.2f}s (target < 2 s), approved on the "
        f"worker after {new['approved']:.1f}s, every link in Canvas after {new['linked']:.1f}s (target < 180 s); "
        f"Canvas calls {new['calls']:.0f} ({new['checks']:.0f} checks) = {new['per_link']:.4f}/link (target <= 0.05); "
        f"SIS imports {new['sis_batches']}, skipped rows {new['skipped']}, links the fake holds {new['in_fake']}"
    )
    if old:
        rate = args.sample / old["request"]
        print(
            f"  old (sample of {args.sample}, one approval per row): request {old['request']:.1f}s = {rate:.1f} rows/s "
            f"(10,000 rows: ~{args.n / rate:.0f}s in the request), linked after {old['linked']:.1f}s, "
            f"{old['per_link']:.2f} calls/link, {old['refused']:.0f} rows refused (check throttled)"
        )
        per_row_new = new["linked"] / args.n
        per_row_old = old["linked"] / args.sample
        print(
            f"  ratio old/new: request time per row {old['request'] / args.sample / (new['request'] / args.n):.0f}x, "
            f"time to Canvas per link {per_row_old / per_row_new:.0f}x, calls per link "
            f"{old['per_link'] / new['per_link']:.0f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--mentors", type=int, default=200)
    parser.add_argument("--sample", type=int, default=100, help="rows approved the old way (0: skip)")
    parser.add_argument("--concurrency", type=int, default=4, help="the worker's prefork processes")
    args = parser.parse_args()

    with throwaway_database():
        from django.conf import settings
        from push_throughput import throttle_like_canvas

        from fake_canvas import FakeCanvas
        from fake_canvas.testing import running_fake_server

        fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=7)
        fake.configure(throttle={"enabled": False})
        tag = uuid.uuid4().hex[:4].upper()
        sample_program, (sample_approver,) = seed(fake, n=args.sample, mentors=args.sample, tag=f"O{tag}")
        program, (approver,) = seed(fake, n=args.n, mentors=args.mentors, tag=f"N{tag}")
        throttle_like_canvas(fake)
        with running_fake_server(fake) as base_url:
            settings.CANVAS_BASE_URL, settings.CANVAS_TOKEN = base_url, TOKEN
            worker = start_worker(base_url, args.concurrency)
            try:
                old = old_path(fake, sample_program, sample_approver, args.sample) if args.sample else None
                new = new_path(fake, program, approver, args.n)
            finally:
                worker.stop()
        report(args, old, new)


if __name__ == "__main__":
    main()

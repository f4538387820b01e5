"""The ten reliability scenarios of issue 5.

Scenarios 1-9 run the real thing: a Celery worker process and a beat process (tests/stack.py), PostgreSQL (or SQLite),
the fake Canvas as an HTTP server, and a Redis broker that belongs to this module (its own redis-server on a free port,
without persistence) so that scenario 2 can really stop it. Sweeper intervals are shortened through the environment
of the worker and beat. Scenario 10 is property-based and in-process (hypothesis, the fake through a WSGI adapter,
task bodies called directly in shuffled and duplicated order).
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.people.models import Person
from mentorship.sync import services
from mentorship.sync.models import CanvasConnection, DriftItem, ObserverLink, PairingCode, ReconciliationRun
from mentorship.sync.services import publishing
from tests.helpers import free_port, wait_until
from tests.stack import ROOT, CanvasServer, CeleryProcess, start_beat, stop_running_celery
from tests.sync.conftest import make_assignment, make_program, make_user

pytestmark = [pytest.mark.integration]

SWEEP_ENV = {
    "SWEEPER_STALE_SECONDS": "3",
    "SWEEPER_INTERVAL_SECONDS": "2",
    "SIS_BULK_THRESHOLD": "1000000",  # these scenarios exercise the per-link path; SIS bulk has its own tests
}


# --- a broker this module may stop ---------------------------------------------------------------------------


class RedisBroker:
    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import redis

        wait_until(lambda: redis.Redis.from_url(self.url).ping(), timeout=20, message="redis-server to answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _switch_broker(url: str) -> None:
    """Point this (test) process's Celery app at another broker URL, dropping cached connections."""
    import kombu.pools

    from mentorship.celery import app as celery_app

    app: Any = celery_app  # private attributes: the cached pools are what must go
    kombu.pools.reset()
    app.conf.broker_url = url
    app.conf.broker_write_url = url
    app.conf.broker_read_url = url
    app._pool = None
    app.amqp._producer_pool = None
    publishing._broker_down_until = 0.0


@pytest.fixture(scope="module")
def broker(stack_log_dir: Path) -> Iterator[RedisBroker]:
    broker = RedisBroker(stack_log_dir)
    broker.start()
    original = settings.CELERY_BROKER_URL
    _switch_broker(broker.url)
    yield broker
    _switch_broker(original)
    broker.stop()


@pytest.fixture(scope="module")
def sync_processes(
    broker: RedisBroker, celery_worker_session: CeleryProcess, canvas_server_session: CanvasServer, stack_log_dir: Path
) -> Iterator[dict[str, CeleryProcess]]:
    """The session worker, restarted on this module's broker with short sweeper settings, plus a beat process."""
    worker = celery_worker_session
    saved = dict(worker.env)
    worker.env.update(SWEEP_ENV, CELERY_BROKER_URL=broker.url)
    worker.restart()
    beat = start_beat(canvas_server_session, stack_log_dir, CELERY_BROKER_URL=broker.url, **SWEEP_ENV)
    yield {"worker": worker, "beat": beat}
    beat.stop()
    worker.stop()
    worker.env.clear()
    worker.env.update(saved)


def quiesce(broker_url: str) -> None:
    """Before the test database is flushed: drop queued messages and wait until the worker has stopped writing.

    TRUNCATE must not meet a worker transaction that holds a row lock on one table and wants another (PostgreSQL
    calls that a deadlock and the flush fails).
    """
    import redis

    client = redis.Redis.from_url(broker_url)
    for key in client.scan_iter(f"{settings.CELERY_TASK_DEFAULT_QUEUE}*"):
        client.delete(key)
    wait_until(
        lambda: not ObserverLink.objects.filter(state__in=["linking", "unlinking"]).exists(),
        timeout=30,
        message="the worker to finish its tasks",
    )
    last = [-1]

    def audit_quiet() -> bool:
        count = AuditEvent.objects.count()
        quiet, last[0] = count == last[0], count
        return quiet

    wait_until(audit_quiet, timeout=30, interval=0.5, message="the audit log to stop growing")


def fast_canvas_and_closed_circuit(canvas_server: CanvasServer) -> None:
    """Latency off; the throttle stays on (its headers drive the shared limiter) but requests are nearly free."""
    canvas_server.control(
        "POST",
        "config",
        {
            "latency_ms": 0,
            "error_rate": 0,
            "drop_rate": 0,
            "throttle": {"enabled": True, "cost_min": 0.01, "cost_max": 0.01},
        },
    )
    CanvasConnection.objects.update_or_create(pk=1, defaults={"circuit": "closed", "last_error": ""})


@pytest.fixture
def rig(
    sync_processes: dict[str, CeleryProcess], canvas_server: CanvasServer, settings: Any, broker: RedisBroker
) -> Iterator[Rig]:
    settings.SWEEPER_STALE_SECONDS = 3
    settings.SIS_BULK_THRESHOLD = 1000000
    worker = sync_processes["worker"]
    if worker.process is None or worker.process.poll() is not None:
        worker.start()
    fast_canvas_and_closed_circuit(canvas_server)
    canvas_server.control("POST", "requests/clear")
    yield Rig(canvas_server, worker, sync_processes["beat"])
    quiesce(broker.url)


class Rig:
    def __init__(self, canvas: CanvasServer, worker: CeleryProcess, beat: CeleryProcess) -> None:
        self.canvas = canvas
        self.worker = worker
        self.beat = beat
        self._n = 0

    def people(self, prefix: str, count: int, *, student: bool = False) -> list[Person]:
        course = None
        if student:
            course = self.canvas.control("POST", "courses", {"name": f"{prefix} course", "course_code": prefix})
        rows = []
        for i in range(count):
            sis = f"{prefix}-{i:04d}"
            user = self.canvas.control(
                "POST", "users", {"name": f"{prefix} {i}", "sis_user_id": sis, "login_id": f"{sis.lower()}@school.test"}
            )
            if course is not None:
                self.canvas.control(
                    "POST",
                    "enrollments",
                    {"course_id": course["id"], "user_id": user["id"], "type": "StudentEnrollment"},
                )
            rows.append(Person(canvas_user_id=user["id"], sis_user_id=sis, name=f"{prefix} {i}", sortable_name=sis))
        return Person.objects.bulk_create(rows)

    def approved_links(
        self, program: Any, pairs: list[tuple[Person, Person]], *, method: str = LinkMethod.OBSERVEE
    ) -> list[ObserverLink]:
        """Approved, active assignments with pending observee links, committed (like assignment_approve)."""
        today = timezone.localdate()
        with transaction.atomic():
            assignments = MentorAssignment.objects.bulk_create(
                [
                    MentorAssignment(
                        program=program,
                        mentor=m,
                        student=s,
                        starts_on=today,
                        ends_on=today + datetime.timedelta(days=60),
                        link_method=method,
                        reason="reliability",
                        status=MentorAssignment.Status.APPROVED,
                        generation=1,
                    )
                    for m, s in pairs
                ]
            )
            links = ObserverLink.objects.bulk_create(
                [
                    ObserverLink(
                        assignment=a,
                        kind=ObserverLink.Kind.OBSERVEE,
                        observer_canvas_id=a.mentor.canvas_user_id,
                        student_canvas_id=a.student.canvas_user_id,
                        generation=1,
                    )
                    for a in assignments
                ]
            )
        return links

    def grid(
        self, program: Any, mentors: int, students: int, tag: str
    ) -> tuple[list[ObserverLink], set[tuple[int, int]]]:
        self._n += 1
        ms = self.people(f"{tag}M{self._n}", mentors)
        ss = self.people(f"{tag}S{self._n}", students)
        pairs = [(m, s) for m in ms for s in ss]
        links = self.approved_links(program, pairs)
        return links, {(m.canvas_user_id, s.canvas_user_id) for m, s in pairs}

    def pushed_grid(
        self, program: Any, mentors: int, students: int, tag: str
    ) -> tuple[list[int], set[tuple[int, int]]]:
        """``grid``, its links enqueued for the worker; returns (link ids, the pairs Canvas should end up with)."""
        links, expected = self.grid(program, mentors, students, tag)
        services.links_enqueue(links=links)
        return [link.pk for link in links], expected

    def requests_log(self) -> list[dict[str, Any]]:
        return self.canvas.control("GET", "requests")["requests"]


def linked_count(ids: list[int]) -> int:
    return ObserverLink.objects.filter(pk__in=ids, state="linked").count()


def assert_one_linked_event_per_link(ids: list[int]) -> None:
    per_link = (
        AuditEvent.objects.filter(
            action="canvas.linked", object_type="observerlink", object_id__in=[str(i) for i in ids]
        )
        .values("object_id")
        .annotate(n=Count("id"))
    )
    counts = {row["object_id"]: row["n"] for row in per_link}
    assert len(counts) == len(ids), f"{len(ids) - len(counts)} links have no linked event"
    assert set(counts.values()) == {1}, collections.Counter(counts.values())


# --- 1-9: the real stack ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_1_kill_9_the_worker_with_500_pending_then_restart(rig: Rig) -> None:
    program = make_program()
    ids, expected = rig.pushed_grid(program, 25, 20, "K")
    wait_until(lambda: linked_count(ids) >= 40, timeout=60, message="the worker to start linking")
    rig.worker.kill()
    done_at_kill = linked_count(ids)
    assert done_at_kill < 500, "the worker finished before it could be killed; the scenario proves nothing"
    rig.worker.start()
    wait_until(lambda: linked_count(ids) == 500, timeout=120, interval=0.5, message="all 500 links after the restart")
    assert rig.canvas.observer_links() & expected == expected
    assert {pair for pair in rig.canvas.observer_links() if pair[0] in {m for m, _ in expected}} == expected
    assert_one_linked_event_per_link(ids)
    assert ObserverLink.objects.filter(pk__in=ids).exclude(claim="").count() == 0


@pytest.mark.django_db(transaction=True)
def test_2_broker_down_while_50_approvals_are_made(rig: Rig, broker: RedisBroker) -> None:
    program = make_program(mentor_capacity=50)
    coordinator = make_user(username="reliability-coordinator")
    from mentorship.assignments.services import assignment_approve

    mentors = rig.people("BM", 5)
    students = rig.people("BS", 10)
    proposer = make_user(username="reliability-proposer")
    proposed = [
        make_assignment(program=program, mentor=m, student=s, proposed_by=proposer) for m in mentors for s in students
    ]
    broker.stop()
    try:
        started = time.monotonic()
        for assignment in proposed:
            assignment_approve(assignment=assignment, actor=coordinator, note="broker down")
        elapsed = time.monotonic() - started
    finally:
        broker.start()
    assert MentorAssignment.objects.filter(pk__in=[a.pk for a in proposed], status="approved").count() == 50
    ids = list(ObserverLink.objects.filter(assignment__in=proposed).values_list("pk", flat=True))
    assert len(ids) == 50
    assert elapsed < 60, f"approvals took {elapsed:.1f}s with the broker down"
    back = time.monotonic()
    # The worker's reconnect back-off grows by 2 s per failed try (2, 4, 6 ... s): after a long outage on a loaded
    # machine it may wait 20 s or more before it reconnects, then the sweeper needs its stale period.
    wait_until(lambda: linked_count(ids) == 50, timeout=150, interval=0.5, message="all 50 linked after Redis is back")
    print(f"\nscenario 2: 50 approvals in {elapsed:.1f}s with Redis down; linked {time.monotonic() - back:.1f}s after")
    assert_one_linked_event_per_link(ids)


@pytest.mark.django_db(transaction=True)
def test_3_process_dies_between_commit_and_publish(rig: Rig) -> None:
    program = make_program()
    coordinator = make_user(username="dying-coordinator")
    (mentor,) = rig.people("DM", 1)
    (student,) = rig.people("DS", 1)
    assignment = make_assignment(program=program, mentor=mentor, student=student, proposed_by=coordinator)
    # A real process approves, commits, and is killed in the on_commit hook before it can publish.
    script = (
        "import os, django\n"
        "django.setup()\n"
        "from mentorship.sync import services\n"
        "services.links_enqueue = lambda **kw: os._exit(9)\n"
        "from mentorship.assignments.models import MentorAssignment\n"
        "from mentorship.accounts.models import User\n"
        "from mentorship.assignments.services import assignment_approve\n"
        f"assignment_approve(assignment=MentorAssignment.objects.get(pk={assignment.pk}),"
        f" actor=User.objects.get(pk={coordinator.pk}), note='dies')\n"
        "os._exit(0)\n"
    )
    env = dict(rig.worker.env)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert result.returncode == 9, result.stderr.decode()[-2000:]
    link = ObserverLink.objects.get(assignment=assignment)
    assert link.state == "pending"
    wait_until(lambda: ObserverLink.objects.get(pk=link.pk).state == "linked", timeout=30, message="the sweeper")
    assert (mentor.canvas_user_id, student.canvas_user_id) in rig.canvas.observer_links()


@pytest.mark.django_db(transaction=True)
def test_4_every_task_delivered_twice(rig: Rig) -> None:
    program = make_program()
    links, expected = rig.grid(program, 10, 20, "D")
    ids = [link.pk for link in links]
    services.links_enqueue(links=links)
    services.links_enqueue(links=links)
    wait_until(lambda: linked_count(ids) == 200, timeout=90, interval=0.5, message="all 200 links")
    mentors = {m for m, _ in expected}
    assert {pair for pair in rig.canvas.observer_links() if pair[0] in mentors} == expected
    assert_one_linked_event_per_link(ids)
    puts = [r for r in rig.requests_log() if r["method"] == "PUT" and r["status"] == 200]
    # The claim makes a duplicate a no-op; only a claim the sweeper judged dead (a task slower than the 3 s stale
    # limit on a loaded machine) may repeat its idempotent PUT.
    print(f"\nscenario 4: {len(puts)} PUTs for 200 links delivered twice")
    assert 200 <= len(puts) <= 210, "duplicate messages made extra Canvas calls"


@pytest.mark.django_db(transaction=True)
def test_5_canvas_answers_503_to_half_the_requests_for_a_while(rig: Rig) -> None:
    program = make_program()
    links, _ = rig.grid(program, 10, 10, "E")
    ids = [link.pk for link in links]
    rig.canvas.control("POST", "config", {"error_rate": 0.5})
    services.links_enqueue(links=links)
    wait_until(lambda: linked_count(ids) >= 50, timeout=90, interval=0.5, message="half the links through the storm")
    rig.canvas.control("POST", "config", {"error_rate": 0})
    wait_until(lambda: linked_count(ids) == 100, timeout=120, interval=0.5, message="convergence after the storm")
    puts = [r for r in rig.requests_log() if r["method"] == "PUT"]
    failures = sum(1 for r in puts if r["status"] == 503)
    print(f"\nscenario 5: {len(puts)} PUTs for 100 links ({failures} answered 503)")
    assert len(puts) <= 200
    assert ObserverLink.objects.filter(pk__in=ids, state="failed").count() == 0
    assert_one_linked_event_per_link(ids)


@pytest.mark.django_db(transaction=True)
def test_6_token_revoked_mid_run_then_replaced(rig: Rig, client: Any) -> None:
    program = make_program()
    coordinator = make_user(username="circuit-coordinator")
    from mentorship.accounts.models import ProgramRole

    ProgramRole.objects.create(program=program, user=coordinator, role=ProgramRole.Role.COORDINATOR)
    ids, expected = rig.pushed_grid(program, 10, 20, "T")
    wait_until(lambda: linked_count(ids) >= 30, timeout=60, message="some links before the revocation")
    rig.canvas.control("POST", "invalidate", {"token": rig.canvas.admin_token, "reason": "revoked"})
    wait_until(lambda: CanvasConnection.get().circuit == "open", timeout=30, message="the circuit to open")
    # Let anything in flight finish, then count the calls made after the first 401 (the beat probe's GET
    # users/self is the circuit checking the token, not Canvas work, and is counted separately).
    wait_until(
        lambda: not ObserverLink.objects.filter(pk__in=ids, state="linking").exists(), timeout=30, message="idle"
    )
    log = rig.requests_log()
    first = next(i for i, r in enumerate(log) if r["status"] == 401)
    after = [r for r in log[first + 1 :] if not r["path"].endswith("/users/self")]
    print(f"\nscenario 6: {len(after)} Canvas calls after the first 401; linked before stop: {linked_count(ids)}")
    assert len(after) <= 3
    assert AuditEvent.objects.filter(action="canvas.circuit_opened").count() == 1
    # The alert email (the worker's file backend in tests).
    wait_until(lambda: "Canvas work has stopped" in rig.worker.mail(), timeout=10, message="the alert email")
    assert coordinator.email in rig.worker.mail()
    client.force_login(coordinator, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/sync/connection/").content.decode()
    assert "Canvas work has stopped" in page and "Stopped" in page
    assert ObserverLink.objects.filter(pk__in=ids, state="failed").count() == 0

    rig.canvas.control("POST", "restore", {"token": rig.canvas.admin_token})
    wait_until(lambda: linked_count(ids) == 200, timeout=90, interval=0.5, message="convergence after a new token")
    assert CanvasConnection.get().circuit == "closed"
    mentors = {m for m, _ in expected}
    assert {pair for pair in rig.canvas.observer_links() if pair[0] in mentors} == expected
    assert_one_linked_event_per_link(ids)


@pytest.mark.django_db(transaction=True)
def test_7_deleted_student_and_validation_error_fail_once_with_a_reason(rig: Rig) -> None:
    program = make_program()
    (mentor,) = rig.people("VM", 1)
    (student,) = rig.people("VS", 1)
    ghost = Person.objects.create(canvas_user_id=987654321, name="Deleted Student", sortable_name="Deleted")
    links = rig.approved_links(program, [(mentor, ghost)])
    # Canvas refuses a self-observation (validation): make the link point the mentor at themself.
    (self_link,) = rig.approved_links(program, [(mentor, student)])
    ObserverLink.objects.filter(pk=self_link.pk).update(student_canvas_id=mentor.canvas_user_id)
    self_link.refresh_from_db()
    services.links_enqueue(links=[*links, self_link])
    ids = [links[0].pk, self_link.pk]
    wait_until(
        lambda: ObserverLink.objects.filter(pk__in=ids, state="failed").count() == 2, timeout=30, message="failures"
    )
    gone, invalid = ObserverLink.objects.get(pk=ids[0]), ObserverLink.objects.get(pk=ids[1])
    assert gone.attempts == 1 and gone.last_error_status == 404 and "does not exist" in gone.last_error
    assert (
        invalid.attempts == 1 and invalid.last_error_status in (400, 422) and "Correct the data" in invalid.last_error
    )
    puts = [r for r in rig.requests_log() if r["method"] == "PUT"]
    assert len(puts) == 2
    assert AuditEvent.objects.filter(action="canvas.failed").count() == 2


@pytest.mark.django_db(transaction=True)
def test_8_pairing_code_redemption_whose_answer_is_lost(rig: Rig) -> None:
    program = make_program()
    (mentor,) = rig.people("PM", 1)
    (student,) = rig.people("PS", 1, student=True)
    mentor_user = make_user(username="pairing-mentor", person=mentor)
    (link,) = rig.approved_links(program, [(mentor, student)], method=LinkMethod.PAIRING_CODE)
    services.links_enqueue(links=[link])
    wait_until(lambda: PairingCode.objects.filter(link=link).exists(), timeout=30, message="the code to be issued")
    code = PairingCode.objects.get(link=link)
    assert ObserverLink.objects.get(pk=link.pk).state == "awaiting_redemption"

    class LoseAnswers(requests.adapters.HTTPAdapter):
        """Canvas gets the request and acts; the answer never comes back."""

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            super().send(request, *args, **kwargs)
            raise requests.ConnectionError("Connection reset by peer", request=request)

    session = requests.Session()
    session.mount("http://", LoseAnswers())
    token = rig.canvas.control("POST", "tokens", {"user_id": mentor.canvas_user_id})["token"]
    mentor_client = rig.canvas.client(token, session=session, acting_as="user")
    assert services.pairing_code_redeem(pairing_code=code, mentor_user=mentor_user, canvas_client=mentor_client)
    code.refresh_from_db()
    assert code.status == "redeemed" and code.redeemed_by_canvas_id == mentor.canvas_user_id
    assert ObserverLink.objects.get(pk=link.pk).state == "linked"
    assert (mentor.canvas_user_id, student.canvas_user_id) in rig.canvas.observer_links()
    posts = [r for r in rig.requests_log() if r["method"] == "POST" and r["path"].endswith("/observees")]
    assert len(posts) == 1, "the redemption was retried"
    assert not AuditEvent.objects.filter(action="canvas.failed").exists()


@pytest.mark.django_db(transaction=True)
def test_9_drift_is_repaired_reported_and_a_big_removal_waits(rig: Rig, settings: Any) -> None:
    from mentorship.sync.reconcile import reconcile_execute, reconcile_start

    settings.RECONCILE_REMOVAL_THRESHOLD = 50
    program = make_program()
    ids, expected = rig.pushed_grid(program, 4, 10, "R")
    wait_until(lambda: linked_count(ids) == 40, timeout=60, message="the program's links")
    admin = rig.canvas.client()
    deleted = sorted(expected)[:20]
    for observer, student in deleted:
        admin.remove_observee(observer, student)
    # Ten links nobody approved: students of the program observing each other.
    students = sorted({s for _, s in expected})
    unexpected = [(students[i], students[(i + 1) % 10]) for i in range(10)]
    for observer, student in unexpected:
        admin.add_observee(observer, student)

    run = reconcile_execute(run_id=reconcile_start(program=program).pk)
    assert run.status == "done", run.error
    assert run.counts["missing"] == 20 and run.counts["unexpected"] == 10 and run.counts["stale"] == 0
    wait_until(
        lambda: set(deleted) <= rig.canvas.observer_links(), timeout=60, interval=0.5, message="20 links restored"
    )
    assert set(unexpected) <= rig.canvas.observer_links(), "an unexpected link was removed silently"
    assert DriftItem.objects.filter(run=run, kind="unexpected", status="open").count() == 10
    assert AuditEvent.objects.filter(action="reconcile.repair").count() == 20

    # 300 links still in Canvas after their assignments ended: the run holds instead of removing them.
    big = make_program()
    mentors, students_b = rig.people("HM", 30), rig.people("HS", 10)
    ended = [
        make_assignment(
            program=big, mentor=m, student=s, status=MentorAssignment.Status.ENDED, proposed_by=None, generation=2
        )
        for m in mentors
        for s in students_b
    ]
    for a in ended:
        admin.add_observee(a.mentor.canvas_user_id, a.student.canvas_user_id)
    held = reconcile_execute(run_id=reconcile_start(program=big).pk)
    assert held.status == ReconciliationRun.Status.HELD and held.counts["stale"] == 300
    assert DriftItem.objects.filter(run=held, status="held").count() == 300
    assert (
        len({(a.mentor.canvas_user_id, a.student.canvas_user_id) for a in ended} & rig.canvas.observer_links()) == 300
    )
    assert AuditEvent.objects.filter(action="reconcile.held").count() == 1


# --- 10: property-based, in-process ----------------------------------------------------------------------------


@contextlib.contextmanager
def _in_process_canvas(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from canvas_client import CanvasClient, NullLimiter
    from fake_canvas import FakeCanvas
    from fake_canvas.testing import WSGIAdapter
    from mentorship.core import canvas as sync_canvas

    fake = FakeCanvas(admin_token="prop-token", seed="empty", rng_seed=1)
    fake.configure(throttle={"enabled": False})
    session = requests.Session()
    session.mount("http://canvas.test", WSGIAdapter(fake.wsgi_app))

    def factory(**kwargs: Any) -> CanvasClient:
        return CanvasClient(
            "http://canvas.test", "prop-token", session=session, limiter=NullLimiter(), sleep=lambda s: None
        )

    monkeypatch.setattr(sync_canvas, "portal_client", factory)
    monkeypatch.setattr(publishing, "_publish", lambda *a, **k: True)  # messages are delivered by the test itself
    yield fake


@pytest.mark.django_db
def test_10_random_approve_end_reapprove_with_out_of_order_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    # This test runs the task bodies in-process inside one transaction; no worker process may touch the database.
    stop_running_celery()
    ops = st.lists(
        st.tuples(st.sampled_from(["approve", "end", "reapprove", "deliver", "deliver_dup"]), st.integers(0, 2)),
        min_size=3,
        max_size=14,
    )

    @hsettings(
        max_examples=int(os.environ.get("SCENARIO_10_EXAMPLES", "15")),
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(ops=ops, rnd=st.randoms(use_true_random=False))
    def run(ops: list[tuple[str, int]], rnd: Any) -> None:
        # Each example in its own savepoint, rolled back: the audit table refuses DELETE, so nothing is cleaned up
        # by hand.
        with _in_process_canvas(monkeypatch) as fake, transaction.atomic():
            _property_body(fake, ops, rnd)
            transaction.set_rollback(True)

    run()


def _deliver_until_quiet(messages: list[tuple[int, int]], rnd: Any) -> None:
    """Deliver every message left, shuffled and half of them twice; then what a sweeper would re-deliver until
    nothing is left to do."""
    pending = messages + messages[: len(messages) // 2]
    rnd.shuffle(pending)
    for link_id, generation in pending:
        services.link_sync(link_id=link_id, generation=generation)
    for _ in range(5):
        work = list(ObserverLink.objects.filter(state__in=ObserverLink.WORK_STATES).values_list("pk", "generation"))
        if not work:
            break
        for link_id, generation in work:
            services.link_sync(link_id=link_id, generation=generation)


def _property_body(fake: Any, ops: list[tuple[str, int]], rnd: Any) -> None:
    program = make_program()
    pairs = [
        (
            Person.objects.create(canvas_user_id=m["id"], name=f"M{i}"),
            Person.objects.create(canvas_user_id=s["id"], name=f"S{i}"),
        )
        for i, (m, s) in enumerate(fake.add_pairs(3, tag="p", sis_ids=False))
    ]
    current: dict[int, MentorAssignment | None] = {0: None, 1: None, 2: None}
    messages: list[tuple[int, int]] = []
    today = timezone.localdate()

    def approve(i: int) -> None:
        mentor, student = pairs[i]
        a = MentorAssignment.objects.create(
            program=program,
            mentor=mentor,
            student=student,
            starts_on=today,
            ends_on=today + datetime.timedelta(days=10),
            link_method=LinkMethod.OBSERVEE,
            reason="p",
            status=MentorAssignment.Status.APPROVED,
            generation=1,
        )
        current[i] = a
        messages.extend((link.pk, link.generation) for link in services.links_plan(assignment=a))

    def end(i: int) -> None:
        a = current[i]
        if a is None:
            return
        MentorAssignment.objects.filter(pk=a.pk).update(
            status=MentorAssignment.Status.ENDED, generation=a.generation + 1
        )
        a.refresh_from_db()
        messages.extend((link.pk, link.generation) for link in services.links_retire(assignment=a))
        current[i] = None

    for op, i in ops:
        if op == "approve" and current[i] is None:
            approve(i)
        elif op == "end":
            end(i)
        elif op == "reapprove":
            end(i)
            approve(i)
        elif op in ("deliver", "deliver_dup") and messages:
            rnd.shuffle(messages)
            msg = messages.pop() if op == "deliver" else messages[-1]
            services.link_sync(link_id=msg[0], generation=msg[1])
    _deliver_until_quiet(messages, rnd)
    approved_pairs = {(a.mentor.canvas_user_id, a.student.canvas_user_id) for a in current.values() if a is not None}
    assert fake.observer_links() == approved_pairs, (ops, fake.observer_links(), approved_pairs)
    assert not ObserverLink.objects.filter(state__in=[*ObserverLink.WORK_STATES, "failed"]).exists()

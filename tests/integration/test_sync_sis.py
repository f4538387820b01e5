"""The SIS bulk transport through the real worker: above the threshold, one user_observers.csv import carries the
links (sis_push task -> Canvas import -> sis_poll tasks until Canvas finishes), instead of one call per link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mentorship.audit.models import AuditEvent
from mentorship.people.models import Person
from mentorship.sync import services
from mentorship.sync.models import ObserverLink, SisBatch
from tests.helpers import wait_until
from tests.integration.test_sync_reliability import SWEEP_ENV, RedisBroker, Rig, _switch_broker, quiesce
from tests.stack import CanvasServer, CeleryProcess
from tests.sync.conftest import make_program

pytestmark = [pytest.mark.integration]

THRESHOLD = 5


@pytest.fixture(scope="module")
def sis_worker(
    celery_worker_session: CeleryProcess, canvas_server_session: CanvasServer, stack_log_dir: Path
) -> Iterator[tuple[CeleryProcess, RedisBroker]]:
    from django.conf import settings

    broker = RedisBroker(stack_log_dir)
    broker.start()
    original = settings.CELERY_BROKER_URL
    _switch_broker(broker.url)
    worker = celery_worker_session
    saved = dict(worker.env)
    worker.env.update(SWEEP_ENV, SIS_BULK_THRESHOLD=str(THRESHOLD), CELERY_BROKER_URL=broker.url)
    worker.restart()
    yield worker, broker
    worker.stop()
    worker.env.clear()
    worker.env.update(saved)
    _switch_broker(original)
    broker.stop()


@pytest.fixture
def sis_rig(sis_worker: tuple[CeleryProcess, RedisBroker], canvas_server: CanvasServer, settings: Any) -> Iterator[Rig]:
    """A rig on the SIS worker with the bulk threshold low and a reliable Canvas; the broker is drained after."""
    worker, broker = sis_worker
    try:
        settings.SIS_BULK_THRESHOLD = THRESHOLD
        canvas_server.control("POST", "config", {"throttle": {"enabled": False}, "error_rate": 0, "drop_rate": 0})
        yield Rig(canvas_server, worker, worker)
    finally:
        quiesce(broker.url)


@pytest.mark.django_db(transaction=True)
def test_many_pending_links_go_through_one_sis_import(sis_rig: Rig, canvas_server: CanvasServer) -> None:
    rig = sis_rig
    program = make_program()
    links, expected = rig.grid(program, 3, 4, "SIS")
    canvas_server.control("POST", "requests/clear")
    services.links_enqueue(links=links)
    ids = [link.pk for link in links]
    wait_until(
        lambda: ObserverLink.objects.filter(pk__in=ids, state="linked").count() == 12,
        timeout=60,
        interval=0.5,
        message="the SIS import to link all 12",
    )
    batch = SisBatch.objects.get()
    assert batch.rows == 12 and batch.finished_at is not None and batch.workflow_state == "imported"
    assert set(ObserverLink.objects.filter(pk__in=ids).values_list("sis_batch", flat=True)) == {batch.pk}
    assert expected <= canvas_server.observer_links()
    log = canvas_server.control("GET", "requests")["requests"]
    assert sum(1 for r in log if r["method"] == "POST" and r["path"].endswith("/sis_imports")) == 1
    assert not [r for r in log if r["method"] == "PUT"], "links went one by one instead of through the import"
    assert AuditEvent.objects.filter(action="canvas.linked").count() == 12


@pytest.mark.django_db(transaction=True)
def test_thirty_warnings_in_a_batch_leave_exactly_those_thirty_rows_failed(
    sis_rig: Rig, canvas_server: CanvasServer
) -> None:
    """Canvas lists 24 warnings and "and 6 more" (docs/canvas-rules.md, section 3): the worker reads the other six
    from the errors file, so the 20 good rows are linked and the 30 refused ones failed, none assumed linked."""
    links, _ = sis_rig.grid(make_program(), 5, 10, "W")
    students = sorted({link.student_canvas_id for link in links})
    ghosts = students[:6]  # 6 students x 5 mentors = 30 rows Canvas refuses
    for person in Person.objects.filter(canvas_user_id__in=ghosts):
        person.sis_user_id = f"GONE-{person.canvas_user_id}"
        person.save(update_fields=["sis_user_id"])
    canvas_server.control("POST", "requests/clear")
    services.links_enqueue(links=links)
    ids = [link.pk for link in links]
    wait_until(
        lambda: ObserverLink.objects.filter(pk__in=ids, state__in=["linked", "failed"]).count() == 50,
        timeout=90,
        interval=0.5,
        message="the SIS import to settle all 50 rows",
    )
    failed = set(ObserverLink.objects.filter(pk__in=ids, state="failed").values_list("student_canvas_id", flat=True))
    assert ObserverLink.objects.filter(pk__in=ids, state="failed").count() == 30 and failed == set(ghosts)
    assert ObserverLink.objects.filter(pk__in=ids, state="linked").count() == 20
    batch = SisBatch.objects.get()
    assert len(batch.errors) == 25 and batch.errors[-1][0] == "and 6 more warnings that were not included"
    log = canvas_server.control("GET", "requests")["requests"]
    assert sum(1 for r in log if r["method"] == "POST" and r["path"].endswith("/sis_imports")) == 1
    assert sum(1 for r in log if r["path"].startswith("/files/")) == 1
    assert not [r for r in log if r["method"] == "PUT"], "rows went one by one instead of through the import"

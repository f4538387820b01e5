"""500 proposals approved in one action, through the real pipeline: the coordinator's POST queues the approval, a
real worker approves every row in one transaction and hands the links over once, so one user_observers.csv SIS
import carries them (docs/decisions.md, "Bulk approve: one transaction, one publish")."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from mentorship.accounts.models import ProgramRole
from mentorship.assignments.models import BulkApproval
from mentorship.sync.models import ObserverLink, SisBatch
from tests.factories import UserFactory, pending_proposals
from tests.helpers import wait_until
from tests.integration.test_sync_reliability import Rig, quiesce
from tests.integration.test_sync_sis import sis_worker
from tests.stack import CanvasServer
from tests.sync.conftest import make_program

pytestmark = [pytest.mark.integration]
__all__ = ["sis_worker"]

MENTORS, STUDENTS = 25, 20  # 500 proposals; each mentor has 20 students


@pytest.mark.django_db(transaction=True)
def test_500_bulk_approvals_go_through_one_sis_import(
    sis_worker: Any, canvas_server: CanvasServer, settings: Any
) -> None:
    worker, broker = sis_worker
    try:
        _approve_500(worker, canvas_server, settings)
    finally:
        quiesce(broker.url)


def _approve_500(worker: Any, canvas_server: CanvasServer, settings: Any) -> None:
    settings.SIS_BULK_THRESHOLD = 200  # the default: 500 links handed over at once cross it
    canvas_server.control("POST", "config", {"error_rate": 0, "drop_rate": 0})  # its throttle stays on
    rig = Rig(canvas_server, worker, worker)
    program = make_program(mentor_capacity=STUDENTS)
    proposer, approver = UserFactory(), UserFactory()
    ProgramRole.objects.create(program=program, user=approver, role=ProgramRole.Role.COORDINATOR)
    mentors, students = rig.people("BAM", MENTORS), rig.people("BAS", STUDENTS * MENTORS)
    pending_proposals(program=program, mentors=mentors, students=students, proposed_by=proposer, reason="bulk")
    canvas_server.control("POST", "requests/clear")
    client = Client()
    client.force_login(approver)
    response = client.post(
        reverse("assignments:bulk"), {"decision": "approve_all", "confirmed": "1", "expected": str(MENTORS * STUDENTS)}
    )
    job = BulkApproval.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("assignments:bulk_status", args=[job.pk])
    wait_until(
        lambda: (
            ObserverLink.objects.filter(state="linked").count() == MENTORS * STUDENTS
            and SisBatch.objects.filter(finished_at__isnull=False).exists()
        ),  # written after the links are recorded
        timeout=180,
        interval=1.0,
        message="the worker to approve 500 rows and one SIS import to link them",
    )
    job.refresh_from_db()
    assert job.state == "done" and job.approved_count == 500 and job.skipped == []
    (batch,) = SisBatch.objects.all()
    assert batch.rows == 500 and batch.workflow_state == "imported"
    expected = {(m.canvas_user_id, s.canvas_user_id) for i, s in enumerate(students) for m in [mentors[i // STUDENTS]]}
    assert expected <= canvas_server.observer_links()
    log = canvas_server.control("GET", "requests")["requests"]
    assert sum(1 for r in log if r["method"] == "POST" and r["path"].endswith("/sis_imports")) == 1
    assert not [r for r in log if r["method"] == "PUT"], "links went one by one instead of through the import"
    enrollment_reads = [r for r in log if r["path"].endswith("/enrollments")]
    assert len(enrollment_reads) == MENTORS  # the mentor-is-a-student check, once per mentor
    assert len(log) / 500 <= 1.05, f"{len(log)} Canvas calls for 500 links"
    status = client.get(response["Location"]).content.decode()
    assert "Approved 500 of 500" in status

"""A big CSV import end to end: the page queues it, a real worker process creates it, the status page says so."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mentorship.assignments import csv_import
from mentorship.assignments.models import CsvImport, MentorAssignment
from mentorship.audit.models import AuditEvent
from tests.assignments.test_views import upload
from tests.conftest import login
from tests.factories import PersonFactory
from tests.helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROWS = 30


def test_a_worker_creates_a_big_import_all_at_once(client, stack, coordinator, program, monkeypatch) -> None:
    monkeypatch.setattr(csv_import, "INLINE_MAX_ROWS", 10)  # this (test) process queues anything above 10 rows
    lines = ["mentor,student,starts_on,ends_on,reason"]
    for i in range(ROWS):
        PersonFactory(sis_user_id=f"BIG-M{i}")
        PersonFactory(sis_user_id=f"BIG-S{i}")
        lines.append(f"BIG-M{i},BIG-S{i},2027-01-04,2027-03-01,Reading support")
    login(client, coordinator)
    assert "a background worker creates the rows" in upload(client, program, "\n".join(lines).encode()).content.decode()
    batch = CsvImport.objects.get()

    response = client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert response["Location"] == reverse("assignments:import_status", args=[batch.pk])

    wait_until(lambda: CsvImport.objects.get(pk=batch.pk).state == "done", timeout=60, message="the worker's import")
    assert MentorAssignment.objects.filter(program=program, status="proposed").count() == ROWS
    assert AuditEvent.objects.filter(action="assignment.proposed").count() == ROWS
    assert AuditEvent.objects.filter(action="assignment.imported", actor=coordinator).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert f"Created {ROWS} proposed assignments" in page

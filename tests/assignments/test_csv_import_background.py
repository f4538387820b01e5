"""A big CSV import is created by a worker (all rows or none) while the coordinator follows its status page."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments import csv_import, import_batches, tasks
from mentorship.assignments.models import CsvImport, MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.people.models import Person
from tests.assignments.test_views import msgs, upload
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory

TWO_ROWS = b"mentor,student,starts_on,ends_on,reason\nA,B,2027-01-04,2027-02-01,x\nC,D,2027-01-04,2027-02-01,y\n"


@pytest.fixture
def big(monkeypatch, client, coordinator, program):
    """INLINE_MAX_ROWS is 1, so a two-row file goes to a worker; publishing is recorded, not sent."""
    monkeypatch.setattr(csv_import, "INLINE_MAX_ROWS", 1)
    sent: list[int] = []
    monkeypatch.setattr(tasks.import_csv, "apply_async", lambda args, **kw: sent.append(args[0]))
    for sis in ("A", "B", "C", "D"):
        PersonFactory(sis_user_id=sis)
    login(client, coordinator)
    response = upload(client, program, TWO_ROWS)
    assert "a background worker creates the rows" in response.content.decode()
    return sent


def test_confirm_queues_the_file_and_the_status_page_follows_it(client, big):
    batch = CsvImport.objects.get()
    response = client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("assignments:import_status", args=[batch.pk])
    assert big == [batch.pk]
    batch.refresh_from_db()
    assert batch.state == "queued" and batch.queued_at is not None and batch.confirmed_at is None
    assert not MentorAssignment.objects.exists()
    waiting = client.get(response["Location"]).content.decode()
    assert "A background worker is creating the proposals" in waiting and 'http-equiv="refresh"' in waiting

    assert import_batches.import_queued(batch_id=batch.pk) == "done"
    assert MentorAssignment.objects.filter(status="proposed").count() == 2
    assert AuditEvent.objects.filter(action="assignment.proposed").count() == 2
    done = client.get(response["Location"]).content.decode()
    assert "Created 2 proposed assignments" in done and 'http-equiv="refresh"' not in done
    # A second delivery of the same message changes nothing; so does a second confirm.
    assert import_batches.import_queued(batch_id=batch.pk) == "skipped"
    again = client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert again["Location"] == reverse("assignments:import_status", args=[batch.pk])
    assert any("already confirmed: its 2 proposals exist" in m for m in msgs(again))
    assert MentorAssignment.objects.count() == 2 and big == [batch.pk]


def test_a_broker_that_cannot_take_the_job_changes_nothing(client, big, monkeypatch):
    def down(args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(tasks.import_csv, "apply_async", down)
    batch = CsvImport.objects.get()
    response = client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert response.status_code == 200
    assert "cannot take the import right now" in response.content.decode()
    batch.refresh_from_db()
    assert batch.state == "previewed" and batch.queued_at is None
    assert not MentorAssignment.objects.exists()


def test_rows_that_went_bad_before_the_worker_ran_create_nothing(client, big, program):
    batch = CsvImport.objects.get()
    client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    # Meanwhile someone else proposed the same pair: the worker's validation refuses the row.
    AssignmentFactory(
        program=program,
        mentor=Person.objects.get(sis_user_id="A"),
        student=Person.objects.get(sis_user_id="B"),
        starts_on=datetime.date(2027, 1, 4),
        ends_on=datetime.date(2027, 2, 1),
    )
    assert import_batches.import_queued(batch_id=batch.pk) == "failed"
    assert MentorAssignment.objects.count() == 1  # only the other proposal
    batch.refresh_from_db()
    assert batch.state == "failed" and "line 2" in batch.problem and "Nothing was created" in batch.problem
    page = client.get(reverse("assignments:import_status", args=[batch.pk])).content.decode()
    assert batch.problem.split(":")[0] in page


def test_a_lost_message_is_sent_again_after_ten_minutes(client, big):
    batch = CsvImport.objects.get()
    client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert import_batches.imports_requeue() == 0  # just queued: its message is most likely on its way
    later = timezone.now() + import_batches.QUEUED_GRACE + datetime.timedelta(seconds=1)
    assert import_batches.imports_requeue(now=later) == 1
    assert big == [batch.pk, batch.pk]


def test_status_page_is_the_uploaders_only(client, big, other_coordinator):
    batch = CsvImport.objects.get()
    login(client, other_coordinator)
    assert client.get(reverse("assignments:import_status", args=[batch.pk])).status_code == 404

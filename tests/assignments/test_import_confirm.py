"""Confirming an import creates each row once, whatever the number of submits, tabs or coordinators, and every
later submit lands on the batch's page with a sentence saying where it stands (PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mentorship.assignments import csv_import, import_batches
from mentorship.assignments.models import CsvImport, MentorAssignment
from mentorship.audit.models import AuditEvent
from tests.assignments.test_views import msgs, upload
from tests.conftest import login
from tests.factories import PersonFactory
from tests.helpers import race

ROWS = 300
BEING_CREATED = (
    "This import was already confirmed and its rows are being created. Nothing was added; this page follows it."
)


def file_of(rows: int) -> bytes:
    lines = ["mentor,student,starts_on,ends_on,reason"]
    for i in range(rows):
        PersonFactory(sis_user_id=f"DC-M{i}")
        PersonFactory(sis_user_id=f"DC-S{i}")
        lines.append(f"DC-M{i},DC-S{i},2027-01-04,2027-03-01,Reading support")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.django_db
def test_a_double_click_on_confirm_creates_each_row_once(client, coordinator, program):
    login(client, coordinator)
    upload(client, program, file_of(ROWS))
    batch = CsvImport.objects.get()
    url = reverse("assignments:import_confirm", args=[batch.pk])
    first, second = client.post(url), client.post(url)
    assert first.status_code == 302 and MentorAssignment.objects.count() == ROWS
    assert second["Location"] == reverse("assignments:import_status", args=[batch.pk])
    assert msgs(second)[-1] == f"This import was already confirmed: its {ROWS} proposals exist. Nothing was added."
    assert AuditEvent.objects.filter(action="assignment.proposed").count() == ROWS
    assert client.get(second["Location"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_confirms_create_each_row_once(coordinator, program):
    """Two coordinators' requests (threads, each with its own connection) confirm the same batch at once."""
    data = file_of(ROWS)
    records = csv_import.read_csv(data)
    batch = CsvImport.objects.create(
        program=program, uploaded_by=coordinator, content=records.text, row_count=len(records)
    )

    def confirm() -> import_batches.Confirmed:
        return import_batches.import_confirm(batch_id=batch.pk, actor=coordinator)

    finished = race(confirm, confirm, timeout=120)
    failures = [o for o in finished if isinstance(o, BaseException)]
    outcomes = [o for o in finished if not isinstance(o, BaseException)]
    assert not failures, failures
    assert sorted(o.started for o in outcomes) == [False, True]
    loser = next(o for o in outcomes if not o.started)
    assert loser.message.startswith("This import was already confirmed")
    assert MentorAssignment.objects.filter(program=program).count() == ROWS
    assert AuditEvent.objects.filter(action="assignment.proposed").count() == ROWS
    assert CsvImport.objects.get(pk=batch.pk).state == "done"


@pytest.mark.django_db
def test_staged_rows_are_hidden_until_the_switch_and_discarded_on_failure(coordinator, program, monkeypatch):
    """A failure after some chunks were staged leaves nothing visible and the batch failed with a sentence."""
    records = csv_import.read_csv(file_of(5))
    batch = CsvImport.objects.create(
        program=program, uploaded_by=coordinator, content=records.text, row_count=len(records)
    )
    monkeypatch.setattr(import_batches, "STAGE_CHUNK", 2)
    monkeypatch.setattr(import_batches, "SQLITE_STAGE_CHUNK", 2)
    monkeypatch.setattr(import_batches, "SQLITE_STAGE_PAUSE", 0)
    seen: list[int] = []

    def fail_at_switch(**kwargs: object) -> None:
        seen.append(MentorAssignment.with_staged.filter(staged_by=batch).count())
        assert not MentorAssignment.objects.exists()  # staged rows are nobody's yet
        raise csv_import.AssignmentError("The switch was refused (test).")

    monkeypatch.setattr(import_batches, "_switch", fail_at_switch)
    outcome = import_batches.import_confirm(batch_id=batch.pk, actor=coordinator)
    assert seen == [5]
    assert outcome.batch.state == "failed" and "Nothing was created" in outcome.batch.problem
    assert not MentorAssignment.with_staged.exists()
    failed = AuditEvent.objects.get(action="assignment.imported")
    assert failed.outcome == "failed" and failed.details["discarded_staged_rows"] == 5


@pytest.mark.django_db
def test_a_worker_that_died_while_creating_is_queued_again_with_its_rows_discarded(coordinator, program, monkeypatch):
    import datetime

    from django.utils import timezone

    sent: list[int] = []

    def enqueue(*, batch: CsvImport) -> bool:
        sent.append(batch.pk)
        return True

    monkeypatch.setattr(import_batches, "import_enqueue", enqueue)
    records = csv_import.read_csv(file_of(3))
    batch = CsvImport.objects.create(
        program=program,
        uploaded_by=coordinator,
        content=records.text,
        row_count=len(records),
        state="creating",
        started_at=timezone.now() - import_batches.CREATING_GRACE - datetime.timedelta(minutes=1),
    )
    MentorAssignment.with_staged.create(
        program=program,
        mentor=PersonFactory(),
        student=PersonFactory(),
        starts_on=datetime.date(2027, 1, 4),
        ends_on=datetime.date(2027, 2, 1),
        reason="x",
        proposed_by=coordinator,
        staged_by=batch,
    )
    assert import_batches.imports_requeue() == 1 and sent == [batch.pk]
    assert not MentorAssignment.with_staged.exists()
    assert import_batches.import_queued(batch_id=batch.pk) == "done"
    assert MentorAssignment.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "failed",
            "This import was already confirmed and nothing was created (see why below). Upload the file again.",
        ),
        (
            "creating",
            BEING_CREATED,
        ),
        (
            "queued",
            BEING_CREATED,
        ),
    ],
)
def test_a_confirm_of_a_batch_past_its_preview_says_where_it_stands(client, coordinator, program, state, message):
    batch = CsvImport.objects.create(
        program=program, uploaded_by=coordinator, content="mentor\n", state=state, problem="Canvas was down."
    )
    login(client, coordinator)
    response = client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert response["Location"] == reverse("assignments:import_status", args=[batch.pk])
    assert msgs(response) == [message]
    assert CsvImport.objects.get(pk=batch.pk).state == state and not MentorAssignment.objects.exists()


@pytest.mark.django_db
def test_the_preview_says_when_the_file_has_more_lines_than_rows(client, coordinator, program):
    PersonFactory(sis_user_id="ML-M")
    PersonFactory(sis_user_id="ML-S")
    data = b'mentor,student,starts_on,ends_on,reason\nML-M,ML-S,2027-01-04,2027-03-01,"Reading\nand writing"\n\n'
    login(client, coordinator)
    body = upload(client, program, data).content.decode()
    assert "The file has 4 lines; 1 row was read after the header" in body
    assert "the cells of line 2 span several lines" in body

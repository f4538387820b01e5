"""SIS results are read per row: Canvas lists at most 24 warnings and then "and N more" (canvas-lms
app/models/sis_batch.rb#populate_old_warnings_and_errors; docs/canvas-rules.md, section 3), so the rest come from the
errors file, or from Canvas row by row when that file is missing. No row is ever assumed linked."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from canvas_client import SisImport
from canvas_client.sis import UserObserverRow, match_warnings, parse_processing_warnings
from fake_canvas import FakeCanvas
from mentorship.sync import services
from mentorship.sync.models import ObserverLink, SisBatch
from mentorship.sync.services import sis as sis_service
from tests.sync.conftest import School, approved, end, sync_all

pytestmark = pytest.mark.django_db

MORE = ("and 6 more warnings that were not included", "Download the error file to see all warnings.")


def batch_of(program: Any, school: School, *, good: int, bad: int) -> tuple[list[ObserverLink], list[ObserverLink]]:
    """`good` links Canvas accepts and `bad` ones whose student's SIS id Canvas does not know."""
    mentor = school.person("Morgan Mentor", "AIDE-W")
    goods: list[ObserverLink] = []
    bads: list[ObserverLink] = []
    for i in range(good + bad):
        student = school.person(f"Student {i}", f"S-W{i:02d}", student=True)
        if i >= good:
            student.sis_user_id = f"S-GONE{i:02d}"
            student.save()
        link = approved(program, mentor, student).links.get()
        (goods if i < good else bads).append(link)
    return goods, bads


def run_batch() -> SisBatch:
    batch = services.sis_push()
    assert batch is not None and batch.canvas_import_id
    deadline = timezone.now() + datetime.timedelta(seconds=30)
    while not services.sis_poll(batch_id=batch.pk):
        assert timezone.now() < deadline, "the SIS batch never finished"
    batch.refresh_from_db()
    return batch


def assert_exactly_failed(fake: FakeCanvas, goods: list[ObserverLink], bads: list[ObserverLink]) -> None:
    for link in goods:
        link.refresh_from_db()
        assert link.state == "linked", link.last_error
    for link in bads:
        link.refresh_from_db()
        assert link.state == "failed"
    assert {(link.observer_canvas_id, link.student_canvas_id) for link in goods} == fake.observer_links()
    assert not ObserverLink.objects.filter(last_error__contains="more warnings that were not included").exists()


def test_thirty_warnings_leave_exactly_those_thirty_rows_failed(fake, school, portal, program, settings):
    settings.SIS_BULK_THRESHOLD = 2
    goods, bads = batch_of(program, school, good=20, bad=30)
    batch = run_batch()
    assert_exactly_failed(fake, goods, bads)
    for link in bads:
        assert link.assignment.student.sis_user_id in link.last_error
    # The 24 listed and the "and 6 more" entry are kept on the batch as Canvas sent them.
    assert len(batch.errors) == 25 and tuple(batch.errors[-1]) == MORE
    calls = [
        entry["path"] for entry in fake.request_log if "/sis_imports" in entry["path"] or "/files/" in entry["path"]
    ]
    assert sum("/files/" in path for path in calls) == 1, "every message came from the one errors file"


def test_without_the_errors_file_the_rows_not_listed_are_checked_in_canvas(
    fake, school, portal, program, settings, monkeypatch
):
    settings.SIS_BULK_THRESHOLD = 2
    monkeypatch.setattr(sis_service, "SIS_ERRORS_FILE_WAIT", 0.0)
    write_messages = fake._sis_messages

    def without_file(rec: dict[str, Any]) -> None:
        write_messages(rec)
        rec["errors_attachment"] = None  # the job that writes it has not run (or failed)

    monkeypatch.setattr(fake, "_sis_messages", without_file)
    goods, bads = batch_of(program, school, good=20, bad=30)
    run_batch()
    assert_exactly_failed(fake, goods, bads)
    listed = [link for link in bads if "S-GONE" in link.last_error]
    checked = [link for link in bads if "does not show this row done" in link.last_error]
    assert (len(listed), len(checked)) == (24, 6)
    observee_checks = [e for e in fake.request_log if e["method"] == "GET" and "/observees/" in e["path"]]
    assert len(observee_checks) == 26, "only the rows the 24 listed warnings do not name are checked"


def test_the_and_n_more_entry_is_never_taken_as_a_row():
    """Its first element is not a file name and its message names no one (sis_batch.rb)."""
    pairs = [("user_observers.csv", f"A student referenced a non-existent user G{i}") for i in range(24)] + [MORE]
    parsed = parse_processing_warnings(pairs)
    assert len(parsed) == 24 and all(w.file == "user_observers.csv" for w in parsed)
    rows = [UserObserverRow("O", "G0"), UserObserverRow("and 6 more warnings that were not included", "x")]
    assert match_warnings(rows, parsed) == {rows[0]: ["A student referenced a non-existent user G0"]}
    capped = SisImport(
        id=1, workflow_state="imported_with_messages", processing_warnings=tuple(pairs), warning_count=30
    )
    assert capped.messages_complete is False
    whole = SisImport(
        id=2, workflow_state="imported_with_messages", processing_warnings=tuple(pairs[:3]), warning_count=3
    )
    assert whole.messages_complete is True


def test_a_removal_whose_pair_another_assignment_needs_never_goes_through_the_import(
    fake, school, portal, program, other_program, settings, monkeypatch
):
    """A "deleted" user_observers row removes the link and every enrollment of the pair (docs/canvas-rules.md,
    section 2), so the row of a pair still wanted elsewhere is left to its task, which keeps the link."""
    settings.SIS_BULK_THRESHOLD = 2
    mentor = school.person("Morgan Mentor", "AIDE-D")
    students = [school.person(f"Student {i}", f"S-D{i}", student=True) for i in range(4)]
    ending = [approved(program, mentor, s) for s in students]
    keeper = approved(other_program, mentor, students[0])
    for a in [*ending, keeper]:
        sync_all(a)
    assert len(fake.observer_links()) == 4
    for a in ending:
        end(a)
    published: list[int] = []
    monkeypatch.setattr(sis_service.publishing, "_publish", lambda pk, generation, countdown=None: published.append(pk))
    batch = run_batch()
    shared = ending[0].links.get()
    assert batch.rows == 3 and published == [shared.pk] and shared.sis_batch is None
    assert services.link_sync(link_id=shared.pk, generation=shared.generation) == "unlinked"
    assert fake.observer_links() == {(mentor.canvas_user_id, students[0].canvas_user_id)}

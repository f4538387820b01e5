"""Auditor pages: reach, filters, keyset pagination, CSV export, evidence reports, verification button."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent, AuditVerification
from mentorship.audit.sequencer import sequence_pending
from mentorship.audit.services import audit_record
from mentorship.people.models import Person
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory, record_link_and_view

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(program, other_program, coordinator, student_person, assignment):
    mine = [
        audit_record(action=Action.ASSIGNMENT_PROPOSED, actor=coordinator, program=program, student=student_person),
        audit_record(
            action=Action.STUDENT_DATA_VIEWED,
            system_actor="worker",
            program=program,
            student=student_person,
            details={"page": '=HYPERLINK("http://evil")', "course": "-2+3"},
        ),
    ]
    foreign = audit_record(action=Action.ASSIGNMENT_APPROVED, system_actor="worker", program=other_program)
    unscoped = audit_record(action=Action.SIGN_IN, actor=coordinator)
    sequence_pending()
    for event in [*mine, foreign, unscoped]:
        event.refresh_from_db()
    return {"mine": mine, "foreign": foreign, "unscoped": unscoped}


def _seqs(response) -> list[int]:
    return [e.seq for e in response.context["page"].events]


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("audit:log"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("who", ["coordinator", "mentor", "other_coordinator"])
def test_non_auditors_get_404_and_the_refusal_is_recorded(client, who, request):
    user = request.getfixturevalue(who)
    response = login(client, user).get(reverse("audit:log"))
    assert response.status_code == 404
    denied = AuditEvent.objects.get(action=Action.ACCESS_DENIED)
    assert denied.actor == user
    assert denied.outcome == "refused"


def test_auditor_sees_only_their_programs_events(client, auditor, events):
    response = login(client, auditor).get(reverse("audit:log"))
    assert response.status_code == 200
    assert _seqs(response) == [e.seq for e in reversed(events["mine"])]


def test_admin_sees_every_event(client, admin_user, events):
    response = login(client, admin_user).get(reverse("audit:log"))
    assert set(_seqs(response)) >= {events["foreign"].seq, events["unscoped"].seq, events["mine"][0].seq}


def test_filters_narrow_the_log(client, auditor, events, student_person, program):
    login(client, auditor)
    by_action = client.get(reverse("audit:log"), {"action": Action.STUDENT_DATA_VIEWED})
    assert _seqs(by_action) == [events["mine"][1].seq]
    by_actor = client.get(reverse("audit:log"), {"actor": "coordinator"})
    assert _seqs(by_actor) == [events["mine"][0].seq]
    by_system = client.get(reverse("audit:log"), {"actor": "system:worker"})
    assert _seqs(by_system) == [events["mine"][1].seq]
    by_student = client.get(reverse("audit:log"), {"student": student_person.sis_user_id})
    assert len(_seqs(by_student)) == 2
    today = timezone.localdate()
    in_range = client.get(reverse("audit:log"), {"date_from": today.isoformat(), "date_to": today.isoformat()})
    assert len(_seqs(in_range)) == 2
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    out_of_range = client.get(reverse("audit:log"), {"date_to": yesterday})
    assert _seqs(out_of_range) == []
    assert len(_seqs(client.get(reverse("audit:log"), {"program": program.pk}))) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"before": "abc"}, "whole number"),
        ({"date_from": "yesterday"}, "YYYY-MM-DD"),
        ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "on or before"),
        ({"action": "drop.table"}, "Choose an action"),
        ({"program": "not-a-number"}, "Choose one of your programs"),
        ({"actor": "x" * 500}, "at most 150"),
    ],
)
def test_bad_filters_answer_400_with_a_sentence(client, auditor, events, params, message):
    response = login(client, auditor).get(reverse("audit:log"), params)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_foreign_program_filter_is_refused(client, auditor, events, other_program):
    response = login(client, auditor).get(reverse("audit:log"), {"program": other_program.pk})
    assert response.status_code == 400


def test_keyset_pagination_walks_older_and_newer(client, auditor, program):
    for n in range(120):
        audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor="worker", program=program, details={"n": n})
    sequence_pending()
    login(client, auditor)
    first = client.get(reverse("audit:log"))
    page1 = first.context["page"]
    assert len(page1.events) == 50
    assert page1.newer_than is None
    second = client.get(reverse("audit:log"), {"before": page1.older_than})
    page2 = second.context["page"]
    assert _seqs(second) == list(range(page1.events[-1].seq - 1, page1.events[-1].seq - 51, -1))
    third = client.get(reverse("audit:log"), {"before": page2.older_than})
    assert len(third.context["page"].events) == 20
    assert third.context["page"].older_than is None
    back = client.get(reverse("audit:log"), {"after": third.context["page"].newer_than})
    assert _seqs(back) == _seqs(second)
    assert f"before={page1.older_than}" in first.content.decode()


def test_export_streams_csv_neutralises_formulas_and_is_audited(client, auditor, events, program):
    response = login(client, auditor).get(reverse("audit:export"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    exported = AuditEvent.objects.get(action=Action.AUDIT_EXPORTED)
    # The export is recorded before the file is produced, so the file lists its own export first, not chained yet.
    assert exported.seq is None
    assert [r["seq"] for r in rows] == ["pending"] + [str(e.seq) for e in reversed(events["mine"])]
    view_row = rows[1]
    assert view_row["actor"] == "system:worker"
    assert view_row["program"] == program.name
    # Whole cells that start with a formula character get a leading apostrophe.
    assert "'=" not in view_row["details"]  # the JSON cell starts with "{", so it is safe as it is
    assert exported.actor == auditor
    assert exported.details["format"] == "csv"


def test_formula_cells_are_neutralised():
    from mentorship.portal.auditor.export import csv_rows, neutralise

    assert neutralise("=1+1") == "'=1+1"
    assert neutralise("+1") == "'+1"
    assert neutralise("-1") == "'-1"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("\tcmd") == "'\tcmd"
    assert neutralise("\rcmd") == "'\rcmd"
    assert neutralise("plain") == "plain"
    assert neutralise(None) == ""
    line = "".join(csv_rows([["=cmd|' /C calc'!A0", "ok"]]))
    assert line.startswith("'=cmd")


def test_export_filtered_by_actor_neutralises_the_actor_cell(client, auditor, program):
    audit_record(action=Action.SIGN_IN_FAILED, system_actor="=evil()", program=program)
    body = b"".join(login(client, auditor).get(reverse("audit:export")).streaming_content).decode()
    assert "'system:=evil()" not in body
    assert "system:=evil()" in body


def test_export_refuses_bad_filters(client, auditor):
    response = login(client, auditor).get(reverse("audit:export"), {"date_from": "nope"})
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED).exists()


@pytest.fixture
def evidence_setup(approved_assignment):
    record_link_and_view(approved_assignment)
    return approved_assignment


def test_evidence_page_names_mentor_approver_and_views(client, auditor, evidence_setup, student_person):
    response = login(client, auditor).get(reverse("audit:evidence", args=[student_person.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Morgan Mentor" in text
    assert "Sam Second" in text  # the approver, by name (the account on hover)
    assert "still linked" in text
    evidence = response.context["evidence"]
    assert len(evidence.views) == 1
    assert evidence.periods[0].canvas_from is not None
    recorded = AuditEvent.objects.get(action=Action.EVIDENCE_REPORT)
    assert recorded.student == student_person
    assert recorded.details["format"] == "html"


def test_evidence_csv_and_pdf(client, auditor, evidence_setup, student_person):
    login(client, auditor)
    csv_response = client.get(reverse("audit:evidence_csv", args=[student_person.pk]))
    body = b"".join(csv_response.streaming_content).decode()
    sections = [row["section"] for row in csv.DictReader(io.StringIO(body))]
    assert "approved access" in sections
    assert "canvas access" in sections
    assert "view of student data" in sections
    pdf = client.get(reverse("audit:evidence_pdf", args=[student_person.pk]))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert sorted(
        AuditEvent.objects.filter(action=Action.EVIDENCE_REPORT).values_list("details__format", flat=True)
    ) == [
        "csv",
        "pdf",
    ]


def test_evidence_for_a_student_outside_the_auditors_programs_is_404(client, auditor, other_program):
    outsider: Person = PersonFactory()  # type: ignore[assignment]  # factory_boy returns the model instance
    AssignmentFactory(program=other_program, student=outsider)
    login(client, auditor)
    for name in ("audit:evidence", "audit:evidence_csv", "audit:evidence_pdf"):
        assert client.get(reverse(name, args=[outsider.pk])).status_code == 404
    assert client.get(reverse("audit:evidence", args=[999999])).status_code == 404
    assert not AuditEvent.objects.filter(action=Action.EVIDENCE_REPORT).exists()


def test_student_search_finds_only_students_in_reach(client, auditor, evidence_setup, other_program):
    AssignmentFactory(program=other_program, student=PersonFactory(name="Sasha Elsewhere"))
    response = login(client, auditor).get(reverse("audit:students"), {"q": "Sasha"})
    assert [s.name for s in response.context["students"]] == ["Sasha Student"]


def test_verify_button_runs_and_shows_the_result(client, auditor, events):
    login(client, auditor)
    assert client.get(reverse("audit:verify")).status_code == 405
    response = client.post(reverse("audit:verify"), follow=True)
    assert response.status_code == 200
    verification = AuditVerification.objects.get()
    assert verification.state == AuditVerification.State.OK
    assert "Chain intact" in response.content.decode()
    assert "Verified: All" in response.content.decode()


def test_pending_events_head_the_first_page(client, auditor, program):
    """Events the sequencer has not chained yet are listed first, as "pending", and the next page goes on from the
    newest chained event."""
    for n in range(55):
        audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor="worker", program=program, details={"n": n})
    sequence_pending()
    for n in range(3):
        audit_record(action=Action.PROGRAM_UPDATED, system_actor="worker", program=program, details={"late": n})
    first = login(client, auditor).get(reverse("audit:log"))
    page = first.context["page"]
    assert [e.seq for e in page.events[:3]] == [None, None, None]
    assert page.events[3].seq == 55
    assert first.content.decode().count(">pending</td>") == 3
    second = client.get(reverse("audit:log"), {"before": page.older_than})
    assert _seqs(second) == list(range(8, 3, -1)) + list(range(3, 0, -1))

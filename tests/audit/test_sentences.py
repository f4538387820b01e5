"""The audit log in plain language: sentences with names, labelled details, search by anyone's name, the gaps
explained, and the CSV keeping the codes with the sentence beside them."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils.html import strip_tags

from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record
from mentorship.people.models import CanvasCourse
from mentorship.portal.auditor.sentences import describe
from mentorship.sync.models import ObserverLink
from tests.conftest import login
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval(program, second_coordinator, approved_assignment):
    """Sam Second approved Morgan Mentor as mentor of Sasha Student, scoped to Biology."""
    CanvasCourse.objects.create(canvas_course_id=509, name="Biology (Period 2)")
    return audit_record(
        action=Action.ASSIGNMENT_APPROVED,
        actor=second_coordinator,
        program=program,
        student=approved_assignment.student,
        obj=approved_assignment,
        details={"note": "Agreed at the team meeting", "courses": [509], "method": "observee"},
    )


def test_an_approval_reads_as_a_sentence_with_names(approval):
    [view] = describe([approval])
    assert view.sentence == "Sam Second approved Morgan Mentor as mentor of Sasha Student in Learning Support 2026-27"
    assert view.actor.text == "Sam Second"
    assert view.actor.title == "account coordinator2"
    assert view.student is not None and "S-0001" in view.student.title
    assert view.object is not None and view.object.text.endswith("Morgan Mentor → Sasha Student")
    assert ("Note", "Agreed at the team meeting") in view.fields
    assert ("Courses", "Biology (Period 2)") in view.fields
    assert ("Method", "All the student's courses (observer link)") in view.fields


def test_a_canvas_link_names_the_course_and_the_system_actor(program, approved_assignment):
    link = ObserverLink.objects.create(
        assignment=approved_assignment,
        kind=ObserverLink.Kind.COURSE,
        canvas_course_id=509,
        observer_canvas_id=approved_assignment.mentor.canvas_user_id,
        student_canvas_id=approved_assignment.student.canvas_user_id,
    )
    CanvasCourse.objects.create(canvas_course_id=509, name="Biology (Period 2)")
    event = audit_record(
        action=Action.CANVAS_LINKED,
        system_actor="worker",
        program=program,
        student=approved_assignment.student,
        obj=link,
        details={"assignment": approved_assignment.pk, "kind": "course", "generation": 1},
    )
    [view] = describe([event])
    assert view.sentence == "Canvas gave Morgan Mentor access to Sasha Student's work (Biology (Period 2))"
    assert view.actor.text == "The portal's worker"
    assert ("Link", "Course enrollment") in view.fields
    assert "{" not in str(view.fields)


def test_a_refused_event_says_so_and_an_unknown_action_still_reads(coordinator, program):
    refused = audit_record(action=Action.ACCESS_DENIED, actor=coordinator, outcome="refused", details={"path": "/x"})
    [view] = describe([refused])
    assert view.sentence == "Casey Coordinator was refused a page (refused)"
    assert ("Page", "/x") in view.fields


def test_the_page_shows_sentences_labels_and_the_gap_explained(client, auditor, approval):
    response = login(client, auditor).get(reverse("audit:log"))
    body = response.content.decode()
    assert "Sam Second approved Morgan Mentor as mentor of Sasha Student" in strip_tags(body)
    assert 'title="account coordinator2">Sam Second</span>' in body
    assert 'title="assignment.approved">Assignment approved</abbr>' in body
    assert "the chain check below covers every one of them" in body
    assert "{&#x27;" not in body and "{'note'" not in body


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Casey", {"propose"}), ("Sam", {"approve"}), ("Morgan", {"propose", "approve", "view"}), ("Sasha", None)],
)
def test_search_by_any_persons_name(
    client, auditor, coordinator, second_coordinator, program, approved_assignment, text, expected
):
    where = {"program": program, "student": approved_assignment.student, "obj": approved_assignment}
    made = {
        "propose": audit_record(action=Action.ASSIGNMENT_PROPOSED, actor=coordinator, **where),
        "approve": audit_record(action=Action.ASSIGNMENT_APPROVED, actor=second_coordinator, **where),
        "view": audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor="mentor", **where),
    }
    other = PersonFactory(name="Olive Outsider")
    audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor="mentor", program=program, student=other)
    response = login(client, auditor).get(reverse("audit:log"), {"person": text})
    seqs = {e.seq for e in response.context["page"].events}
    want = set(made) if expected is None else expected
    assert seqs == {made[k].seq for k in want}


def test_who_acted_matches_a_first_name(client, auditor, coordinator, program, student_person):
    event = audit_record(action=Action.ASSIGNMENT_PROPOSED, actor=coordinator, program=program, student=student_person)
    response = login(client, auditor).get(reverse("audit:log"), {"actor": "casey"})
    assert [e.seq for e in response.context["page"].events] == [event.seq]


def test_the_csv_keeps_codes_and_adds_the_sentence(client, auditor, approval):
    response = login(client, auditor).get(reverse("audit:export"), {"action": Action.ASSIGNMENT_APPROVED})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [row] = [r for r in rows if r["action"] == "assignment.approved"]
    assert row["actor"] == "coordinator2"
    assert row["sentence"].startswith("Sam Second approved Morgan Mentor as mentor of Sasha Student")
    assert '"courses": [509]' in row["details"]


def test_the_evidence_report_lists_the_courses_in_scope_by_name(client, auditor, program, approved_assignment):
    from mentorship.assignments.models import AssignmentCourse

    approved_assignment.scope = "courses"
    approved_assignment.save()
    AssignmentCourse.objects.create(assignment=approved_assignment, canvas_course_id=509)
    AssignmentCourse.objects.create(assignment=approved_assignment, canvas_course_id=510, name="Chemistry (old name)")
    CanvasCourse.objects.create(canvas_course_id=509, name="Biology (Period 2)")
    student = approved_assignment.student
    response = login(client, auditor).get(reverse("audit:evidence", args=[student.pk]))
    [period] = response.context["evidence"].periods
    assert period.scope_text == "Biology (Period 2); Chemistry (old name)"
    assert "Biology (Period 2); Chemistry (old name)" in response.content.decode()
    body = b"".join(login(client, auditor).get(reverse("audit:evidence_csv", args=[student.pk])).streaming_content)
    assert "Biology (Period 2); Chemistry (old name)" in body.decode()


def test_all_courses_scope_names_the_courses_the_mentor_viewed(client, auditor, program, approved_assignment):
    CanvasCourse.objects.create(canvas_course_id=777, name="History (Period 1)")
    audit_record(
        action=Action.STUDENT_DATA_VIEWED,
        system_actor="mentor",
        program=program,
        student=approved_assignment.student,
        obj=approved_assignment,
        details={"assignment": approved_assignment.pk, "courses": [777]},
    )
    response = login(client, auditor).get(reverse("audit:evidence", args=[approved_assignment.student.pk]))
    [period] = response.context["evidence"].periods
    assert period.scope_text == "All the student's courses: History (Period 1)"

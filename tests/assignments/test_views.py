"""Coordinator pages: who may see what (404 outside reach), POST-only changes, messages, filters, query counts."""

from __future__ import annotations

import datetime
import io

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mentorship.accounts.models import ProgramRole
from mentorship.assignments.models import CsvImport, MentorAssignment, Program
from mentorship.audit.models import AuditEvent
from mentorship.sync.models import ObserverLink
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory, UserFactory

Status = MentorAssignment.Status


def msgs(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- access ------------------------------------------------------------------------------------------------------

PAGES = ["core:dashboard", "assignments:list", "assignments:create", "assignments:import"]


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_is_sent_to_sign_in(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/accounts/" in response["Location"]


@pytest.mark.parametrize("name", PAGES)
def test_people_without_a_coordinator_role_get_404(client, auditor, mentor, name):
    for user in (auditor, mentor):
        login(client, user)
        assert client.get(reverse(name)).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_coordinator_sees_the_pages(client, coordinator, name):
    login(client, coordinator)
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("action", ["detail", "approve", "reject", "cancel", "end"])
def test_other_programs_coordinator_gets_404(client, other_coordinator, assignment, action):
    login(client, other_coordinator)
    url = reverse(f"assignments:{action}", args=[assignment.pk])
    response = client.get(url) if action == "detail" else client.post(url, {"reason": "x"})
    assert response.status_code == 404
    assignment.refresh_from_db()
    assert assignment.status == Status.PROPOSED


@pytest.mark.parametrize("action", ["approve", "reject", "cancel", "end", "bulk"])
def test_changes_are_post_only(client, coordinator, assignment, action):
    login(client, coordinator)
    url = reverse("assignments:bulk") if action == "bulk" else reverse(f"assignments:{action}", args=[assignment.pk])
    assert client.get(url).status_code == 405


def test_other_coordinator_cannot_see_assignments_in_the_list(client, other_coordinator, assignment):
    login(client, other_coordinator)
    response = client.get(reverse("assignments:list"))
    assert assignment.mentor.name not in response.content.decode()


# --- list --------------------------------------------------------------------------------------------------------


@pytest.fixture
def mixed(program, other_program, coordinator):
    today = timezone.localdate()
    a = AssignmentFactory(program=program, mentor=PersonFactory(name="Alice Aide"), proposed_by=coordinator)
    b = AssignmentFactory(
        program=program,
        mentor=PersonFactory(name="Bob Buddy"),
        status=Status.APPROVED,
        link_state=MentorAssignment.LinkState.FAILED,
        ends_on=today + datetime.timedelta(days=5),
    )
    c = AssignmentFactory(
        program=program,
        mentor=PersonFactory(name="Carol Coach"),
        status=Status.REJECTED,
        starts_on=today + datetime.timedelta(days=40),
        ends_on=today + datetime.timedelta(days=60),
    )
    hidden = AssignmentFactory(program=other_program, mentor=PersonFactory(name="Zed Hidden"))
    return a, b, c, hidden


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"Alice Aide", "Bob Buddy", "Carol Coach"}),
        ({"status": "approved"}, {"Bob Buddy"}),
        ({"link_state": "failed"}, {"Bob Buddy"}),
        ({"attention": "on"}, {"Alice Aide", "Bob Buddy"}),
        ({"q": "carol"}, {"Carol Coach"}),
        ({"starts_from": (timezone.localdate() + datetime.timedelta(days=30)).isoformat()}, {"Carol Coach"}),
        ({"ends_to": (timezone.localdate() + datetime.timedelta(days=10)).isoformat()}, {"Bob Buddy"}),
    ],
)
def test_list_filters(client, coordinator, mixed, query, expected):
    login(client, coordinator)
    response = client.get(reverse("assignments:list"), query)
    shown = {a.mentor.name for a in response.context["page"].items}
    assert shown == expected
    assert "Zed Hidden" not in response.content.decode()


def test_list_filters_by_mentor_and_program(client, coordinator, mixed, program):
    a = mixed[0]
    login(client, coordinator)
    response = client.get(reverse("assignments:list"), {"mentor": a.mentor_id, "program": program.pk})
    assert [x.pk for x in response.context["page"].items] == [a.pk]


def test_list_sorts_by_mentor_name(client, coordinator, mixed):
    login(client, coordinator)
    response = client.get(reverse("assignments:list"), {"sort": "mentor"})
    assert [a.mentor.name for a in response.context["page"].items] == ["Alice Aide", "Bob Buddy", "Carol Coach"]


def test_list_empty_states(client, coordinator):
    login(client, coordinator)
    assert "No assignments yet" in client.get(reverse("assignments:list")).content.decode()
    assert "No assignment matches" in client.get(reverse("assignments:list"), {"q": "zzz"}).content.decode()


def test_list_htmx_gets_the_results_fragment(client, coordinator, mixed):
    login(client, coordinator)
    response = client.get(reverse("assignments:list"), {"status": "approved"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="results">') and "<html" not in body


def test_list_paginates(client, coordinator, program):
    AssignmentFactory.create_batch(55, program=program)
    login(client, coordinator)
    first = client.get(reverse("assignments:list"))
    assert len(first.context["page"].items) == 50 and first.context["page"].has_next
    second = client.get(reverse("assignments:list"), {"page": 2})
    assert len(second.context["page"].items) == 5 and not second.context["page"].has_next


def test_list_query_count_does_not_grow_with_rows(client, coordinator, program):
    login(client, coordinator)
    AssignmentFactory.create_batch(3, program=program)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("assignments:list"))
    AssignmentFactory.create_batch(40, program=program)
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("assignments:list"))
    assert len(response.context["page"].items) == 43
    assert len(many.captured_queries) == len(few.captured_queries)


# --- create ------------------------------------------------------------------------------------------------------


def _propose(client, *, program, mentor, student, days: int = 0, **fields):
    """POST the proposal form: from today, for ``days`` more days; ``fields`` add to or replace the rest."""
    today = timezone.localdate()
    form = {
        "program": program.pk,
        "mentor": mentor.pk,
        "student": student.pk,
        "starts_on": today.isoformat(),
        "ends_on": (today + datetime.timedelta(days=days)).isoformat(),
        "reason": "x",
    }
    return client.post(reverse("assignments:create"), {**form, **fields})


def test_create_proposes(client, coordinator, program, mentor_person, student_person):
    login(client, coordinator)
    response = _propose(
        client, program=program, mentor=mentor_person, student=student_person, days=30, link_method="", reason="Aide"
    )
    a = MentorAssignment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("assignments:detail", args=[a.pk])
    assert "Assignment proposed. It waits for approval." in msgs(response)


def test_create_shows_rule_errors(client, coordinator, program, mentor_person):
    login(client, coordinator)
    response = _propose(client, program=program, mentor=mentor_person, student=mentor_person)
    assert response.status_code == 200
    assert "must be different people" in response.content.decode()
    assert not MentorAssignment.objects.exists()


def test_create_refuses_a_program_the_coordinator_does_not_run(
    client, coordinator, other_program, mentor_person, student_person
):
    login(client, coordinator)
    response = _propose(client, program=other_program, mentor=mentor_person, student=student_person)
    assert response.status_code == 200 and not MentorAssignment.objects.exists()


def test_person_picker_htmx_and_plain_fallback(client, coordinator, mentor_person):
    login(client, coordinator)
    fragment = client.get(reverse("assignments:person_options"), {"field": "mentor", "mentor_q": "Morg"})
    assert f'value="{mentor_person.pk}"' in fragment.content.decode()
    page = client.post(reverse("assignments:create"), {"search": "1", "mentor_q": "Morg", "reason": "kept"})
    body = page.content.decode()
    assert f'<option value="{mentor_person.pk}">' in body
    assert "kept" in body and not MentorAssignment.objects.exists()


def test_course_picker_lists_the_students_canvas_courses(client, coordinator, program, canvas):
    student = canvas.person("Sam Young", "S-2044", courses=(canvas.algebra, canvas.biology))
    login(client, coordinator)
    body = client.get(reverse("assignments:course_options"), {"student": student.pk}).content.decode()
    assert "Algebra I" in body and "Biology" in body
    mentor = canvas.person("Alex Aide", "AIDE-1")
    biology = [str(canvas.biology["id"])]
    response = _propose(
        client,
        program=program,
        mentor=mentor,
        student=student,
        link_method="courses",
        courses=biology,
        reason="Biology help",
    )
    assert response.status_code == 302
    a = MentorAssignment.objects.get()
    assert list(a.courses.values_list("name", flat=True)) == ["Biology"]


def test_course_picker_when_canvas_is_down(client, coordinator, student_person):
    login(client, coordinator)
    body = client.get(reverse("assignments:course_options"), {"student": student_person.pk}).content.decode()
    assert "Canvas could not be reached" in body


# --- detail and decisions ----------------------------------------------------------------------------------------


def test_detail_shows_links_and_timeline(client, coordinator, assignment):
    from mentorship.assignments import services

    services.assignment_approve(assignment=assignment, actor=coordinator, note="fine")
    ObserverLink.objects.filter(assignment=assignment).update(state="linked", linked_at=timezone.now())
    login(client, coordinator)
    body = client.get(reverse("assignments:detail", args=[assignment.pk])).content.decode()
    assert "Linked in Canvas at" in body
    assert "Assignment approved" in body and "fine" in body


def test_approve_view(client, second_coordinator, assignment):
    login(client, second_coordinator)
    response = client.post(reverse("assignments:approve", args=[assignment.pk]), {"note": "ok"})
    assert "Assignment approved. The Canvas link is on its way." in msgs(response)
    assignment.refresh_from_db()
    assert assignment.status == Status.APPROVED


def test_approve_view_asks_to_confirm_warnings(client, coordinator, program, canvas):
    mentor = canvas.person("Pat Peer", "S-1187", courses=(canvas.algebra,))
    student = canvas.person("Sam Young", "S-2044", courses=(canvas.algebra,))
    a = AssignmentFactory(program=program, mentor=mentor, student=student)
    login(client, coordinator)
    response = client.post(reverse("assignments:approve", args=[a.pk]), {"note": "ok"})
    assert response.status_code == 200 and "Confirm the approval" in response.content.decode()
    a.refresh_from_db()
    assert a.status == Status.PROPOSED
    response = client.post(
        reverse("assignments:approve", args=[a.pk]),
        {"note": "ok", "acknowledge": ["student_to_student", "mentor_student_in_scope"]},
    )
    assert response.status_code == 302
    a.refresh_from_db()
    assert a.status == Status.APPROVED


def test_second_approval_is_told_who_decided(client, coordinator, second_coordinator, assignment):
    login(client, second_coordinator)
    client.post(reverse("assignments:approve", args=[assignment.pk]))
    login(client, coordinator)
    response = client.post(reverse("assignments:reject", args=[assignment.pk]), {"reason": "late"})
    assert any("Sam Second decided it first" in m for m in msgs(response))
    assert AuditEvent.objects.filter(action="assignment.rejected").count() == 0


def test_reject_needs_a_reason(client, coordinator, assignment):
    login(client, coordinator)
    response = client.post(reverse("assignments:reject", args=[assignment.pk]), {"reason": ""})
    assert "Say why: the reason is required. Nothing was changed." in msgs(response)
    response = client.post(reverse("assignments:reject", args=[assignment.pk]), {"reason": "No longer needed"})
    assert "Assignment rejected." in msgs(response)
    assignment.refresh_from_db()
    assert assignment.status == Status.REJECTED


def test_cancel_and_end(client, coordinator, assignment, program):
    login(client, coordinator)
    client.post(reverse("assignments:cancel", args=[assignment.pk]))
    assignment.refresh_from_db()
    assert assignment.status == Status.CANCELLED
    approved = AssignmentFactory(program=program, status=Status.APPROVED)
    response = client.post(reverse("assignments:end", args=[approved.pk]), {"reason": ""})
    assert "Say why: the reason is required. Nothing was changed." in msgs(response)
    client.post(reverse("assignments:end", args=[approved.pk]), {"reason": "Left school"})
    approved.refresh_from_db()
    assert approved.status == Status.ENDED and approved.end_reason == "Left school"


def test_own_proposal_shows_second_approver_note(client, coordinator, assignment, program):
    program.requires_second_approver = True
    program.save()
    login(client, coordinator)
    body = client.get(reverse("assignments:detail", args=[assignment.pk])).content.decode()
    assert "needs a second coordinator" in body


# --- bulk --------------------------------------------------------------------------------------------------------


def test_bulk_approve_summarises_each_row(client, coordinator, program):
    a, b = AssignmentFactory(program=program), AssignmentFactory(program=program)
    c = AssignmentFactory(program=program, status=Status.REJECTED)
    login(client, coordinator)
    response = client.post(reverse("assignments:bulk"), {"decision": "approve", "ids": [a.pk, b.pk, c.pk]})
    messages = msgs(response)
    assert messages[0] == "2 of 3 selected assignments approved."
    assert sum("approved." in m for m in messages[1:]) == 2
    assert any("not changed" in m for m in messages)


def test_bulk_reject_requires_reason(client, coordinator, program):
    a = AssignmentFactory(program=program)
    login(client, coordinator)
    response = client.post(reverse("assignments:bulk"), {"decision": "reject", "ids": [a.pk]})
    assert any("reason is required" in m for m in msgs(response))
    a.refresh_from_db()
    assert a.status == Status.PROPOSED


def test_bulk_outside_the_program_is_404(client, coordinator, other_program):
    hidden = AssignmentFactory(program=other_program)
    login(client, coordinator)
    response = client.post(reverse("assignments:bulk"), {"decision": "approve", "ids": [hidden.pk]})
    assert response.status_code == 404
    hidden.refresh_from_db()
    assert hidden.status == Status.PROPOSED


# --- import ------------------------------------------------------------------------------------------------------


def upload(client, program, data: bytes, name: str = "in.csv"):
    f = io.BytesIO(data)
    f.name = name
    return client.post(reverse("assignments:import"), {"program": program.pk, "file": f})


def test_import_preview_then_confirm(client, coordinator, program):
    PersonFactory(sis_user_id="AIDE-1")
    PersonFactory(sis_user_id="S-1")
    login(client, coordinator)
    response = upload(client, program, b"mentor,student,starts_on,ends_on,reason\nAIDE-1,S-1,2027-01-04,2027-02-01,x\n")
    assert response.status_code == 200 and "Every row is fine" in response.content.decode()
    assert not MentorAssignment.objects.exists()
    batch = CsvImport.objects.get()
    response = client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert response.status_code == 302
    assert MentorAssignment.objects.count() == 1
    assert any("Imported 1 proposed assignment" in m for m in msgs(response))
    # A second submit (a double click, another tab) creates nothing and lands on the batch's page.
    again = client.post(reverse("assignments:import_confirm", args=[batch.pk]))
    assert again["Location"] == reverse("assignments:import_status", args=[batch.pk])
    assert any("already confirmed: its 1 proposal exists. Nothing was added." in m for m in msgs(again))
    assert MentorAssignment.objects.count() == 1


def test_import_bad_file_message(client, coordinator, program):
    login(client, coordinator)
    response = upload(client, program, b"mentor;student;starts_on;ends_on;reason\n")
    assert "separated by semicolons" in response.content.decode()
    assert not CsvImport.objects.exists()


def test_import_rows_with_errors_cannot_be_confirmed(client, coordinator, program):
    login(client, coordinator)
    response = upload(client, program, b"mentor,student,starts_on,ends_on,reason\nA,B,2027-02-30,2027-01-01,x\n")
    body = response.content.decode()
    assert "Nothing was created" in body and "is not a date" in body
    assert "import_confirm" not in body and "Create 1 proposed" not in body


def test_import_confirm_by_someone_else_is_404(client, coordinator, second_coordinator, program):
    batch = CsvImport.objects.create(program=program, uploaded_by=coordinator, content="mentor\n")
    login(client, second_coordinator)
    assert client.post(reverse("assignments:import_confirm", args=[batch.pk])).status_code == 404
    batch.refresh_from_db()
    assert batch.state == "previewed"


def test_import_too_big_file(client, coordinator, program, settings):
    settings.CSV_IMPORT_MAX_BYTES = 100
    login(client, coordinator)
    response = upload(client, program, b"x" * 500)
    assert "largest file accepted" in response.content.decode()


# --- dashboard ---------------------------------------------------------------------------------------------------


def test_dashboard_counts_and_charts(client, coordinator, mixed):
    login(client, coordinator)
    response = client.get(reverse("core:dashboard"))
    body = response.content.decode()
    assert "<svg" in body and 'role="img"' in body
    by_status = {value: n for _, n, value in response.context["by_status"]}
    assert by_status == {"proposed": 1, "approved": 1, "rejected": 1, "cancelled": 0, "ended": 0}
    assert [a.mentor.name for a in response.context["ending"]] == ["Bob Buddy"]


# --- programs and roles ------------------------------------------------------------------------------------------


def test_admin_creates_and_edits_a_program_and_manages_roles(client, admin_user):
    login(client, admin_user)
    response = client.post(
        reverse("assignments:program_create"),
        {
            "name": "Tutors",
            "slug": "tutors",
            "default_link_method": "observee",
            "max_assignment_days": 100,
            "mentor_capacity": 3,
            "is_active": "on",
        },
    )
    program = Program.objects.get(slug="tutors")
    assert response["Location"] == reverse("assignments:program", args=[program.pk])
    client.post(
        reverse("assignments:program", args=[program.pk]),
        {
            "name": "Tutors",
            "slug": "tutors",
            "default_link_method": "courses",
            "max_assignment_days": 100,
            "mentor_capacity": 5,
            "is_active": "on",
        },
    )
    program.refresh_from_db()
    assert program.mentor_capacity == 5 and program.default_link_method == "courses"
    user = UserFactory(username="newbie")
    client.post(reverse("assignments:role_grant", args=[program.pk]), {"user": user.pk, "role": "coordinator"})
    grant = ProgramRole.objects.get(user=user)
    client.post(reverse("assignments:role_revoke", args=[grant.pk]))
    assert not ProgramRole.objects.filter(user=user).exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"program.created", "program.updated", "role.granted", "role.revoked"} <= actions


def test_coordinator_reads_program_but_cannot_change_it(client, coordinator, program, other_program):
    login(client, coordinator)
    assert client.get(reverse("assignments:programs")).status_code == 200
    assert client.get(reverse("assignments:program", args=[program.pk])).status_code == 200
    assert client.get(reverse("assignments:program", args=[other_program.pk])).status_code == 404
    response = client.post(reverse("assignments:program", args=[program.pk]), {"name": "Hacked"})
    assert response.status_code == 404
    assert client.post(reverse("assignments:role_grant", args=[program.pk]), {}).status_code == 404
    assert client.get(reverse("assignments:program_create")).status_code == 404


def test_programs_page_is_404_for_a_mentor(client, mentor):
    login(client, mentor)
    assert client.get(reverse("assignments:programs")).status_code == 404

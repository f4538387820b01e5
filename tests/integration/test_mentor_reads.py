"""A course-scoped mentor on the real stack (a real worker makes the course enrollments in the fake Canvas over
HTTP; the fake refuses what Canvas refuses): the student page shows the in-scope courses and work through the
mentor's own token, and after the mentor revokes it in Canvas, a sign-in prompt and no student data."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fake_canvas.seed import DEMO_PASSWORD, demo_people
from mentorship.assignments.models import AssignmentCourse, LinkMethod, MentorAssignment
from mentorship.assignments.services import approval_warnings, assignment_approve
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.people.models import Person
from tests.factories import AssignmentFactory
from tests.helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MENTOR_ID = 201  # AIDE-001 in the fake's demo school
STUDENT_ID = 11101  # Benjamin Edwards: Algebra I (502), Biology (509), English 9 (518), ...
IN_SCOPE = {502: "Algebra I (Period 3)", 509: "Biology (Period 2)"}
OUT_OF_SCOPE = 518


def _person(data: dict[str, Any]) -> Person:
    return Person.objects.create(
        canvas_user_id=data["id"],
        name=data["name"],
        sortable_name=data["sortable_name"],
        sis_user_id=data["sis_user_id"],
        login_id=data["login_id"],
        email=data["email"],
    )


def _sign_in_with_canvas(client: Any, login_id: str) -> None:
    start = client.get("/accounts/canvas/start/")
    assert start.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlsplit(start["Location"]).query).items()}
    authorized = requests.post(
        start["Location"].split("?", 1)[0],
        data={**params, "login": login_id, "password": DEMO_PASSWORD, "authorize": "1"},
        allow_redirects=False,
        timeout=30,
    )
    assert authorized.status_code == 302, authorized.text[:300]
    back = urlsplit(authorized.headers["Location"])
    callback = client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    assert callback.status_code == 302, callback.content.decode()[:500]


def test_course_scoped_mentor_sees_in_scope_work_then_a_prompt_once_revoked(client, stack, program, coordinator):
    people = {p["id"]: p for p in demo_people()}
    mentor, student = _person(people[MENTOR_ID]), _person(people[STUDENT_ID])
    assignment = AssignmentFactory(
        program=program,
        mentor=mentor,
        student=student,
        scope=MentorAssignment.Scope.COURSES,
        link_method=LinkMethod.COURSES,
        proposed_by=coordinator,
    )
    for course_id, name in IN_SCOPE.items():
        AssignmentCourse.objects.create(assignment=assignment, canvas_course_id=course_id, name=name)
    codes = [w.code for w in approval_warnings(assignment=assignment) if w.needs_confirmation]
    assignment_approve(assignment=assignment, actor=coordinator, note="Integration", acknowledged=codes)

    def enrolled() -> bool:
        rows = stack.canvas.control("GET", f"enrollments?type=ObserverEnrollment&state=active&user_id={MENTOR_ID}")
        return {e["course_id"] for e in rows["enrollments"]} == set(IN_SCOPE)

    wait_until(enrolled, timeout=60, message="the worker to enroll the mentor as observer in the two courses")
    assert (MENTOR_ID, STUDENT_ID) not in stack.canvas.observer_links()  # course-only: no user-level link

    _sign_in_with_canvas(client, people[MENTOR_ID]["login_id"])
    stack.canvas.control("POST", "requests/clear")
    html = client.get(f"/my/students/{assignment.pk}/").content.decode()

    for course_id, name in IN_SCOPE.items():
        assert f'id="course-{course_id}"' in html and name in html
    assert f'id="course-{OUT_OF_SCOPE}"' not in html and "English 9" not in html
    assert "Current grade" in html and "<h3>Missing</h3>" in html
    # The worker may be calling Canvas for other work meanwhile: the page's calls are the ones made as the mentor.
    calls = stack.canvas.control("GET", "requests")["requests"]
    as_mentor = [c for c in calls if c.get("as_user") == MENTOR_ID]
    assert as_mentor and all(c["status"] == 200 for c in as_mentor), as_mentor
    assert not any(f"/users/{STUDENT_ID}" in c["path"] for c in calls), "the student's user resources were read"
    viewed = AuditEvent.objects.filter(action=Action.STUDENT_DATA_VIEWED).latest("id")
    assert sorted(viewed.details["courses"]) == sorted(IN_SCOPE) and viewed.details["source"] == "mentor_token"

    # The mentor removes Mentor Link from their approved integrations in Canvas.
    assert stack.canvas.control("POST", "revoke", {"user_id": MENTOR_ID})["revoked"] >= 1
    html = client.get(f"/my/students/{assignment.pk}/").content.decode()

    assert f"Sign in with Canvas again to see {student.name}\u2019s work." in html
    assert "Current grade" not in html and "<h3>Missing</h3>" not in html
    assert 'id="course-' not in html  # no course section: the course names left are the assignment's own scope
    refused = AuditEvent.objects.filter(action=Action.STUDENT_DATA_REFUSED).latest("id")
    assert refused.details["reason"] == "canvas_token_refused"
    assert refused.student_id == student.pk

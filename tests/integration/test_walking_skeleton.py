"""The main job end to end: propose, approve, a real worker links it in the fake Canvas over HTTP."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from mentorship.assignments.models import MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.people.models import Person
from tests.conftest import login
from tests.helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _canvas_person(canvas, name: str, sis_id: str, *, student_in_course: int | None = None) -> Person:
    admin = canvas.client()
    user = admin.create_user("1", name=name, unique_id=f"{sis_id.lower()}@school.test", sis_user_id=sis_id)
    if student_in_course is not None:
        admin.enroll_user(student_in_course, user.id, type="StudentEnrollment")
    return Person.objects.create(canvas_user_id=user.id, sis_user_id=sis_id, name=name, sortable_name=name)


def test_propose_approve_and_the_worker_links_it_in_canvas(client, stack, coordinator, program) -> None:
    canvas = stack.canvas
    course = canvas.client().create_course("1", name="Algebra I", course_code="ALG1", sis_course_id="WS-ALG1")
    mentor = _canvas_person(canvas, "Morgan Aide", "WS-AIDE-1")
    student = _canvas_person(canvas, "Sasha Student", "WS-S-1", student_in_course=course.id)
    login(client, coordinator)
    today = timezone.localdate()

    response = client.post(
        "/assignments/new/",
        {
            "program": program.pk,
            "mentor": mentor.pk,
            "student": student.pk,
            "starts_on": today.isoformat(),
            "ends_on": (today + datetime.timedelta(days=60)).isoformat(),
            "link_method": "observee",
            "reason": "Learning support aide",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assignment = MentorAssignment.objects.get(mentor=mentor, student=student)
    assert assignment.status == MentorAssignment.Status.PROPOSED

    response = client.post(f"/assignments/{assignment.pk}/approve/", {"note": "Approved at intake"})
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.status == MentorAssignment.Status.APPROVED

    # The worker process (not this one) makes the Canvas call; ask the fake Canvas over HTTP, as a school would.
    admin = canvas.client()
    wait_until(
        lambda: [u.id for u in admin.list_observees(mentor.canvas_user_id)] == [student.canvas_user_id],
        timeout=60,
        message="the mentor to observe the student in Canvas",
    )
    observer = admin.get_observee(mentor.canvas_user_id, student.canvas_user_id)
    assert observer.id == student.canvas_user_id
    # Canvas semantics: the user-level link enrols the observer in the student's course.
    enrollments = list(admin.list_course_enrollments(course.id, type="ObserverEnrollment"))
    assert [(e.user_id, e.associated_user_id) for e in enrollments] == [(mentor.canvas_user_id, student.canvas_user_id)]

    wait_until(
        lambda: AuditEvent.objects.filter(action="canvas.linked", student=student).exists(),
        timeout=30,
        message="the linked audit event",
    )
    page = client.get(f"/assignments/{assignment.pk}/").content.decode()
    assert "Linked in Canvas" in page
    link = assignment.links.get()
    assert link.state == "linked"
    assert link.linked_at is not None
    assert timezone.localtime(link.linked_at).strftime("%Y-%m-%d %H:%M") in page

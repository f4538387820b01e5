"""Course names come from Canvas through the real worker: a proposal that names a course only by id asks the worker
to read it (after commit), and the assignment page then shows the name, never asking Canvas itself."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments import services
from mentorship.assignments.models import AssignmentCourse, LinkMethod
from mentorship.people.courses import course_names
from tests.conftest import login
from tests.factories import PersonFactory
from tests.helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_reads_the_name_of_a_course_given_only_by_id(client, stack, coordinator, program) -> None:
    course = stack.canvas.client().create_course(
        "1", name="Geography (Period 4)", course_code="GEO4", sis_course_id="WS-GEO-P4"
    )
    today = timezone.localdate()
    assignment = services.assignment_propose(
        program=program,
        mentor=PersonFactory(),
        student=PersonFactory(),
        starts_on=today,
        ends_on=today + datetime.timedelta(days=30),
        reason="Geography support",
        actor=coordinator,
        link_method=LinkMethod.COURSES,
        courses=[AssignmentCourse(canvas_course_id=course.id)],  # an import gives ids, not names
    )
    wait_until(
        lambda: course_names([course.id]) == {course.id: "Geography (Period 4)"},
        timeout=30,
        message="the worker to read the course's name from Canvas",
    )
    body = login(client, coordinator).get(reverse("assignments:detail", args=[assignment.pk])).content.decode()
    assert "Geography (Period 4)" in body
    assert f"Course {course.id}" not in body

"""Beat tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from mentorship.assignments import tasks as assignment_tasks
from mentorship.assignments.models import MentorAssignment
from mentorship.sync.models import ObserverLink
from tests.sync.conftest import make_assignment

pytestmark = pytest.mark.django_db


def test_dates_task_activates_started_and_ends_finished_assignments(
    program, mentor_person, student_person, monkeypatch
):
    from mentorship.sync.services import publishing

    monkeypatch.setattr(publishing, "_publish", lambda *a, **k: True)
    today = timezone.localdate()
    starting = make_assignment(
        program=program,
        mentor=mentor_person,
        student=student_person,
        status=MentorAssignment.Status.APPROVED,
        generation=1,
        starts_on=today + datetime.timedelta(days=2),
        ends_on=today + datetime.timedelta(days=30),
    )
    ending = make_assignment(
        program=program,
        status=MentorAssignment.Status.APPROVED,
        generation=1,
        starts_on=today - datetime.timedelta(days=30),
        ends_on=today + datetime.timedelta(days=1),
    )
    ObserverLink.objects.create(
        assignment=ending,
        kind="observee",
        observer_canvas_id=ending.mentor.canvas_user_id,
        student_canvas_id=ending.student.canvas_user_id,
        state="linked",
        generation=1,
        linked_at=timezone.now(),
    )
    assert assignment_tasks.apply_dates() == {"activated": 0, "ended": 0}
    with time_machine.travel(timezone.now() + datetime.timedelta(days=3)):
        assert assignment_tasks.apply_dates() == {"activated": 1, "ended": 1}
    link = starting.links.get()
    assert (link.state, link.desired, link.generation) == ("pending", "present", 1)
    ended_link = ending.links.get()
    ending.refresh_from_db()
    assert ending.status == "ended"
    assert (ended_link.desired, ended_link.state, ended_link.generation) == ("absent", "pending", ending.generation)

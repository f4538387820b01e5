"""Course names are read by the worker with the portal's token and shown on the pages without asking Canvas."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments.models import AssignmentCourse
from mentorship.people.courses import course_names, courses_refresh, courses_remember, courses_track
from mentorship.people.models import CanvasCourse
from mentorship.sync import course_names as sync_course_names
from mentorship.sync.models import ObserverLink
from tests.conftest import login
from tests.sync.conftest import make_client

pytestmark = pytest.mark.django_db


def test_the_refresh_reads_unknown_and_stale_names_and_skips_what_canvas_refuses(fake, session):
    biology = fake.add_course(name="Biology (Period 2)")
    chemistry = fake.add_course(name="Chemistry (Period 1)")
    courses_track(ids={biology["id"], 99999})
    CanvasCourse.objects.create(
        canvas_course_id=chemistry["id"], name="Chem (old)", refreshed_at=timezone.now() - datetime.timedelta(days=2)
    )
    read = courses_refresh(client=make_client(session))
    assert read == 2  # 99999 does not exist in Canvas: left unnamed, tried again next run
    assert course_names([biology["id"], chemistry["id"], 99999]) == {
        biology["id"]: "Biology (Period 2)",
        chemistry["id"]: "Chemistry (Period 1)",
    }
    assert courses_refresh(client=make_client(session)) == 0  # the fresh ones are not due; 99999 is still refused


def test_the_beat_job_tracks_every_course_the_portal_refers_to(fake, session, monkeypatch, assignment):
    course = fake.add_course(name="Art (Period 3)")
    AssignmentCourse.objects.create(assignment=assignment, canvas_course_id=course["id"])
    ObserverLink.objects.create(
        assignment=assignment,
        kind=ObserverLink.Kind.COURSE,
        canvas_course_id=course["id"],
        observer_canvas_id=assignment.mentor.canvas_user_id,
        student_canvas_id=assignment.student.canvas_user_id,
    )
    monkeypatch.setattr(sync_course_names, "portal_client", lambda **kwargs: make_client(session))
    assert sync_course_names.course_names_refresh() == 1
    assert course_names([course["id"]]) == {course["id"]: "Art (Period 3)"}


def test_remembered_names_never_lose_a_known_name():
    courses_remember(courses=[(509, "BIO-P2", "Biology (Period 2)"), (509, "BIO-P2", "Biology (Period 2)")])
    courses_remember(courses=[(509, "", "")])
    assert CanvasCourse.objects.get(canvas_course_id=509).name == "Biology (Period 2)"


def test_a_proposal_remembers_the_names_it_was_given(program, coordinator, mentor_person, student_person):
    from mentorship.assignments import services

    services.assignment_propose(
        program=program,
        mentor=mentor_person,
        student=student_person,
        starts_on=timezone.localdate(),
        ends_on=timezone.localdate() + datetime.timedelta(days=30),
        reason="Support",
        actor=coordinator,
        link_method="courses",
        courses=[AssignmentCourse(canvas_course_id=509, sis_course_id="BIO-P2", name="Biology (Period 2)")],
    )
    assert course_names([509]) == {509: "Biology (Period 2)"}


def test_the_assignment_page_shows_course_names_without_asking_canvas(client, coordinator, assignment):
    """A link and a scope row whose names are cached show the name; one not read yet shows "Course <id>"."""
    CanvasCourse.objects.create(canvas_course_id=509, name="Biology (Period 2)")
    AssignmentCourse.objects.create(assignment=assignment, canvas_course_id=509)
    for course_id in (509, 612):
        ObserverLink.objects.create(
            assignment=assignment,
            kind=ObserverLink.Kind.COURSE,
            canvas_course_id=course_id,
            observer_canvas_id=assignment.mentor.canvas_user_id,
            student_canvas_id=assignment.student.canvas_user_id,
        )
    body = login(client, coordinator).get(reverse("assignments:detail", args=[assignment.pk])).content.decode()
    assert body.count("Biology (Period 2)") == 2  # the scope and the link
    assert "Course 612" in body
    assert "Course 509" not in body


def test_the_mentors_cards_show_course_names(client, mentor, approved_assignment):
    approved_assignment.scope = "courses"
    approved_assignment.save()
    AssignmentCourse.objects.create(assignment=approved_assignment, canvas_course_id=509)
    CanvasCourse.objects.create(canvas_course_id=509, name="Biology (Period 2)")
    body = login(client, mentor).get(reverse("mentors:students")).content.decode()
    assert "Biology (Period 2)" in body

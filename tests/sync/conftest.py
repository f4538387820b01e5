"""The in-process fake Canvas wired into the sync engine: every portal_client() talks to it through a WSGI adapter."""

from __future__ import annotations

import datetime
from typing import Any, cast

import pytest
import requests
from django.utils import timezone

from canvas_client import CanvasClient, NullLimiter
from fake_canvas import FakeCanvas
from fake_canvas.testing import WSGIAdapter
from mentorship.accounts.models import User
from mentorship.assignments.models import AssignmentCourse, LinkMethod, MentorAssignment, Program
from mentorship.core import canvas as sync_canvas
from mentorship.people.models import Person
from mentorship.sync import reconcile as sync_reconcile
from mentorship.sync import services as sync_services
from tests.factories import AssignmentFactory, ProgramFactory, UserFactory

BASE = "http://canvas.test"


def make_program(**kwargs: Any) -> Program:
    """Typed wrappers: factory_boy's factories are not typed as the models they build."""
    return cast(Program, ProgramFactory(**kwargs))


def make_user(**kwargs: Any) -> User:
    return cast(User, UserFactory(**kwargs))


def make_assignment(**kwargs: Any) -> MentorAssignment:
    return cast(MentorAssignment, AssignmentFactory(**kwargs))


TOKEN = "sync-test-admin-token"


@pytest.fixture
def fake() -> FakeCanvas:
    fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=7)
    fake.configure(throttle={"enabled": False})
    return fake


@pytest.fixture
def session(fake: FakeCanvas) -> requests.Session:
    s = requests.Session()
    s.mount(BASE, WSGIAdapter(fake.wsgi_app))
    return s


def make_client(session: requests.Session, token: str = TOKEN, **kwargs: Any) -> CanvasClient:
    kwargs.setdefault("limiter", NullLimiter())
    return CanvasClient(BASE, token, session=session, sleep=lambda s: None, **kwargs)


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch, session: requests.Session, settings: Any) -> CanvasClient:
    """Every portal_client() in the sync engine returns a client of the in-process fake."""
    settings.CANVAS_BASE_URL = BASE
    settings.CANVAS_TOKEN = TOKEN
    settings.SYNC_BACKOFF_BASE_SECONDS = 0.01

    def factory(**kwargs: Any) -> CanvasClient:
        return make_client(session)

    for module in (sync_canvas, sync_reconcile):
        monkeypatch.setattr(module, "portal_client", factory)
    return make_client(session)


class School:
    """People and courses that exist both in the fake Canvas and as Person rows."""

    def __init__(self, fake: FakeCanvas) -> None:
        self.fake = fake
        self.course = fake.add_course(name="Algebra I", course_code="ALG1", sis_course_id="ALG1")
        self.other_course = fake.add_course(name="Biology", course_code="BIO", sis_course_id="BIO")

    def person(self, name: str, sis: str | None, *, student: bool = False) -> Person:
        login = (sis or name.replace(" ", ".")).lower() + "@school.test"
        user = self.fake.add_user(name=name, sis_user_id=sis, login_id=login, email=login)
        if student:
            self.fake.enroll(self.course["id"], user["id"], type="StudentEnrollment")
            self.fake.enroll(self.other_course["id"], user["id"], type="StudentEnrollment")
        return Person.objects.create(
            canvas_user_id=user["id"], sis_user_id=sis or "", name=name, sortable_name=name, email=login
        )


@pytest.fixture
def school(fake: FakeCanvas, db: Any) -> School:
    return School(fake)


def approved(
    program: Any,
    mentor: Person,
    student: Person,
    *,
    method: str = LinkMethod.OBSERVEE,
    courses: list[int] = (),  # type: ignore[assignment]
    days: int = 30,
) -> MentorAssignment:
    """An approved, active assignment at generation 1 (as assignment_approve leaves it), links planned."""
    today = timezone.localdate()
    assignment = make_assignment(
        program=program,
        mentor=mentor,
        student=student,
        link_method=method,
        status=MentorAssignment.Status.APPROVED,
        generation=1,
        starts_on=today,
        ends_on=today + datetime.timedelta(days=days),
        scope=MentorAssignment.Scope.COURSES if courses else MentorAssignment.Scope.ALL_COURSES,
    )
    for course_id in courses:
        AssignmentCourse.objects.create(assignment=assignment, canvas_course_id=course_id)
    sync_services.links_plan(assignment=assignment)
    return assignment


def end(assignment: MentorAssignment) -> list[Any]:
    """End an assignment the way assignment_end does: status, generation bump, links_retire."""
    MentorAssignment.objects.filter(pk=assignment.pk).update(
        status=MentorAssignment.Status.ENDED, generation=assignment.generation + 1
    )
    assignment.refresh_from_db()
    return sync_services.links_retire(assignment=assignment)


def sync_all(assignment: MentorAssignment) -> list[str]:
    return [sync_services.link_sync(link_id=link.pk, generation=link.generation) for link in assignment.links.all()]


def linked_pair(
    school: School, program: Any, mentor_sis: str, student_sis: str
) -> tuple[Person, Person, MentorAssignment]:
    """A new mentor and student with an approved assignment whose link is in Canvas."""
    mentor, student = school.person("M", mentor_sis), school.person("S", student_sis, student=True)
    assignment = approved(program, mentor, student)
    sync_all(assignment)
    return mentor, student, assignment

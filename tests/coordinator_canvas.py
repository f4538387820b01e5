"""Canvas for the coordinator tests: by default unreachable (so no test depends on a server on localhost), except
that it says nobody studies anywhere (so an approval's mentor-is-a-student check passes without a server); the
`canvas_down` fixture makes that check fail too, and `canvas` wires every look-up to an in-process fake Canvas."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from canvas_client import CanvasClient, CanvasTransientError, NullLimiter
from fake_canvas import FakeCanvas
from fake_canvas.testing import WSGIAdapter
from mentorship.people import services as people_services
from mentorship.people.models import Person

BASE = "http://canvas.test"
TOKEN = "coord-test-admin-token"


class Unreachable:
    """A client whose every call fails the way CanvasClient does when Canvas is down (connection refused)."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise CanvasTransientError("connection refused (test)", method="GET", path=f"/{name}")

        return fail


class NobodyStudies(Unreachable):
    """Unreachable, but with no student enrollment for anyone."""

    def list_user_enrollments(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


@pytest.fixture(autouse=True)
def canvas_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(people_services, "lookup_client", lambda: NobodyStudies())


@pytest.fixture
def canvas_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Canvas look-up fails as when Canvas is down (connection refused)."""
    monkeypatch.setattr(people_services, "lookup_client", lambda: Unreachable())


class School:
    """People and courses that exist in the fake Canvas (and, when asked, as Person rows)."""

    def __init__(self, fake: FakeCanvas, client: CanvasClient) -> None:
        self.fake = fake
        self.client = client
        self.algebra = fake.add_course(name="Algebra I", course_code="ALG1", sis_course_id="ALG1-P3")
        self.biology = fake.add_course(name="Biology", course_code="BIO", sis_course_id="BIO-P5")

    def user(self, name: str, sis: str, *, courses: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
        login = sis.lower() + "@school.test"
        user = self.fake.add_user(name=name, sis_user_id=sis, login_id=login, email=login)
        for course in courses:
            self.fake.enroll(course["id"], user["id"], type="StudentEnrollment")
        return user

    def person(self, name: str, sis: str, *, courses: tuple[dict[str, Any], ...] = ()) -> Person:
        user = self.user(name, sis, courses=courses)
        return Person.objects.create(
            canvas_user_id=user["id"],
            sis_user_id=sis,
            login_id=sis.lower() + "@school.test",
            name=name,
            sortable_name=name,
        )


@pytest.fixture
def canvas(monkeypatch: pytest.MonkeyPatch, settings: Any, db: Any) -> School:
    fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=11)
    fake.configure(throttle={"enabled": False})
    session = requests.Session()
    session.mount(BASE, WSGIAdapter(fake.wsgi_app))
    settings.CANVAS_BASE_URL = BASE
    settings.CANVAS_TOKEN = TOKEN

    def factory() -> CanvasClient:
        return CanvasClient(BASE, TOKEN, session=session, limiter=NullLimiter(), sleep=lambda s: None)

    monkeypatch.setattr(people_services, "lookup_client", factory)
    return School(fake, factory())

"""An in-process fake Canvas wired to the portal (no sockets), with a small school, for sign-in and mentor tests.

`world` fixture: the fake (OAuth client configured), a mentor with a Canvas login, two students in courses with
assignments due soon and missing work, Persons for all of them, and settings pointed at http://canvas.test. Every
Canvas call the portal makes (the mentor's token, the OAuth endpoints and the portal token) goes to the fake.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.testing import WSGIAdapter
from mentorship.people.models import Person
from tests.factories import PersonFactory

BASE = "http://canvas.test"
ADMIN_TOKEN = "world-admin-token"
CLIENT_ID = "world-client-id"
CLIENT_SECRET = "world-client-secret"
CANVAS_PASSWORD = "canvas-demo"
DAY = 86400


@dataclass
class World:
    fake: FakeCanvas
    mentor: dict[str, Any]
    stranger: dict[str, Any]
    student: dict[str, Any]
    student2: dict[str, Any]
    algebra: dict[str, Any]
    biology: dict[str, Any]
    chemistry: dict[str, Any]
    mentor_person: Person
    student_person: Person
    student2_person: Person

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount(BASE, WSGIAdapter(self.fake.wsgi_app))
        return session

    def canvas_sign_in(self, django_client: Any, login: str = "mentor1", password: str = CANVAS_PASSWORD) -> Any:
        """Walk the OAuth flow as a browser would; returns the portal's answer to the callback."""
        path, params = self.authorize(django_client, login, password)
        return django_client.get(path, params)

    def authorize(
        self, django_client: Any, login: str = "mentor1", password: str = CANVAS_PASSWORD, next_url: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """Start the sign-in in the portal and approve it at the fake; returns the callback path and parameters."""
        start = django_client.get("/accounts/canvas/start/", {"next": next_url} if next_url else {})
        assert start.status_code == 302, start.status_code
        location = start["Location"]
        assert location.startswith(f"{BASE}/login/oauth2/auth?")
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        answer = self.session().post(
            f"{BASE}/login/oauth2/auth",
            data={**params, "login": login, "password": password, "authorize": "1"},
            allow_redirects=False,
        )
        assert answer.status_code == 302, answer.text[:300]
        back = urlsplit(answer.headers["Location"])
        return back.path, {k: v[0] for k, v in parse_qs(back.query).items()}

    def link(self, observer: dict[str, Any], student: dict[str, Any]) -> None:
        admin = self.session()
        admin.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        response = admin.put(f"{BASE}/api/v1/users/{observer['id']}/observees/{student['id']}")
        assert response.status_code == 200, response.text


def _add_coursework(fake: FakeCanvas, *, courses: tuple[dict[str, Any], ...], student: dict[str, Any]) -> None:
    """Each course: homework due soon, a project far away, a missed quiz, and a lab the student handed in."""
    now = time.time()
    for course in courses:
        title = course["name"]
        fake.add_assignment(course["id"], name=f"{title} homework due soon", due_at=now + 3 * DAY)
        fake.add_assignment(course["id"], name=f"{title} project far away", due_at=now + 30 * DAY)
        fake.add_assignment(course["id"], name=f"{title} quiz missed", due_at=now - 2 * DAY)
        done = fake.add_assignment(course["id"], name=f"{title} lab handed in", due_at=now - 5 * DAY)
        fake.set_submission(done["id"], student["id"], submitted_at=now - 6 * DAY, score=9)


@pytest.fixture
def world(db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> World:
    fake = FakeCanvas(
        admin_token=ADMIN_TOKEN, seed="empty", oauth_client_id=CLIENT_ID, oauth_client_secret=CLIENT_SECRET
    )
    fake.configure(throttle={"enabled": False})
    settings.CANVAS_BASE_URL = BASE
    settings.CANVAS_TOKEN = ADMIN_TOKEN
    settings.CANVAS_OAUTH_CLIENT_ID = CLIENT_ID
    settings.CANVAS_OAUTH_CLIENT_SECRET = CLIENT_SECRET
    settings.PORTAL_BASE_URL = "http://testserver"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "world"}}
    from django.core.cache import cache

    # Test databases reuse ids after a rollback; a cached page of an earlier test must not leak into this one.
    cache.clear()

    def session() -> requests.Session:
        s = requests.Session()
        s.mount(BASE, WSGIAdapter(fake.wsgi_app))
        return s

    from mentorship.accounts import canvas_tokens

    monkeypatch.setattr(canvas_tokens, "canvas_session", session)

    mentor = fake.add_user(name="Morgan Mentor", sis_user_id="AIDE-001", login_id="mentor1")
    stranger = fake.add_user(name="Stan Stranger", sis_user_id="T-9999", login_id="stranger")
    student = fake.add_user(name="Sasha Student", sis_user_id="S-0001", login_id="sasha")
    student2 = fake.add_user(name="Robin Second", sis_user_id="S-0002", login_id="robin")
    algebra = fake.add_course(name="Algebra I", sis_course_id="ALG1")
    biology = fake.add_course(name="Biology", sis_course_id="BIO")
    chemistry = fake.add_course(name="Chemistry", sis_course_id="CHEM")
    for course in (algebra, biology, chemistry):
        fake.enroll(course["id"], student["id"])
    fake.enroll(algebra["id"], student2["id"])
    _add_coursework(fake, courses=(algebra, biology, chemistry), student=student)
    mentor_person = PersonFactory(
        canvas_user_id=mentor["id"], name="Morgan Mentor", sis_user_id="AIDE-001", email="morgan@school.test"
    )
    student_person = PersonFactory(canvas_user_id=student["id"], name="Sasha Student", sis_user_id="S-0001")
    student2_person = PersonFactory(canvas_user_id=student2["id"], name="Robin Second", sis_user_id="S-0002")
    return World(
        fake=fake,
        mentor=mentor,
        stranger=stranger,
        student=student,
        student2=student2,
        algebra=algebra,
        biology=biology,
        chemistry=chemistry,
        mentor_person=mentor_person,
        student_person=student_person,
        student2_person=student2_person,
    )

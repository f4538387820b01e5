"""The demo school, and a canvasapi-style client (per_page=100, follow Link next) against it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.seed import demo_courses, demo_people
from fake_canvas.testing import fake_session, running_fake_server

BASE = "http://canvas.test/api/v1"
REQUIRED_PEOPLE = ("AIDE-014", "S-1187", "T-0042", "S-2031", "S-2044", "S-2102")


@pytest.fixture(scope="module")
def demo() -> FakeCanvas:
    return FakeCanvas(admin_token="A", seed="demo", throttle={"enabled": False})


def canvasapi_list(session: requests.Session, url: str, **params: Any) -> list[Any]:
    """What canvasapi's PaginatedList does: per_page=100, then follow response.links["next"]."""
    items: list[Any] = []
    response = session.get(url, params={"per_page": 100, **params})
    while True:
        assert response.status_code == 200, response.text
        items.extend(response.json())
        next_link = response.links.get("next")
        if not next_link:
            return items
        response = session.get(next_link["url"])


def test_demo_people_and_courses_are_deterministic_and_complete() -> None:
    people = demo_people()
    assert people == demo_people()
    kinds = Counter(p["kind"] for p in people)
    assert kinds["student"] + kinds["student_mentor"] >= 300
    assert kinds["admin"] == 1
    assert sum(1 for p in people if p["mentor"]) == 60
    by_sis = {p["sis_user_id"]: p for p in people}
    for sis in REQUIRED_PEOPLE:
        assert sis in by_sis
    assert by_sis["AIDE-014"]["kind"] == "aide"
    assert by_sis["S-1187"]["kind"] == "student_mentor"
    assert by_sis["T-0042"]["kind"] == "teacher"
    assert all(set(p) >= {"id", "name", "sortable_name", "login_id", "email"} for p in people)
    assert len({p["id"] for p in people}) == len(people)
    courses = demo_courses()
    assert len(courses) == 40
    assert {"ALG1-P3", "BIO-P5"} <= {c["sis_course_id"] for c in courses}


def test_server_serves_exactly_the_demo_dataset(demo: FakeCanvas) -> None:
    s = fake_session(demo, "A")
    for p in demo_people():
        if p["sis_user_id"] in REQUIRED_PEOPLE:
            body = s.get(f"{BASE}/users/sis_user_id:{p['sis_user_id']}").json()
            assert (body["id"], body["name"], body["login_id"]) == (
                p["id"],
                p["name"],
                p["login_id"],
            )
    for c in demo_courses()[:5]:
        assert s.get(f"{BASE}/courses/{c['id']}").json()["sis_course_id"] == c["sis_course_id"]
    everyone = canvasapi_list(s, f"{BASE}/accounts/1/users")
    assert len(everyone) == len(demo_people())
    assert FakeCanvas(admin_token="B", seed="demo").observer_links() == set()


def test_demo_enrollments_work_and_grades(demo: FakeCanvas) -> None:
    s = fake_session(demo, "A")
    enrollments = canvasapi_list(s, f"{BASE}/users/sis_user_id:S-2044/enrollments", **{"type[]": "StudentEnrollment"})
    courses = {s.get(f"{BASE}/courses/{e['course_id']}").json()["sis_course_id"] for e in enrollments}
    assert {"ALG1-P3", "BIO-P5"} <= courses
    assert 4 <= len(enrollments) <= 6
    assert all(e["grades"]["current_score"] is not None for e in enrollments)
    mentor = canvasapi_list(s, f"{BASE}/users/sis_user_id:S-1187/enrollments")
    assert any(e["type"] == "StudentEnrollment" for e in mentor)
    teacher = canvasapi_list(s, f"{BASE}/users/sis_user_id:T-0042/enrollments")
    assert [e["type"] for e in teacher] == ["TeacherEnrollment"]
    counts: Counter[int] = Counter()
    for p in demo_people():
        if p["kind"] in ("student", "student_mentor"):
            n = sum(
                1 for e in demo.state.enr_by_user[p["id"]] if demo.state.enrollments[e]["type"] == "StudentEnrollment"
            )
            counts[n] += 1
    assert set(counts) <= {4, 5, 6}
    alg = s.get(f"{BASE}/courses/sis_course_id:ALG1-P3/enrollments", params={"type[]": "teacher"})
    assert len(alg.json()) == 1


def test_demo_has_past_and_upcoming_work_and_some_missing(demo: FakeCanvas) -> None:
    s = fake_session(demo, "A")
    student = "sis_user_id:S-2044"
    course = "sis_course_id:ALG1-P3"
    work = canvasapi_list(s, f"{BASE}/users/{student}/courses/{course}/assignments", **{"include[]": "submission"})
    assert len(work) >= 10
    assert any(a["due_at"] is None for a in work)
    upcoming = s.get(f"{BASE}/users/{student}/courses/{course}/assignments", params={"bucket": "upcoming"}).json()
    past = s.get(f"{BASE}/users/{student}/courses/{course}/assignments", params={"bucket": "past"}).json()
    assert upcoming and past
    total_missing = sum(
        len(canvasapi_list(s, f"{BASE}/users/{p['id']}/missing_submissions")) for p in demo_people()[200:240]
    )
    assert total_missing > 0


def test_canvasapi_style_client_over_http(demo: FakeCanvas) -> None:
    """The same calls canvasapi makes (get_observees, add_observee, remove_observee...)."""
    with running_fake_server(demo) as base_url:
        s = requests.Session()
        s.headers["Authorization"] = "Bearer A"
        api = f"{base_url}/api/v1"
        aide = s.get(f"{api}/users/sis_user_id:AIDE-014", timeout=5).json()
        student = s.get(f"{api}/users/sis_user_id:S-2031", timeout=5).json()
        added = s.put(f"{api}/users/{aide['id']}/observees/{student['id']}", timeout=5)
        assert added.json()["id"] == student["id"]
        observees = canvasapi_list(s, f"{api}/users/{aide['id']}/observees")
        assert [u["id"] for u in observees] == [student["id"]]
        shown = s.get(f"{api}/users/{aide['id']}/observees/{student['id']}", timeout=5)
        assert shown.status_code == 200
        people = canvasapi_list(s, f"{api}/accounts/1/users")
        assert len(people) == len(demo_people())
        removed = s.delete(f"{api}/users/{aide['id']}/observees/{student['id']}", timeout=5)
        assert removed.status_code == 200
        assert canvasapi_list(s, f"{api}/users/{aide['id']}/observees") == []

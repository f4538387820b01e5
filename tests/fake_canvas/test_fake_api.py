"""The fake Canvas answers like Canvas: ids, errors, pagination, links, permissions.

What Canvas does: docs/canvas.md, "Canvas behaviour the portal relies on".
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.testing import ManualClock, fake_session

BASE = "http://canvas.test/api/v1"
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.fake = FakeCanvas(admin_token="ADMIN", seed="empty", clock=self.clock)
        self.fake.configure(throttle={"enabled": False})
        f = self.fake
        self.sam = f.add_user(name="Sam Student", sis_user_id="S-1", login_id="sam")
        self.sue = f.add_user(name="Sue Student", sis_user_id="S-2", login_id="sue")
        self.olive = f.add_user(name="Olive Observer", sis_user_id="O/1", login_id="Olive")
        self.tom = f.add_user(name="Tom Teacher", sis_user_id="T-1", login_id="tom")
        self.c1 = f.add_course(name="Algebra", sis_course_id="C-1")
        self.c2 = f.add_course(name="Biology", sis_course_id="C-2")
        f.enroll(self.c1["id"], self.sam["id"])
        f.enroll(self.c2["id"], self.sam["id"])
        f.enroll(self.c1["id"], self.sue["id"])
        f.enroll(self.c1["id"], self.tom["id"], type="TeacherEnrollment")
        self.admin = fake_session(f, "ADMIN")

    def as_user(self, user: dict[str, Any]) -> requests.Session:
        return fake_session(self.fake, self.fake.mint_token(user["id"]))


def observing(observer_id: int, student_id: int, **fields: Any) -> dict[str, Any]:
    """The form of POST /courses/:c/enrollments for an active ObserverEnrollment of the student, and `fields`."""
    return {
        "enrollment[user_id]": observer_id,
        "enrollment[type]": "ObserverEnrollment",
        "enrollment[associated_user_id]": student_id,
        "enrollment[enrollment_state]": "active",
        **{f"enrollment[{name}]": value for name, value in fields.items()},
    }


@pytest.fixture
def w() -> World:
    return World()


# ---- ids, 404, 401 ------------------------------------------------------------------------------


def test_user_ids_accept_numeric_self_sis_and_case_insensitive_login(w: World) -> None:
    for ident in (str(w.sam["id"]), "sis_user_id:S-1", "sis_login_id:SAM"):
        r = w.admin.get(f"{BASE}/users/{ident}")
        assert r.status_code == 200, ident
        assert r.json()["id"] == w.sam["id"]
    # URL-escaped SIS id containing a slash stays one path segment.
    r = w.admin.get(f"{BASE}/users/sis_user_id:O%2F1")
    assert r.status_code == 200
    assert r.json()["sis_user_id"] == "O/1"
    me = w.admin.get(f"{BASE}/users/self").json()
    assert me["name"] == "Portal Service Account"


def test_unknown_user_and_route_answer_canvas_404_body(w: World) -> None:
    for path in ("/users/999999", "/users/sis_user_id:NOPE", "/nothing/here"):
        r = w.admin.get(BASE + path)
        assert r.status_code == 404
        assert r.json() == NOT_FOUND


def test_bad_token_gets_401_with_www_authenticate(w: World) -> None:
    r = fake_session(w.fake, "not-a-token").get(f"{BASE}/users/self")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    assert r.json() == {"errors": [{"message": "Invalid access token."}]}


def test_missing_token_is_unauthenticated_without_challenge(w: World) -> None:
    r = fake_session(w.fake).get(f"{BASE}/users/self")
    assert r.status_code == 401
    assert "WWW-Authenticate" not in r.headers
    assert r.json()["status"] == "unauthenticated"


def test_access_token_parameter_works_like_the_header(w: World) -> None:
    r = fake_session(w.fake).get(f"{BASE}/users/self", params={"access_token": "ADMIN"})
    assert r.status_code == 200


def test_invalidated_token_then_restored(w: World) -> None:
    token = w.fake.mint_token(w.sam["id"])
    s = fake_session(w.fake, token)
    w.fake.invalidate_token(token)
    r = s.get(f"{BASE}/users/self")
    assert r.status_code == 401
    assert r.json()["errors"][0]["message"] == "Invalid access token."
    w.fake.invalidate_token(token, "revoked")
    assert s.get(f"{BASE}/users/self").json()["errors"][0]["message"] == "Revoked access token."
    w.fake.invalidate_token(token, "expired")
    r = s.get(f"{BASE}/users/self")
    assert r.json()["errors"][0]["message"] == "Expired access token."
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    w.fake.restore_token(token)
    assert s.get(f"{BASE}/users/self").status_code == 200


# ---- pagination ---------------------------------------------------------------------------------


def _link_observer_to(w: World, n: int) -> list[dict[str, Any]]:
    students = [w.fake.add_user(name=f"Kid {i:02d} Zed") for i in range(n)]
    for s in students:
        assert w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{s['id']}").status_code == 200
    return students


def test_pagination_defaults_to_10_and_sends_link_rels(w: World) -> None:
    _link_observer_to(w, 25)
    r = w.admin.get(f"{BASE}/users/{w.olive['id']}/observees", params={"include[]": "avatar_url"})
    assert len(r.json()) == 10
    assert set(r.links) == {"current", "next", "first", "last"}
    assert "page=2" in r.links["next"]["url"]
    assert "page=3" in r.links["last"]["url"]
    assert "include%5B%5D=avatar_url" in r.links["next"]["url"]
    r2 = w.admin.get(r.links["next"]["url"])
    assert set(r2.links) == {"current", "next", "prev", "first", "last"}
    r3 = w.admin.get(r.links["last"]["url"])
    assert len(r3.json()) == 5
    assert "next" not in r3.links
    ids = [u["id"] for u in r.json() + r2.json() + r3.json()]
    assert len(set(ids)) == 25


def test_per_page_is_clamped_to_100_and_access_token_is_stripped_from_links(w: World) -> None:
    students = _link_observer_to(w, 3)
    assert len(students) == 3
    r = fake_session(w.fake).get(
        f"{BASE}/users/{w.olive['id']}/observees",
        params={"per_page": "1000", "access_token": "ADMIN"},
    )
    assert r.status_code == 200
    assert "per_page=100" in r.links["current"]["url"]
    assert "access_token" not in r.headers["Link"]


def test_enrollments_use_opaque_bookmarks(w: World) -> None:
    for i in range(5):
        c = w.fake.add_course(name=f"Elective {i}")
        w.fake.enroll(c["id"], w.sam["id"])
    url = f"{BASE}/users/{w.sam['id']}/enrollments"
    seen: list[int] = []
    r = w.admin.get(url, params={"per_page": 3})
    while True:
        assert r.status_code == 200
        seen += [e["id"] for e in r.json()]
        assert "last" not in r.links
        if "next" not in r.links:
            break
        assert "page=bookmark%3A" in r.links["next"]["url"]
        r = w.admin.get(r.links["next"]["url"])
    assert len(seen) == 7 == len(set(seen))
    assert w.admin.get(url, params={"page": "bookmark:!!!"}).status_code == 400


# ---- observees ----------------------------------------------------------------------------------


def test_cannot_observe_yourself(w: World) -> None:
    r = w.admin.put(f"{BASE}/users/{w.sam['id']}/observees/{w.sam['id']}")
    assert r.status_code == 422
    assert r.json() == {"errors": [{"message": "Cannot observe yourself"}]}


def test_put_observee_is_idempotent_and_links_all_current_courses(w: World) -> None:
    url = f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}"
    first = w.admin.put(url)
    second = w.admin.put(url)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["observation_link_root_account_ids"] == [1]
    assert w.fake.observer_links() == {(w.olive["id"], w.sam["id"])}
    courses = {e["course_id"] for e in w.fake.observer_enrollments()}
    assert courses == {w.c1["id"], w.c2["id"]}
    assert len(w.fake.observer_enrollments()) == 2


def test_link_covers_courses_added_later_and_delete_removes_all(w: World) -> None:
    w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    c3 = w.fake.add_course(name="Chemistry")
    r = w.admin.post(
        f"{BASE}/courses/{c3['id']}/enrollments",
        data={
            "enrollment[user_id]": w.sam["id"],
            "enrollment[type]": "StudentEnrollment",
            "enrollment[enrollment_state]": "active",
        },
    )
    assert r.status_code == 200
    assert {e["course_id"] for e in w.fake.observer_enrollments()} == {
        w.c1["id"],
        w.c2["id"],
        c3["id"],
    }
    # A separate course-scoped enrollment for the same pair is removed with the link too.
    c4 = w.fake.add_course(name="Drama")
    w.fake.enroll(c4["id"], w.sam["id"], state="active")
    scoped = w.admin.post(
        f"{BASE}/courses/{c4['id']}/enrollments",
        json={
            "enrollment": {
                "user_id": w.olive["id"],
                "type": "ObserverEnrollment",
                "associated_user_id": w.sam["id"],
                "enrollment_state": "active",
            }
        },
    )
    assert scoped.status_code == 200
    r = w.admin.delete(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    assert r.status_code == 200
    assert r.json()["id"] == w.sam["id"]
    assert w.fake.observer_links() == set()
    assert w.fake.observer_enrollments() == []
    # The link is gone: show and a second delete are 404.
    assert w.admin.get(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}").status_code == 404
    again = w.admin.delete(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    assert again.status_code == 404
    assert again.json() == NOT_FOUND


def test_observers_list_and_show(w: World) -> None:
    w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    r = w.admin.get(f"{BASE}/users/{w.sam['id']}/observers")
    assert [u["id"] for u in r.json()] == [w.olive["id"]]
    assert w.admin.get(f"{BASE}/users/{w.sam['id']}/observers/{w.olive['id']}").status_code == 200
    assert w.admin.get(f"{BASE}/users/{w.sue['id']}/observers/{w.olive['id']}").status_code == 404


def test_observer_may_delete_own_link_but_not_put(w: World) -> None:
    olive = w.as_user(w.olive)
    r = olive.put(f"{BASE}/users/self/observees/{w.sam['id']}")
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    assert olive.get(f"{BASE}/users/self/observees").json()[0]["id"] == w.sam["id"]
    assert olive.delete(f"{BASE}/users/self/observees/{w.sam['id']}").status_code == 200
    assert w.fake.observer_links() == set()


def test_observee_by_credentials(w: World) -> None:
    olive = w.as_user(w.olive)
    url = f"{BASE}/users/self/observees"
    wrong = olive.post(url, data={"observee[unique_id]": "sam", "observee[password]": "nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {"errors": [{"message": "Invalid credentials provided."}]}
    unknown = olive.post(url, data={"observee[unique_id]": "ghost", "observee[password]": "x"})
    assert unknown.status_code == 422
    assert unknown.json() == {"errors": [{"message": "Unknown observee."}]}
    good = olive.post(url, data={"observee[unique_id]": "SAM", "observee[password]": "canvas-demo"})
    assert good.status_code == 200
    assert w.fake.observer_links() == {(w.olive["id"], w.sam["id"])}


# ---- pairing codes ------------------------------------------------------------------------------


def test_pairing_code_format_single_use_and_link(w: World) -> None:
    sam = w.as_user(w.sam)
    r = sam.post(f"{BASE}/users/self/observer_pairing_codes")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"user_id", "code", "expires_at", "workflow_state"}
    assert body["user_id"] == w.sam["id"] and body["workflow_state"] == "active"
    code = body["code"]
    assert len(code) == 6 and code.isalnum() and code.isascii()
    olive = w.as_user(w.olive)
    wrong_case = code.swapcase() if code.swapcase() != code else None
    if wrong_case:
        bad = olive.post(f"{BASE}/users/self/observees", data={"pairing_code": wrong_case})
        assert bad.status_code == 422
    ok = olive.post(f"{BASE}/users/self/observees", data={"pairing_code": code})
    assert ok.status_code == 200
    assert ok.json()["id"] == w.sam["id"]
    assert w.fake.observer_links() == {(w.olive["id"], w.sam["id"])}
    tom = w.as_user(w.tom)
    reused = tom.post(f"{BASE}/users/self/observees", data={"pairing_code": code})
    assert reused.status_code == 422
    assert reused.json() == {"errors": [{"message": "Invalid pairing code."}]}


def test_pairing_code_expires_after_seven_days(w: World) -> None:
    code = w.admin.post(f"{BASE}/users/{w.sam['id']}/observer_pairing_codes").json()["code"]
    w.clock.advance(7 * 86400 + 1)
    r = w.as_user(w.olive).post(f"{BASE}/users/self/observees", data={"pairing_code": code})
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"] == "Invalid pairing code."


def test_pairing_code_expiry_is_seven_days_and_student_can_hold_several(w: World) -> None:
    sam = w.as_user(w.sam)
    a = sam.post(f"{BASE}/users/self/observer_pairing_codes").json()
    b = sam.post(f"{BASE}/users/self/observer_pairing_codes").json()
    assert a["code"] != b["code"]
    from fake_canvas.util import parse_time

    assert parse_time(a["expires_at"]) == pytest.approx(w.clock() + 7 * 86400, abs=1)
    active = [c for c in w.fake.pairing_codes() if c["active"]]
    assert len(active) == 2


def test_pairing_code_needs_a_student_enrollment_and_the_right_caller(w: World) -> None:
    r = w.admin.post(f"{BASE}/users/{w.olive['id']}/observer_pairing_codes")
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    other = w.as_user(w.tom).post(f"{BASE}/users/{w.sam['id']}/observer_pairing_codes")
    assert other.status_code == 401


# ---- observer visibility ------------------------------------------------------------------------


def test_observer_token_sees_only_observed_students(w: World) -> None:
    w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    a = w.fake.add_assignment(w.c1["id"], name="Homework", due_at=w.clock() - 86400)
    olive = w.as_user(w.olive)
    assert olive.get(f"{BASE}/users/{w.sam['id']}/enrollments").status_code == 200
    work = olive.get(
        f"{BASE}/users/{w.sam['id']}/courses/{w.c1['id']}/assignments",
        params={"include[]": ["submission", "observed_users"]},
    )
    assert work.status_code == 200
    assert work.json()[0]["id"] == a["id"]
    (sams,) = work.json()[0]["submission"]
    assert sams["user_id"] == w.sam["id"] and sams["missing"] is True
    missing = olive.get(f"{BASE}/users/{w.sam['id']}/missing_submissions")
    assert [m["id"] for m in missing.json()] == [a["id"]]
    # A linked observer may list the student's courses (CoursesController#require_user_or_observer).
    assert olive.get(f"{BASE}/users/{w.sam['id']}/courses").status_code == 200
    for path in (
        f"/users/{w.sue['id']}/enrollments",
        f"/users/{w.sue['id']}/courses/{w.c1['id']}/assignments",
        f"/users/{w.sue['id']}/missing_submissions",
        f"/users/{w.sue['id']}",
        f"/users/{w.sue['id']}/courses",
        f"/users/{w.sue['id']}/observers",
    ):
        r = olive.get(BASE + path)
        assert r.status_code == 401, path
        assert r.json() == UNAUTHORIZED, path


def test_missing_submissions_observer_mode_needs_course_ids_observed(w: World) -> None:
    a = w.fake.add_assignment(w.c1["id"], name="Quiz", due_at=w.clock() - 3600)
    w.fake.add_assignment(w.c2["id"], name="Lab", due_at=w.clock() - 3600)
    w.admin.post(f"{BASE}/courses/{w.c1['id']}/enrollments", data=observing(w.olive["id"], w.sam["id"]))
    olive = w.as_user(w.olive)
    url = f"{BASE}/users/self/missing_submissions"
    no_courses = olive.get(url, params={"observed_user_id": w.sam["id"]})
    assert no_courses.status_code == 401
    both = olive.get(url, params={"observed_user_id": w.sam["id"], "course_ids[]": [w.c1["id"], w.c2["id"]]})
    assert both.status_code == 401
    one = olive.get(url, params={"observed_user_id": w.sam["id"], "course_ids[]": [w.c1["id"]]})
    assert one.status_code == 200
    assert [m["id"] for m in one.json()] == [a["id"]]
    # Course-scoped observing gives no user-wide read.
    assert olive.get(f"{BASE}/users/{w.sam['id']}/missing_submissions").status_code == 401


def test_admin_only_calls_refuse_other_tokens(w: World) -> None:
    tom = w.as_user(w.tom)
    calls = [
        ("put", f"/users/{w.olive['id']}/observees/{w.sam['id']}", {}),
        ("get", "/accounts/1/users", {}),
        ("post", "/accounts/1/courses", {"course[name]": "X"}),
        ("post", "/accounts/1/users", {"pseudonym[unique_id]": "x"}),
        ("post", f"/courses/{w.c1['id']}/enrollments", {"enrollment[user_id]": w.sue["id"]}),
        ("post", "/accounts/1/sis_imports", {}),
        ("get", "/accounts/1/sis_imports", {}),
    ]
    for method, path, data in calls:
        r = getattr(tom, method)(BASE + path, data=data)
        assert r.status_code == 401, path
        assert r.json() == UNAUTHORIZED, path


# ---- enrollments --------------------------------------------------------------------------------


def test_enrollment_create_errors_use_message_body(w: World) -> None:
    url = f"{BASE}/courses/{w.c1['id']}/enrollments"
    assert w.admin.post(url, data={}).json() == {"message": "No parameters given"}
    r = w.admin.post(url, data={"enrollment[type]": "StudentEnrollment"})
    assert r.status_code == 400
    assert r.json()["message"].startswith("Can't create an enrollment without a user")
    bad = w.admin.post(url, data={"enrollment[user_id]": w.sue["id"], "enrollment[type]": "Boss"})
    assert bad.status_code == 400 and bad.json() == {"message": "Invalid type"}
    selfish = w.admin.post(
        url,
        data={
            "enrollment[user_id]": w.sam["id"],
            "enrollment[type]": "ObserverEnrollment",
            "enrollment[associated_user_id]": w.sam["id"],
        },
    )
    assert selfish.status_code == 400
    assert selfish.json() == {"message": "Cannot observe yourself"}
    ghost = w.admin.post(url, data={"enrollment[user_id]": 424242})
    assert ghost.status_code == 404


def test_course_scoped_observer_enrollment_and_delete_tasks(w: World) -> None:
    url = f"{BASE}/courses/sis_course_id:C-1/enrollments"
    payload = {
        "enrollment[user_id]": f"sis_user_id:{w.olive['sis_user_id']}",
        "enrollment[type]": "ObserverEnrollment",
        "enrollment[associated_user_id]": w.sam["id"],
        "enrollment[start_at]": "2026-12-01T00:00:00Z",
        "enrollment[end_at]": "2027-03-20T00:00:00Z",
    }
    r = w.admin.post(url, data=payload)
    assert r.status_code == 200
    e = r.json()
    assert e["type"] == "ObserverEnrollment" and e["associated_user_id"] == w.sam["id"]
    assert e["enrollment_state"] == "invited"  # Canvas's default
    assert e["start_at"] == "2026-12-01T00:00:00Z"
    again = w.admin.post(url, data={**payload, "enrollment[enrollment_state]": "active"})
    assert again.json()["id"] == e["id"]
    assert again.json()["enrollment_state"] == "active"
    # No user-level link was made.
    assert w.fake.observer_links() == set()
    d = w.admin.delete(f"{BASE}/courses/{w.c1['id']}/enrollments/{e['id']}", params={"task": "x"})
    assert d.status_code == 400
    d = w.admin.delete(f"{BASE}/courses/{w.c1['id']}/enrollments/{e['id']}")
    assert d.json()["enrollment_state"] == "completed"  # conclude is the default
    d = w.admin.delete(f"{BASE}/courses/{w.c1['id']}/enrollments/{e['id']}", params={"task": "deactivate"})
    assert d.json()["enrollment_state"] == "inactive"
    d = w.admin.delete(f"{BASE}/courses/{w.c1['id']}/enrollments/{e['id']}", params={"task": "delete"})
    assert d.json()["enrollment_state"] == "deleted"
    gone = w.admin.delete(f"{BASE}/courses/{w.c1['id']}/enrollments/{e['id']}", params={"task": "delete"})
    assert gone.status_code == 404


def test_enrollment_filters_by_type_and_state(w: World) -> None:
    w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    url = f"{BASE}/users/{w.olive['id']}/enrollments"
    r = w.admin.get(url, params={"type[]": "ObserverEnrollment", "include[]": "observed_users"})
    assert len(r.json()) == 2
    assert r.json()[0]["observed_user"]["id"] == w.sam["id"]
    assert w.admin.get(url, params={"type[]": "StudentEnrollment"}).json() == []
    w.admin.delete(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    assert w.admin.get(url).json() == []
    assert len(w.admin.get(url, params={"state[]": "deleted"}).json()) == 2


def test_course_enrollments_listing(w: World) -> None:
    r = w.admin.get(f"{BASE}/courses/{w.c1['id']}/enrollments", params={"type[]": "student"})
    assert {e["user_id"] for e in r.json()} == {w.sam["id"], w.sue["id"]}
    teacher = w.as_user(w.tom).get(f"{BASE}/courses/{w.c1['id']}/enrollments")
    assert teacher.status_code == 200
    assert len(teacher.json()) == 3


# ---- courses, users, work -----------------------------------------------------------------------


def test_course_show_accepts_sis_id_and_user_courses(w: World) -> None:
    r = w.admin.get(f"{BASE}/courses/sis_course_id:C-2")
    assert r.status_code == 200 and r.json()["id"] == w.c2["id"]
    assert w.admin.get(f"{BASE}/courses/sis_course_id:NOPE").status_code == 404
    assert w.as_user(w.tom).get(f"{BASE}/courses/{w.c2['id']}").status_code == 401
    mine = w.as_user(w.sam).get(f"{BASE}/users/self/courses", params={"include[]": "total_scores"})
    assert {c["id"] for c in mine.json()} == {w.c1["id"], w.c2["id"]}
    assert mine.json()[0]["enrollments"][0]["type"] == "student"
    assert "computed_current_score" in mine.json()[0]["enrollments"][0]


def test_assignment_buckets_and_grades(w: World) -> None:
    now = w.clock()
    past = w.fake.add_assignment(w.c1["id"], name="Past", due_at=now - 2 * 86400, points_possible=10)
    soon = w.fake.add_assignment(w.c1["id"], name="Soon", due_at=now + 2 * 86400)
    later = w.fake.add_assignment(w.c1["id"], name="Later", due_at=now + 20 * 86400)
    undated = w.fake.add_assignment(w.c1["id"], name="Any time")
    w.fake.set_submission(past["id"], w.sam["id"], submitted_at=now - 3 * 86400, score=8)
    url = f"{BASE}/users/{w.sam['id']}/courses/{w.c1['id']}/assignments"

    def bucket(name: str) -> set[int]:
        r = w.admin.get(url, params={"bucket": name})
        assert r.status_code == 200
        return {a["id"] for a in r.json()}

    assert bucket("past") == {past["id"]}
    assert bucket("overdue") == set()
    assert bucket("upcoming") == {soon["id"]}
    assert bucket("future") == {soon["id"], later["id"], undated["id"]}
    assert bucket("undated") == {undated["id"]}
    assert bucket("unsubmitted") == {soon["id"], later["id"], undated["id"]}
    assert w.admin.get(url, params={"bucket": "bogus"}).status_code == 400
    # include[]=submission is the caller's own: the admin gets none, the student its own.
    assert "submission" not in w.admin.get(url, params={"include[]": "submission"}).json()[0]
    sub = w.as_user(w.sam).get(url, params={"include[]": "submission"}).json()[0]["submission"]
    assert sub["score"] == 8 and sub["workflow_state"] == "graded" and sub["missing"] is False
    grades = w.admin.get(f"{BASE}/users/{w.sam['id']}/enrollments", params={"type[]": "StudentEnrollment"}).json()
    g = next(e for e in grades if e["course_id"] == w.c1["id"])["grades"]
    assert g["current_score"] == 80.0 and g["current_grade"] == "B"


def test_account_user_search_and_creation(w: World) -> None:
    url = f"{BASE}/accounts/1/users"
    short = w.admin.get(url, params={"search_term": "sa"})
    assert short.status_code == 400
    assert short.json() == {
        "status": "argument_error",
        "message": "search_term of 3 or more characters is required",
    }
    by_name = w.admin.get(url, params={"search_term": "student"}).json()
    assert {u["id"] for u in by_name} == {w.sam["id"], w.sue["id"]}
    by_sis = w.admin.get(url, params={"search_term": "O/1"}).json()
    assert [u["id"] for u in by_sis] == [w.olive["id"]]
    by_id = w.admin.get(url, params={"search_term": str(w.tom["id"])}).json()
    assert by_id[0]["id"] == w.tom["id"]
    created = w.admin.post(
        url,
        data={
            "user[name]": "Nina New",
            "pseudonym[unique_id]": "nina@example.org",
            "pseudonym[sis_user_id]": "N-1",
            "pseudonym[password]": "pw-123456",
        },
    )
    assert created.status_code == 200
    nina = created.json()
    assert nina["sis_user_id"] == "N-1" and nina["login_id"] == "nina@example.org"
    assert w.admin.get(f"{BASE}/users/sis_user_id:N-1").json()["id"] == nina["id"]
    dup = w.admin.post(url, data={"pseudonym[unique_id]": "NINA@example.org"})
    assert dup.status_code == 400
    assert "unique_id" in dup.json()["errors"]["pseudonym"]


def test_account_course_creation(w: World) -> None:
    url = f"{BASE}/accounts/1/courses"
    r = w.admin.post(
        url,
        data={"course[name]": "Art", "course[course_code]": "ART-1", "course[sis_course_id]": "A-1"},
    )
    assert r.status_code == 200
    assert r.json()["sis_course_id"] == "A-1" and r.json()["course_code"] == "ART-1"
    assert w.admin.get(f"{BASE}/courses/sis_course_id:A-1").json()["name"] == "Art"
    dup = w.admin.post(url, data={"course[name]": "Art 2", "course[sis_course_id]": "A-1"})
    assert dup.status_code == 400


def test_json_bodies_may_use_flat_canvas_keys_and_self_works_everywhere(w: World) -> None:
    c3 = w.fake.add_course(name="Chemistry")
    r = w.admin.post(
        f"{BASE}/courses/{c3['id']}/enrollments",
        json={"enrollment[user_id]": w.sue["id"], "enrollment[enrollment_state]": "active"},
    )
    assert r.status_code == 200
    assert r.json()["type"] == "StudentEnrollment"
    assert r.json()["enrollment_state"] == "active"
    sue = w.as_user(w.sue)
    mine = sue.get(f"{BASE}/users/self/enrollments").json()
    assert {e["course_id"] for e in mine} == {w.c1["id"], c3["id"]}
    assert sue.get(f"{BASE}/users/self/missing_submissions").status_code == 200
    assert sue.get(f"{BASE}/users/self/courses/{c3['id']}/assignments").status_code == 200
    assert sue.get(f"{BASE}/users/self/observers").json() == []


def test_unparseable_input_is_a_400_not_a_crash(w: World) -> None:
    r = w.admin.post(f"{BASE}/accounts/1/courses", data={"course[start_at]": "not a date"})
    assert r.status_code == 400
    assert r.json() == {"errors": [{"message": "Invalid parameter."}]}

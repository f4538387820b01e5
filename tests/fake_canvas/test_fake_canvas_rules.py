"""The fake refuses what Canvas refuses (docs/canvas-rules.md): observer reads, submissions, clock and token controls,
pairing-code redemption. Each test names the canvas-lms file its rule was read from."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from fake_canvas.testing import fake_session
from tests.fake_canvas.test_fake_api import BASE, UNAUTHORIZED, World

CHALLENGE = 'Bearer realm="canvas-lms"'


@pytest.fixture
def w() -> World:
    world = World()
    # Olive observes Sam in Algebra (c1) only, through a course ObserverEnrollment: no user-level link.
    world.fake.enroll(world.c1["id"], world.olive["id"], type="ObserverEnrollment", associated_user_id=world.sam["id"])
    return world


def _get(s: requests.Session, path: str, **params: Any) -> requests.Response:
    return s.get(BASE + path, params=params)


def _student_reads(w: World, course: dict[str, Any]) -> list[str]:
    """The /users/:student/... reads a mentor makes: enrollments, courses, missing work, one course's assignments."""
    sam = w.sam["id"]
    courses = f"/users/{sam}/courses"
    return [
        f"/users/{sam}/enrollments",
        courses,
        f"/users/{sam}/missing_submissions",
        f"{courses}/{course['id']}/assignments",
    ]


def test_course_only_observer_is_refused_the_students_user_resources(w: World) -> None:
    """app/models/user.rb (`set_policy`: :read / :read_as_parent only through `as_observer_observation_links`),
    app/controllers/enrollments_api_controller.rb#user_index_enrollments, courses_controller.rb
    (require_user_or_observer), users_controller.rb#missing_submissions and
    assignments_api_controller.rb#require_user_visibility: a course ObserverEnrollment grants none of them."""
    olive = w.as_user(w.olive)
    for path in (f"/users/{w.sam['id']}", *_student_reads(w, w.c1)):
        r = _get(olive, path)
        assert r.status_code == 401, path
        assert r.json() == UNAUTHORIZED, path
        assert "WWW-Authenticate" not in r.headers, path


def test_linked_observer_keeps_the_students_user_resources(w: World) -> None:
    """app/models/user.rb: the user-level link grants :read_as_parent, so every /users/:student/... read answers."""
    w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    olive = w.as_user(w.olive)
    for path in _student_reads(w, w.c2):
        assert _get(olive, path).status_code == 200, path


def test_course_only_observer_reads_through_its_own_enrollments(w: World) -> None:
    """app/controllers/enrollments_api_controller.rb#user_index_enrollments (self) and
    courses_controller.rb#courses_for_user (`include[]=observed_users` adds the observee's enrollment)."""
    olive = w.as_user(w.olive)
    (own,) = _get(olive, "/users/self/enrollments").json()
    assert own["type"] == "ObserverEnrollment" and own["associated_user_id"] == w.sam["id"]
    assert own["course_id"] == w.c1["id"]
    (course,) = _get(olive, "/users/self/courses", **{"include[]": ["observed_users", "total_scores"]}).json()
    assert course["id"] == w.c1["id"]
    kinds = {(e["type"], e["user_id"]) for e in course["enrollments"]}
    assert kinds == {("observer", w.olive["id"]), ("student", w.sam["id"])}
    (plain,) = _get(olive, "/users/self/courses").json()
    assert [e["type"] for e in plain["enrollments"]] == ["observer"]


def test_missing_submissions_in_observer_mode_needs_observed_course_ids(w: World) -> None:
    """app/controllers/users_controller.rb#missing_submissions: `observed_user_id` with `course_ids[]` the caller
    observes the student in; without course_ids[] or for another course, refused."""
    a = w.fake.add_assignment(w.c1["id"], name="Quiz", due_at=w.clock() - 3600)
    olive = w.as_user(w.olive)
    ok = _get(olive, "/users/self/missing_submissions", observed_user_id=w.sam["id"], **{"course_ids[]": w.c1["id"]})
    assert [m["id"] for m in ok.json()] == [a["id"]]
    assert _get(olive, "/users/self/missing_submissions", observed_user_id=w.sam["id"]).status_code == 401
    other = _get(olive, "/users/self/missing_submissions", observed_user_id=w.sam["id"], **{"course_ids[]": w.c2["id"]})
    assert other.status_code == 401


def test_course_assignments_give_the_callers_submission_unless_observed_users(w: World) -> None:
    """app/controllers/assignments_api_controller.rb#submissions_hash: `current_user_and_observed`; a hash of the
    caller's submissions, a list per assignment (caller and observees) with `include[]=observed_users`."""
    a = w.fake.add_assignment(w.c1["id"], name="Essay", due_at=w.clock() - 3600)
    w.fake.set_submission(a["id"], w.sam["id"], submitted_at=w.clock() - 7200, score=7)
    olive = w.as_user(w.olive)
    path = f"/courses/{w.c1['id']}/assignments"
    (plain,) = _get(olive, path, **{"include[]": "submission"}).json()
    assert "submission" not in plain  # the caller's own: an observer has none
    (both,) = _get(olive, path, **{"include[]": ["submission", "observed_users"]}).json()
    assert [(s["user_id"], s["score"]) for s in both["submission"]] == [(w.sam["id"], 7)]
    # The student itself gets its own submission as a single object.
    (own,) = _get(w.as_user(w.sam), path, **{"include[]": "submission"}).json()
    assert own["submission"]["user_id"] == w.sam["id"]
    # Biology: Olive holds no enrollment there.
    assert _get(olive, f"/courses/{w.c2['id']}/assignments").status_code == 401


def test_observer_sees_a_score_only_once_posted(w: World) -> None:
    """app/models/submission.rb (policy: an observer's :read_grade needs the submission posted)."""
    a = w.fake.add_assignment(w.c1["id"], name="Test", due_at=w.clock() - 3600)
    w.fake.set_submission(a["id"], w.sam["id"], submitted_at=w.clock() - 7200, score=9, posted=False)
    olive = w.as_user(w.olive)
    (row,) = _get(olive, f"/courses/{w.c1['id']}/assignments", **{"include[]": ["submission", "observed_users"]}).json()
    assert row["submission"][0]["score"] is None and row["submission"][0]["posted_at"] is None
    (own,) = _get(w.as_user(w.sam), f"/courses/{w.c1['id']}/assignments", **{"include[]": "submission"}).json()
    assert own["submission"]["score"] == 9


def test_students_submissions_refused_if_any_student_is_not_observed(w: World) -> None:
    """app/controllers/submissions_api_controller.rb#for_students: an observer may ask only for its observees."""
    a = w.fake.add_assignment(w.c1["id"], name="Lab", due_at=w.clock() + 3600)
    olive = w.as_user(w.olive)
    path = f"/courses/{w.c1['id']}/students/submissions"
    subs = _get(olive, path, **{"student_ids[]": [w.sam["id"]]}).json()
    assert [(s["assignment_id"], s["user_id"]) for s in subs] == [(a["id"], w.sam["id"])]
    refused = _get(olive, path, **{"student_ids[]": [w.sam["id"], w.sue["id"]]})
    assert refused.status_code == 401 and refused.json() == UNAUTHORIZED
    # The teacher may ask for anyone in the course.
    assert _get(w.as_user(w.tom), path, **{"student_ids[]": [w.sue["id"]]}).status_code == 200


def test_teacher_reads_course_level_but_not_user_level(w: World) -> None:
    """assignments_api_controller.rb#require_user_visibility (`:view_all_grades` and the student visible in the
    course) for the teacher; enrollments_api_controller.rb#user_index_enrollments needs :read_as_parent on the user."""
    tom = w.as_user(w.tom)
    assert _get(tom, f"/users/{w.sam['id']}/courses/{w.c1['id']}/assignments").status_code == 200
    assert _get(tom, f"/users/{w.sam['id']}/courses/{w.c2['id']}/assignments").status_code == 401
    assert _get(tom, f"/users/{w.sam['id']}/enrollments").status_code == 401


def test_course_enrollments_show_an_observer_its_own_and_its_observees(w: World) -> None:
    """app/controllers/enrollments_api_controller.rb#course_index_enrollments: own enrollments plus the observees'
    student enrollments (with grades), nobody else's."""
    olive = w.as_user(w.olive)
    rows = _get(olive, f"/courses/{w.c1['id']}/enrollments").json()
    assert {(e["type"], e["user_id"]) for e in rows} == {
        ("ObserverEnrollment", w.olive["id"]),
        ("StudentEnrollment", w.sam["id"]),
    }
    assert next(e for e in rows if e["user_id"] == w.sam["id"])["grades"] is not None
    assert _get(olive, f"/courses/{w.c2['id']}/enrollments").status_code == 401


# ---- test controls: the clock and revocation ------------------------------------------------------------------


def _oauth_token(w: World) -> dict[str, Any]:
    f = w.fake
    f.oauth_client_id, f.oauth_client_secret = "cid", "secret"
    f.state.users[w.olive["id"]]["password"] = "pw"
    s = fake_session(f)
    redirect = "http://portal.test/cb"
    params = {"client_id": "cid", "response_type": "code", "redirect_uri": redirect}
    back = s.post(
        "http://canvas.test/login/oauth2/auth",
        data={**params, "login": "olive", "password": "pw", "authorize": "1"},
        allow_redirects=False,
    )
    code = back.headers["Location"].split("code=")[1].split("&")[0]
    token = s.post(
        "http://canvas.test/login/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": "cid",
            "client_secret": "secret",
            "redirect_uri": redirect,
            "code": code,
        },
    )
    assert token.status_code == 200
    return dict(token.json())


def _refresh(w: World, refresh_token: str) -> requests.Response:
    return fake_session(w.fake).post(
        "http://canvas.test/login/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "cid",
            "client_secret": "secret",
            "refresh_token": refresh_token,
        },
    )


def test_advancing_the_clock_expires_an_oauth_token_after_its_hour(w: World) -> None:
    """lib/authentication_methods.rb and app/models/access_token.rb: an access token past `expires_at` is 401 with
    `WWW-Authenticate`; the refresh token still works and stays the same (lib/canvas/oauth/)."""
    token = _oauth_token(w)
    s = fake_session(w.fake, token["access_token"])
    assert s.get(f"{BASE}/users/self").status_code == 200
    control = fake_session(w.fake)
    moved = control.post("http://canvas.test/__fake__/clock", json={"advance_seconds": 3601})
    assert moved.status_code == 200 and moved.json()["now"]
    expired = s.get(f"{BASE}/users/self")
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == CHALLENGE
    refreshed = _refresh(w, token["refresh_token"])
    assert refreshed.status_code == 200 and "refresh_token" not in refreshed.json()
    assert fake_session(w.fake, refreshed.json()["access_token"]).get(f"{BASE}/users/self").status_code == 200
    assert control.post("http://canvas.test/__fake__/clock", json={"advance_seconds": -1}).status_code == 400


def test_revoking_a_users_tokens_answers_401_and_refuses_the_refresh(w: World) -> None:
    """lib/authentication_methods.rb (a deleted token: 401 with `WWW-Authenticate`) and lib/canvas/oauth/
    (a revoked refresh token: 400 invalid_request "refresh_token not found"); docs/canvas-rules.md, section 5."""
    token = _oauth_token(w)
    control = fake_session(w.fake)
    revoked = control.post("http://canvas.test/__fake__/revoke", json={"user_id": w.olive["id"]})
    assert revoked.json() == {"revoked": 1}
    r = fake_session(w.fake, token["access_token"]).get(f"{BASE}/users/self")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == CHALLENGE
    refused = _refresh(w, token["refresh_token"])
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_request", "error_description": "refresh_token not found"}
    assert w.admin.get(f"{BASE}/users/self").status_code == 200  # the admin token is not the user's


# ---- pairing-code redemption ------------------------------------------------------------------------------------


def _code(w: World) -> str:
    return str(w.admin.post(f"{BASE}/users/{w.sam['id']}/observer_pairing_codes").json()["code"])


def _redeem(w: World, code: str) -> requests.Response:
    return w.as_user(w.olive).post(f"{BASE}/users/self/observees", data={"pairing_code": code})


def test_redeeming_when_already_linked_is_200_and_uses_the_code_up(w: World) -> None:
    """app/controllers/user_observees_controller.rb#create (`create_or_restore` on an existing link) and
    observer_pairing_codes: the code is destroyed either way; docs/canvas-rules.md, section 4."""
    w.admin.put(f"{BASE}/users/{w.olive['id']}/observees/{w.sam['id']}")
    code = _code(w)
    first = _redeem(w, code)
    assert first.status_code == 200 and first.json()["observation_link_root_account_ids"]
    again = _redeem(w, code)
    assert again.status_code == 422
    assert again.json() == {"errors": [{"message": "Invalid pairing code."}]}


def test_expired_used_and_unknown_codes_are_the_same_422(w: World) -> None:
    """app/controllers/user_observees_controller.rb#create: expired, used and unknown codes cannot be told apart."""
    expired = _code(w)
    w.fake.advance_clock(7 * 86400 + 1)
    used = _code(w)
    assert _redeem(w, used).status_code == 200
    for code in (expired, used, "nope42"):
        r = _redeem(w, code)
        assert (r.status_code, r.json()) == (422, {"errors": [{"message": "Invalid pairing code."}]}), code

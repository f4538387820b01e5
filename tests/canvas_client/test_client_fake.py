"""CanvasClient against the fake Canvas, in-process (WSGIAdapter) and over real HTTP.

Every client method, pagination across pages, each error class, retry limits and the throttle.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from canvas_client import AdaptiveLimiter, CanvasClient, errors
from canvas_client.sis import (
    UserObserverRow,
    build_user_observers_csv,
    match_warnings,
    parse_processing_warnings,
)
from fake_canvas import FakeCanvas
from fake_canvas.testing import WSGIAdapter, running_fake_server

BASE = "http://canvas.test"
ADMIN = "admin-token-0123456789"
OAUTH_ID = "10000000000042"
OAUTH_SECRET = "oauth-secret-abcdef"
ROOT_ACCOUNT = 1


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


class RecordingLimiter:
    def __init__(self) -> None:
        self.released: list[tuple[float | None, float | None, bool]] = []

    def acquire(self) -> object:
        return None

    def release(
        self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool, rejected: bool = False
    ) -> None:
        self.released.append((remaining, cost, throttled))


@pytest.fixture
def fake() -> Iterator[FakeCanvas]:
    canvas = FakeCanvas(
        admin_token=ADMIN,
        seed="empty",
        oauth_client_id=OAUTH_ID,
        oauth_client_secret=OAUTH_SECRET,
        rng_seed=7,
    )
    yield canvas
    canvas.close()


@pytest.fixture
def session(fake: FakeCanvas) -> requests.Session:
    s = requests.Session()
    s.mount(BASE, WSGIAdapter(fake.wsgi_app))
    return s


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(session: requests.Session, sleeps: list[float]) -> CanvasClient:
    return CanvasClient(BASE, ADMIN, session=session, sleep=sleeps.append, random=lambda: 0.0)


@pytest.fixture
def as_user(fake: FakeCanvas, session: requests.Session, sleeps: list[float]) -> Callable[[int], CanvasClient]:
    def make(user_id: int) -> CanvasClient:
        return CanvasClient(
            BASE,
            fake.mint_token(user_id),
            session=session,
            sleep=sleeps.append,
            random=lambda: 0.0,
            acting_as="user",
        )

    return make


@pytest.fixture
def school(fake: FakeCanvas) -> SimpleNamespace:
    mentor = fake.add_user(name="Maya Mentor", sis_user_id="AIDE-1", login_id="maya")
    student = fake.add_user(name="Sam Student", sis_user_id="S-1", login_id="sam")
    other = fake.add_user(name="Olga Other", sis_user_id="S-2", login_id="olga")
    algebra = fake.add_course(name="Algebra 1", course_code="ALG1", sis_course_id="ALG1-P3")
    biology = fake.add_course(name="Biology", course_code="BIO", sis_course_id="BIO-P5")
    for course in (algebra, biology):
        fake.enroll(course["id"], student["id"])
        fake.enroll(course["id"], other["id"])
    return SimpleNamespace(
        mentor=mentor["id"],
        student=student["id"],
        other=other["id"],
        algebra=algebra["id"],
        biology=biology["id"],
    )


def requests_to(fake: FakeCanvas, method: str, pattern: str) -> list[dict[str, Any]]:
    return [r for r in fake.request_log if r["method"] == method and re.fullmatch(pattern, r["path"])]


# ------------------------------------------------------------------ users


def test_get_self_and_get_user_by_every_id_form(
    client: CanvasClient, fake: FakeCanvas, school: SimpleNamespace
) -> None:
    assert client.get_self().name == "Portal Service Account"
    slashed = fake.add_user(name="Slash Person", sis_user_id="S/9", login_id="slash")

    by_id = client.get_user(school.student)
    assert (by_id.name, by_id.sis_user_id, by_id.login_id) == ("Sam Student", "S-1", "sam")
    assert client.get_user("sis_user_id:S-1") == by_id
    assert client.get_user(f"{school.student}") == by_id
    assert client.get_user("sis_login_id:SAM").id == school.student  # case-insensitive
    assert client.get_user("sis_user_id:S/9").id == slashed["id"]
    with pytest.raises(errors.CanvasNotFound) as info:
        client.get_user("sis_user_id:NOBODY")
    assert info.value.status == 404
    assert info.value.message == "The specified resource does not exist."


def test_search_users_follows_pages(fake: FakeCanvas, session: requests.Session, school: SimpleNamespace) -> None:
    for n in range(23):
        fake.add_user(name=f"Pager {n:02d}", sis_user_id=f"P-{n}", login_id=f"pager{n}")
    client = CanvasClient(BASE, ADMIN, session=session, per_page=10)
    fake.clear_request_log()

    found = list(client.search_users(ROOT_ACCOUNT, "Pager"))

    assert sorted(u.name for u in found) == [f"Pager {n:02d}" for n in range(23)]
    assert len({u.id for u in found}) == 23
    assert len(requests_to(fake, "GET", r"/api/v1/accounts/1/users")) == 3


# ------------------------------------------------------------------ observer links


def test_user_level_link_lifecycle(client: CanvasClient, fake: FakeCanvas, school: SimpleNamespace) -> None:
    linked = client.add_observee(school.mentor, school.student, root_account_id=ROOT_ACCOUNT)
    again = client.add_observee("sis_user_id:AIDE-1", "sis_user_id:S-1")  # PUT is idempotent

    assert linked.id == again.id == school.student
    assert fake.observer_links() == {(school.mentor, school.student)}
    assert [u.id for u in client.list_observees(school.mentor)] == [school.student]
    assert [u.id for u in client.list_observers(school.student)] == [school.mentor]
    assert client.get_observee(school.mentor, school.student).name == "Sam Student"
    # Canvas adds an observer enrollment in each of the student's courses.
    observing = list(client.list_user_enrollments(school.mentor, type="ObserverEnrollment"))
    assert sorted(e.course_id for e in observing) == sorted([school.algebra, school.biology])
    assert {e.associated_user_id for e in observing} == {school.student}

    removed = client.remove_observee(school.mentor, school.student, root_account_id=ROOT_ACCOUNT)

    assert removed.id == school.student
    assert fake.observer_links() == set()
    assert fake.observer_enrollments() == []
    with pytest.raises(errors.CanvasNotFound):
        client.get_observee(school.mentor, school.student)
    with pytest.raises(errors.CanvasNotFound):
        client.remove_observee(school.mentor, school.student)


def test_cannot_observe_yourself(client: CanvasClient, school: SimpleNamespace) -> None:
    with pytest.raises(errors.CanvasValidationError) as info:
        client.add_observee(school.student, school.student)
    assert info.value.message == "Cannot observe yourself"
    assert "Cannot observe yourself" in info.value.user_message


def test_pairing_code_is_created_and_works_once(
    client: CanvasClient,
    fake: FakeCanvas,
    school: SimpleNamespace,
    as_user: Callable[[int], CanvasClient],
) -> None:
    code = client.create_pairing_code(school.student)

    assert re.fullmatch(r"[A-Za-z0-9]{6}", code.code)
    assert code.user_id == school.student and code.workflow_state == "active"
    assert code.expires_at is not None
    assert timedelta(days=6) < code.expires_at - datetime.now(UTC) <= timedelta(days=7)

    mentor = as_user(school.mentor)
    fake.clear_request_log()
    student = mentor.redeem_pairing_code(code.code)

    assert student.id == school.student
    assert fake.observer_links() == {(school.mentor, school.student)}
    with pytest.raises(errors.CanvasValidationError) as info:
        mentor.redeem_pairing_code(code.code)
    assert info.value.status == 422 and info.value.message == "Invalid pairing code."
    assert code.code not in str(info.value)
    # Two attempts, two requests: redemption is never retried.
    assert len(requests_to(fake, "POST", r"/api/v1/users/self/observees")) == 2


def test_pairing_code_needs_a_student_enrollment(client: CanvasClient, school: SimpleNamespace) -> None:
    with pytest.raises(errors.CanvasPermissionError) as info:
        client.create_pairing_code(school.mentor)
    assert info.value.status == 401
    assert info.value.user_message.startswith("The portal's Canvas account lacks a permission (401)")


# ------------------------------------------------------------------ courses and enrollments


def test_courses(client: CanvasClient, school: SimpleNamespace) -> None:
    algebra = client.get_course("sis_course_id:ALG1-P3")
    assert (algebra.id, algebra.name, algebra.course_code, algebra.sis_course_id) == (
        school.algebra,
        "Algebra 1",
        "ALG1",
        "ALG1-P3",
    )
    courses = list(client.list_user_courses(school.student, state="available"))
    assert sorted(c.id for c in courses) == sorted([school.algebra, school.biology])
    assert {c.workflow_state for c in courses} == {"available"}


def test_course_scoped_observer_enrollment(client: CanvasClient, fake: FakeCanvas, school: SimpleNamespace) -> None:
    start = datetime(2026, 9, 1, tzinfo=UTC)
    end = datetime(2027, 6, 30, tzinfo=UTC)

    enrollment = client.create_observer_enrollment(
        "sis_course_id:ALG1-P3", school.mentor, school.student, start_at=start, end_at=end
    )

    assert (enrollment.type, enrollment.enrollment_state) == ("ObserverEnrollment", "active")
    assert (enrollment.course_id, enrollment.user_id, enrollment.associated_user_id) == (
        school.algebra,
        school.mentor,
        school.student,
    )
    assert fake.observer_links() == set()  # one-off: no user-level link
    listed = list(client.list_course_enrollments(school.algebra, type="ObserverEnrollment", user_id=school.mentor))
    assert [e.id for e in listed] == [enrollment.id]

    deleted = client.delete_enrollment(school.algebra, enrollment.id)

    assert deleted.id == enrollment.id and deleted.enrollment_state == "deleted"
    assert fake.observer_enrollments() == []


def test_enrollment_validation_errors_carry_canvas_message(client: CanvasClient, school: SimpleNamespace) -> None:
    with pytest.raises(errors.CanvasValidationError) as info:
        client.create_observer_enrollment(school.algebra, school.student, school.student)
    assert info.value.status == 400
    assert info.value.message == "Cannot observe yourself"


def test_enrollments_pages_with_bookmarks_and_grades(
    client: CanvasClient, fake: FakeCanvas, session: requests.Session, school: SimpleNamespace
) -> None:
    quiz = fake.add_assignment(school.algebra, name="Quiz", due_at=time.time() - 3600)
    fake.set_submission(quiz["id"], school.student, submitted_at=time.time() - 7200, score=8.0)
    for n in range(12):
        extra = fake.add_user(name=f"Extra {n}", sis_user_id=f"X-{n}")
        fake.enroll(school.algebra, extra["id"])
    paged = CanvasClient(BASE, ADMIN, session=session, per_page=5)
    fake.clear_request_log()

    everyone = list(paged.list_course_enrollments(school.algebra, type="StudentEnrollment"))

    assert len(everyone) == 14 and len({e.id for e in everyone}) == 14
    pages = requests_to(fake, "GET", r"/api/v1/courses/\d+/enrollments")
    assert len(pages) == 3
    sam = next(e for e in everyone if e.user_id == school.student)
    assert sam.current_score == 80.0 and sam.current_grade is not None
    assert sam.course_section_id is not None


# ------------------------------------------------------------------ coursework


def test_assignments_and_missing_submissions_for_admin_and_observer(
    client: CanvasClient,
    fake: FakeCanvas,
    school: SimpleNamespace,
    as_user: Callable[[int], CanvasClient],
) -> None:
    now = time.time()
    essay = fake.add_assignment(school.algebra, name="Essay", due_at=now - 86400)
    fake.add_assignment(school.algebra, name="Worksheet", due_at=now + 86400)
    done = fake.add_assignment(school.biology, name="Lab report", due_at=now - 3600)
    fake.set_submission(done["id"], school.student, submitted_at=now - 7200, score=9.0)

    algebra = {a.name: a for a in client.list_assignments(school.student, school.algebra)}
    assert set(algebra) == {"Essay", "Worksheet"}
    # include[]=submission is the caller's submission: the admin has none, even under /users/:student/.
    assert algebra["Essay"].submission is None
    assert algebra["Essay"].due_at is not None and algebra["Essay"].html_url
    upcoming = list(client.list_assignments(school.student, school.algebra, bucket="upcoming"))
    assert [a.name for a in upcoming] == ["Worksheet"]
    student = as_user(school.student)
    essay_own = {a.name: a for a in student.list_assignments("self", school.algebra)}["Essay"]
    assert essay_own.submission is not None and essay_own.submission.missing
    biology = list(student.list_assignments("self", "sis_course_id:BIO-P5"))
    assert biology[0].submission_state == "graded" and biology[0].submission is not None
    assert biology[0].submission.score == 9.0

    assert [a.id for a in client.list_missing_submissions(school.student)] == [essay["id"]]

    client.add_observee(school.mentor, school.student)
    mentor = as_user(school.mentor)
    missing = list(
        mentor.list_missing_submissions(
            "self", observed_user_id=school.student, course_ids=[school.algebra, school.biology]
        )
    )
    assert [a.name for a in missing] == ["Essay"]
    # The mentor observes Sam, not Olga: Canvas refuses, and the error says whose account it is.
    with pytest.raises(errors.CanvasPermissionError) as info:
        list(mentor.list_missing_submissions("self", observed_user_id=school.other, course_ids=[school.algebra]))
    assert "your account" in info.value.user_message
    with pytest.raises(errors.CanvasPermissionError):
        list(mentor.list_user_enrollments(school.other))
    assert [e.user_id for e in mentor.list_user_enrollments(school.student)] == [
        school.student,
        school.student,
    ]


def test_observer_token_cannot_use_admin_calls(school: SimpleNamespace, as_user: Callable[[int], CanvasClient]) -> None:
    mentor = as_user(school.mentor)
    with pytest.raises(errors.CanvasPermissionError) as info:
        mentor.add_observee(school.mentor, school.student)
    assert info.value.status == 401
    assert not isinstance(info.value, errors.CanvasAuthError)  # the token itself is fine


# ------------------------------------------------------------------ SIS imports


def test_sis_import_round_trip_with_row_warnings(
    client: CanvasClient, fake: FakeCanvas, school: SimpleNamespace
) -> None:
    rows = [
        UserObserverRow("AIDE-1", "S-1"),
        UserObserverRow("AIDE-1", "S-404"),
    ]
    started = client.start_sis_import(ROOT_ACCOUNT, build_user_observers_csv(rows))
    assert started.id > 0

    finished = wait_until(lambda: (s := client.get_sis_import(ROOT_ACCOUNT, started.id)).finished and s)

    assert finished.workflow_state == "imported_with_messages" and finished.progress == 100
    assert fake.observer_links() == {(school.mentor, school.student)}
    warnings = parse_processing_warnings(finished.processing_warnings)
    assert match_warnings(rows, warnings) == {rows[1]: ["A student referenced a non-existent user S-404"]}
    imports = fake.sis_imports()
    assert len(imports) == 1 and not imports[0].get("batch_mode")


# ------------------------------------------------------------------ admin helpers


def test_admin_helpers_build_a_school_through_the_api(client: CanvasClient, fake: FakeCanvas) -> None:
    teacher = client.create_user(
        ROOT_ACCOUNT, name="Tess Teacher", unique_id="tess", sis_user_id="T-1", email="t@x.test"
    )
    pupil = client.create_user(ROOT_ACCOUNT, name="Pip Pupil", unique_id="pip", sis_user_id="S-9")
    course = client.create_course(ROOT_ACCOUNT, name="Chemistry", course_code="CHEM", sis_course_id="CHEM-1")
    client.enroll_user(course.id, teacher.id, type="TeacherEnrollment")
    enrolled = client.enroll_user(course.id, "sis_user_id:S-9", type="StudentEnrollment")

    assert enrolled.user_id == pupil.id and enrolled.enrollment_state == "active"
    assert client.get_user("sis_user_id:T-1").id == teacher.id
    assert client.get_course("sis_course_id:CHEM-1").name == "Chemistry"
    types = {e.type for e in client.list_course_enrollments(course.id)}
    assert types == {"TeacherEnrollment", "StudentEnrollment"}
    with pytest.raises(errors.CanvasValidationError) as info:
        client.create_user(ROOT_ACCOUNT, name="Dup", unique_id="tess")
    assert info.value.status == 400


# ------------------------------------------------------------------ tokens and errors


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("invalid", "Invalid access token."),
        ("revoked", "Revoked access token."),
        ("expired", "Expired access token."),
    ],
)
def test_bad_tokens_raise_auth_errors_without_retrying(
    client: CanvasClient, fake: FakeCanvas, sleeps: list[float], reason: str, message: str
) -> None:
    fake.invalidate_token(ADMIN, reason)
    fake.clear_request_log()

    with pytest.raises(errors.CanvasAuthError) as info:
        client.get_self()

    error = info.value
    assert (error.status, error.message) == (401, message)
    assert "An administrator must replace the portal's Canvas token" in error.user_message
    assert ADMIN not in str(error) and ADMIN not in repr(error) and ADMIN not in error.user_message
    assert len(fake.request_log) == 1 and sleeps == []

    fake.restore_token(ADMIN)
    assert client.get_self().id == 1


def test_5xx_is_retried_then_given_up_on(
    client: CanvasClient, fake: FakeCanvas, sleeps: list[float], school: SimpleNamespace
) -> None:
    fake.configure(error_rate=1.0)
    fake.clear_request_log()

    with pytest.raises(errors.CanvasTransientError) as info:
        client.get_user(school.student)
    assert info.value.status == 503
    assert len(fake.request_log) == 4 and len(sleeps) == 3  # 1 + max_retries

    fake.clear_request_log()
    with pytest.raises(errors.CanvasTransientError):
        client.create_observer_enrollment(school.algebra, school.mentor, school.student)
    assert len(fake.request_log) == 1 and len(sleeps) == 3  # POST: no retry


def test_dropped_answer_to_a_create_is_not_retried_though_canvas_acted(
    client: CanvasClient, fake: FakeCanvas, school: SimpleNamespace
) -> None:
    fake.configure(drop_rate=1.0)
    fake.clear_request_log()

    with pytest.raises(errors.CanvasTransientError) as info:
        client.create_observer_enrollment(school.algebra, school.mentor, school.student)

    assert info.value.status is None
    assert len(fake.request_log) == 1
    # The enrollment exists: only the caller can tell, by looking, which is why there is no retry.
    fake.configure(drop_rate=0.0)
    found = list(client.list_course_enrollments(school.algebra, type="ObserverEnrollment", user_id=school.mentor))
    assert len(found) == 1


def test_idempotent_put_survives_dropped_answers(
    session: requests.Session, fake: FakeCanvas, school: SimpleNamespace
) -> None:
    fake.configure(drop_rate=0.5)
    sleeps: list[float] = []
    client = CanvasClient(BASE, ADMIN, session=session, sleep=sleeps.append, random=lambda: 0.0, max_retries=20)
    fake.clear_request_log()

    for _ in range(5):
        assert client.add_observee(school.mentor, school.student).id == school.student

    assert fake.observer_links() == {(school.mentor, school.student)}
    puts = requests_to(fake, "PUT", r"/api/v1/users/\d+/observees/\d+")
    assert len(puts) == 5 + len(sleeps) and sleeps  # some answers were dropped and retried


# ------------------------------------------------------------------ throttle


def test_throttled_requests_retry_to_their_limit(
    session: requests.Session, fake: FakeCanvas, school: SimpleNamespace
) -> None:
    # Each request costs more than the bucket holds and nothing drains: the third is refused.
    fake.configure(throttle={"hwm": 100, "outflow": 0.0, "cost_min": 60, "cost_max": 60})
    limiter = RecordingLimiter()
    sleeps: list[float] = []
    client = CanvasClient(
        BASE,
        ADMIN,
        session=session,
        limiter=limiter,
        sleep=sleeps.append,
        random=lambda: 1.0,
        max_throttle_retries=4,
    )
    client.get_user(school.student)
    client.get_user(school.student)
    fake.clear_request_log()

    with pytest.raises(errors.CanvasRateLimited) as info:
        client.get_user(school.student)

    assert info.value.status == 403 and "Rate Limit Exceeded" in info.value.message
    assert len(fake.request_log) == 5 and sleeps == [0.5, 1.0, 2.0, 4.0]
    assert limiter.released[-1] == (0.0, None, True)
    assert limiter.released[0][0] == pytest.approx(40.0) and limiter.released[0][1] == 60.0

    fake.clear_request_log()
    with pytest.raises(errors.CanvasRateLimited):
        client.create_pairing_code(school.student)
    assert len(fake.request_log) == 1  # not idempotent: no retry


def test_limiter_sees_the_fakes_rate_headers(session: requests.Session, school: SimpleNamespace) -> None:
    limiter = RecordingLimiter()
    client = CanvasClient(BASE, ADMIN, session=session, limiter=limiter)

    list(client.list_observers(school.student))
    client.get_user(school.student)

    assert len(limiter.released) == 2
    for remaining, cost, throttled in limiter.released:
        assert remaining is not None and 500 < remaining <= 600
        assert cost is not None and 0.1 <= cost <= 1.0
        assert throttled is False


# ------------------------------------------------------------------ OAuth2


def test_oauth_sign_in_exchange_refresh_and_revoke(
    client: CanvasClient, session: requests.Session, school: SimpleNamespace
) -> None:
    redirect_uri = "https://portal.test/accounts/canvas/callback/"
    url = client.oauth_authorize_url(client_id=OAUTH_ID, redirect_uri=redirect_uri, state="st-1")
    page = session.get(url)
    assert page.status_code == 200 and "<form" in page.text

    form = dict(parse_qs(urlsplit(url).query, keep_blank_values=True))
    answer = session.post(
        f"{BASE}/login/oauth2/auth",
        data={**{k: v[0] for k, v in form.items()}, "login": "maya", "password": "canvas-demo"},
        allow_redirects=False,
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    assert query["state"] == ["st-1"]
    code = query["code"][0]

    token = client.oauth_exchange_code(
        client_id=OAUTH_ID, client_secret=OAUTH_SECRET, redirect_uri=redirect_uri, code=code
    )
    assert token.user_id == school.mentor and token.expires_in == 3600 and token.refresh_token
    mentor = CanvasClient(BASE, token.access_token, session=session, acting_as="user")
    assert mentor.get_self().id == school.mentor

    with pytest.raises(errors.CanvasValidationError) as reused:
        client.oauth_exchange_code(client_id=OAUTH_ID, client_secret=OAUTH_SECRET, redirect_uri=redirect_uri, code=code)
    assert reused.value.message.startswith("invalid_grant")
    with pytest.raises(errors.CanvasError) as bad_secret:
        client.oauth_refresh(client_id=OAUTH_ID, client_secret="wrong", refresh_token=token.refresh_token)
    assert bad_secret.value.status == 401 and "invalid_client" in bad_secret.value.message
    assert "wrong" not in str(bad_secret.value)

    fresh = client.oauth_refresh(client_id=OAUTH_ID, client_secret=OAUTH_SECRET, refresh_token=token.refresh_token)
    assert fresh.access_token != token.access_token and fresh.refresh_token == token.refresh_token
    renewed = CanvasClient(BASE, fresh.access_token, session=session, acting_as="user")
    assert renewed.get_self().id == school.mentor

    client.oauth_revoke(fresh.access_token)
    with pytest.raises(errors.CanvasAuthError) as revoked:
        renewed.get_self()
    assert revoked.value.message == "Revoked access token."
    assert "Sign in with Canvas again" in revoked.value.user_message


# ------------------------------------------------------------------ over real HTTP


def test_over_http_paging_errors_and_drops(fake: FakeCanvas, school: SimpleNamespace) -> None:
    for n in range(15):
        fake.add_user(name=f"Wire {n:02d}", sis_user_id=f"W-{n}")
    with running_fake_server(fake) as base_url:
        sleeps: list[float] = []
        with CanvasClient(
            base_url, ADMIN, per_page=4, sleep=sleeps.append, random=lambda: 0.0, timeout=(2, 5)
        ) as client:
            assert client.get_self().id == 1
            assert len(list(client.search_users(ROOT_ACCOUNT, "Wire"))) == 15
            assert client.get_user("sis_user_id:S-1").id == school.student

            fake.configure(drop_rate=1.0)
            with pytest.raises(errors.CanvasTransientError) as dropped:
                client.get_user(school.student)
            assert dropped.value.status is None and len(sleeps) == 3
            assert ADMIN not in str(dropped.value)
            fake.configure(drop_rate=0.0)

            fake.invalidate_token(ADMIN)
            with pytest.raises(errors.CanvasAuthError):
                client.get_self()


def test_over_http_connection_refused_is_transient() -> None:
    with running_fake_server(FakeCanvas(admin_token=ADMIN)) as base_url:
        pass  # the server is gone: its port now refuses connections
    sleeps: list[float] = []
    client = CanvasClient(base_url, ADMIN, sleep=sleeps.append, random=lambda: 0.0, timeout=(1, 1))
    with pytest.raises(errors.CanvasTransientError) as info:
        client.get_self()
    assert "ConnectionError" in info.value.message and len(sleeps) == 3
    assert ADMIN not in str(info.value)


def _hammer(client: CanvasClient, user_id: int, threads: int, per_thread: int) -> list[Exception]:
    refused: list[Exception] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            try:
                client.get_user(user_id)
            except errors.CanvasError as exc:
                refused.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    return refused


def test_adaptive_limiter_keeps_concurrent_workers_under_the_throttle() -> None:
    """16 threads against Canvas's real bucket: 12 requests in flight already reserve 600 units."""
    throttled: dict[str, int] = {}
    for label, limiter in (("unpaced", None), ("paced", AdaptiveLimiter())):
        canvas = FakeCanvas(admin_token=ADMIN, rng_seed=1)
        canvas.configure(latency_ms=40, throttle={"cost_min": 0.05, "cost_max": 0.05})
        student = canvas.add_user(name="Busy Student")
        with running_fake_server(canvas) as base_url:
            client = CanvasClient(base_url, ADMIN, limiter=limiter, max_throttle_retries=0, timeout=(2, 10))
            try:
                refused = _hammer(client, student["id"], threads=16, per_thread=8)
            finally:
                client.close()  # before the server stops, so no keep-alive socket races it
        throttled[label] = sum(1 for r in canvas.request_log if r["status"] == 403)
        assert all(isinstance(e, errors.CanvasRateLimited) for e in refused)
        assert len(refused) == throttled[label]
        if isinstance(limiter, AdaptiveLimiter):
            assert 1 < limiter.max_in_flight_seen <= 11

    assert throttled["unpaced"] > 0
    assert throttled["paced"] == 0

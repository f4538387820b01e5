"""The mentor's pages: my students, a student's courses and work (scope, cache, Canvas down), 404s, audit."""

from __future__ import annotations

import datetime
import logging

import pytest
import time_machine
from django.utils import timezone

from mentorship.accounts import canvas_tokens
from mentorship.accounts.models import CanvasCredential, User
from mentorship.assignments.models import AssignmentCourse, LinkMethod, MentorAssignment
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from tests.accounts.canvas_world import World
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory, UserFactory

TODAY = datetime.date.today


def _assignment(world: World, program, coordinator, **kwargs) -> MentorAssignment:  # type: ignore[no-untyped-def]
    defaults = {
        "program": program,
        "mentor": world.mentor_person,
        "student": world.student_person,
        "status": MentorAssignment.Status.APPROVED,
        "proposed_by": coordinator,
        "decided_by": coordinator,
        "link_state": MentorAssignment.LinkState.LINKED,
    }
    defaults.update(kwargs)
    return AssignmentFactory(**defaults)


def _canvas_mentor(world: World, client) -> User:  # type: ignore[no-untyped-def]
    assert world.canvas_sign_in(client).status_code == 302
    return User.objects.get(person=world.mentor_person)


def _local_mentor(world: World, client) -> User:  # type: ignore[no-untyped-def]
    """A mentor signed in with a password: no Canvas token, so no student data (only the sign-in prompt)."""
    user = UserFactory(username="local-mentor", person=world.mentor_person)
    login(client, user)
    return user


def _linked_mentor(world: World, client) -> User:  # type: ignore[no-untyped-def]
    """An all-courses mentor: a user-level link in Canvas, signed in with Canvas."""
    world.link(world.mentor, world.student)
    return _canvas_mentor(world, client)


def _refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.STUDENT_DATA_REFUSED).order_by("id"))


def _views() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.STUDENT_DATA_VIEWED).order_by("id"))


# --- my students ------------------------------------------------------------------------------------------------


def test_my_students_lists_active_upcoming_and_recently_ended_with_link_state(world, program, coordinator, client):
    today = timezone.localdate()

    def mine(name: str | None = None, *, days: tuple[int, int] | None = None, **fields):
        """One of the mentor's assignments: for a new student called `name`, from and to `days` away from today."""
        if name:
            fields["student"] = PersonFactory(name=name)
        if days:
            fields["starts_on"], fields["ends_on"] = (today + datetime.timedelta(days=d) for d in days)
        return _assignment(world, program, coordinator, **fields)

    active = mine()
    waiting = mine(
        student=world.student2_person,
        link_method=LinkMethod.PAIRING_CODE,
        link_state=MentorAssignment.LinkState.AWAITING_REDEMPTION,
    )
    upcoming = mine("Uma Upcoming", days=(10, 60), link_state=MentorAssignment.LinkState.NONE)
    ended = mine(
        "Eli Ended",
        days=(-60, -5),
        status=MentorAssignment.Status.ENDED,
        link_state=MentorAssignment.LinkState.UNLINKED,
    )
    mine("Paula Proposed", status="proposed")
    mine("Rita Rejected", status="rejected")
    mine("Olga Oldended", days=(-200, -100), status=MentorAssignment.Status.ENDED)
    AssignmentFactory(program=program, student=PersonFactory(name="Nina Notmine"), status="approved")
    _local_mentor(world, client)

    html = client.get("/my/").content.decode()

    for a in (active, waiting, upcoming, ended):
        assert f'id="assignment-{a.pk}"' in html
    for name in ("Paula Proposed", "Rita Rejected", "Olga Oldended", "Nina Notmine"):
        assert name not in html
    assert "Linked" in html
    assert "Waiting for you to enter your pairing code" in html
    assert "Ended" in html
    assert "Casey Coordinator" in html and "mailto:coordinator@school.test" in html
    assert f"/my/students/{active.pk}/" in html
    # Only active assignments link to the student's page.
    assert f"/my/students/{upcoming.pk}/" not in html.replace(f"/my/students/{upcoming.pk}/link/", "")
    assert f'href="/my/students/{ended.pk}/"' not in html
    assert html.index("Now") < html.index("Starting soon") < html.index("Ended in the last")


def test_my_students_shows_scope_courses(world, program, coordinator, client):
    a = _assignment(world, program, coordinator, scope=MentorAssignment.Scope.COURSES)
    AssignmentCourse.objects.create(assignment=a, canvas_course_id=world.algebra["id"], name="Algebra I")
    _local_mentor(world, client)
    html = client.get("/my/").content.decode()
    assert "Algebra I" in html
    assert "All courses" not in html


def test_my_students_refuses_anonymous_and_people_who_are_not_mentors(world, client, coordinator):
    assert client.get("/my/")["Location"].startswith("/accounts/login/")
    login(client, coordinator)
    assert client.get("/my/").status_code == 404


# --- a student's page ---------------------------------------------------------------------------------------------


def test_student_page_with_the_mentors_own_token(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    world.link(world.mentor, world.student)
    user = _canvas_mentor(world, client)
    # With the portal's own token refused, only the mentor's token can answer.
    world.fake.invalidate_token(world.fake.admin_token)

    response = client.get(f"/my/students/{a.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    for course in ("Algebra I", "Biology", "Chemistry"):
        assert f"{course} homework due soon" in html
        assert f"{course} quiz missed" in html
        assert f"{course} project far away" not in html
    assert "as you see it with your Canvas sign-in" in html
    (event,) = _views()
    assert event.actor_id == user.pk
    assert event.student_id == world.student_person.pk
    assert event.program_id == program.pk
    assert event.outcome == "ok"
    assert sorted(event.details["courses"]) == sorted([world.algebra["id"], world.biology["id"], world.chemistry["id"]])
    assert event.details["source"] == "mentor_token"


def test_missing_work_excludes_submitted_work(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    _linked_mentor(world, client)
    html = client.get(f"/my/students/{a.pk}/").content.decode()
    missing_section = html.split("<h3>Missing</h3>", 1)[1]
    assert "quiz missed" in missing_section
    assert "lab handed in" not in html


def test_course_scoped_mentor_reads_through_its_own_course_enrollments(world, program, coordinator, client):
    """Only course ObserverEnrollments, no user-level link: Canvas refuses /users/:student/... (docs/canvas-rules.md,
    section 1), so the page reads /users/self/courses and /courses/:c/... and still shows the in-scope work."""
    a = _assignment(world, program, coordinator, scope=MentorAssignment.Scope.COURSES, link_method=LinkMethod.COURSES)
    AssignmentCourse.objects.create(assignment=a, canvas_course_id=world.algebra["id"], name="Algebra I")
    AssignmentCourse.objects.create(assignment=a, canvas_course_id=world.biology["id"], name="Biology")
    for course in (world.algebra, world.biology, world.chemistry):  # Chemistry: another assignment's course
        world.fake.enroll(
            course["id"], world.mentor["id"], type="ObserverEnrollment", associated_user_id=world.student["id"]
        )
    _canvas_mentor(world, client)
    world.fake.clear_request_log()

    html = client.get(f"/my/students/{a.pk}/").content.decode()

    assert "Algebra I homework due soon" in html
    assert "Biology quiz missed" in html
    assert "Chemistry" not in html
    assert "Current grade" in html
    (event,) = _views()
    assert sorted(event.details["courses"]) == sorted([world.algebra["id"], world.biology["id"]])
    assert event.details["source"] == "mentor_token"
    paths = [r["path"] for r in world.fake.request_log]
    assert not any(p.startswith(f"/api/v1/users/{world.student['id']}") for p in paths), paths
    assert all(r["status"] == 200 for r in world.fake.request_log)


def test_scope_filter_applies_to_the_mentors_token_too(world, program, coordinator, client):
    a = _assignment(world, program, coordinator, scope=MentorAssignment.Scope.COURSES)
    AssignmentCourse.objects.create(assignment=a, canvas_course_id=world.biology["id"], name="Biology")
    world.link(world.mentor, world.student)  # an observee link sees every course; the portal still shows scope only
    _canvas_mentor(world, client)
    html = client.get(f"/my/students/{a.pk}/").content.decode()
    assert "Biology homework due soon" in html
    assert "Algebra" not in html and "Chemistry" not in html


def test_mentor_token_without_a_canvas_link_gets_a_sentence(world, program, coordinator, client):
    a = _assignment(world, program, coordinator, link_state=MentorAssignment.LinkState.PENDING)
    _canvas_mentor(world, client)
    response = client.get(f"/my/students/{a.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Canvas does not show you this student" in html
    assert "homework due soon" not in html
    (event,) = _views()
    assert event.outcome == "failed"
    assert event.details["courses"] == []


def test_expired_mentor_token_is_refreshed_on_the_page(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    world.link(world.mentor, world.student)
    user = _canvas_mentor(world, client)
    old = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)
    # Canvas expires the token earlier than it announced.
    world.fake.invalidate_token(old, "expired")

    html = client.get(f"/my/students/{a.pk}/").content.decode()

    assert "Algebra I homework due soon" in html
    new = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)
    assert new != old


def test_second_view_is_served_from_the_cache_and_still_audited(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    _linked_mentor(world, client)
    client.get(f"/my/students/{a.pk}/")
    world.fake.clear_request_log()
    html = client.get(f"/my/students/{a.pk}/").content.decode()
    assert "Algebra I homework due soon" in html
    # One cheap call proves Canvas still accepts the mentor's token before the cached copy is shown.
    assert [r["path"] for r in world.fake.request_log] == ["/api/v1/users/self"]
    first, second = _views()
    assert first.details["from_cache"] is False
    assert second.details["from_cache"] is True


def test_canvas_down_shows_the_last_data_with_its_time(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    _linked_mentor(world, client)
    client.get(f"/my/students/{a.pk}/")
    world.fake.configure(error_rate=1.0)
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5), tick=True):
        html = client.get(f"/my/students/{a.pk}/").content.decode()
    assert "Canvas is slow or not answering right now." in html
    assert "Showing what Canvas told us on" in html
    assert "Algebra I homework due soon" in html
    last = _views()[-1]
    assert last.details["stale"] is True
    assert last.outcome == "ok"


def test_canvas_down_with_nothing_cached_says_so(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    _linked_mentor(world, client)
    world.fake.configure(error_rate=1.0)
    response = client.get(f"/my/students/{a.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Canvas is slow or not answering right now." in html
    assert "Please try again in a few minutes." in html
    assert "homework" not in html
    assert _views()[-1].outcome == "failed"


def test_student_data_stays_out_of_the_logs(world, program, coordinator, client, caplog):
    a = _assignment(world, program, coordinator)
    _linked_mentor(world, client)
    with caplog.at_level(logging.DEBUG):
        client.get(f"/my/students/{a.pk}/")
        world.fake.configure(error_rate=1.0)
        client.get(f"/my/students/{a.pk}/")
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("Sasha", "Algebra", "homework", "quiz"):
        assert secret not in text


# --- 404s -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["other_mentors_student", "guessed_id", "ended", "past_end_date", "not_started", "proposed", "cancelled"],
)
def test_student_page_is_404_outside_the_mentors_active_assignments(world, program, coordinator, client, case):
    today = timezone.localdate()
    if case == "other_mentors_student":
        a = AssignmentFactory(program=program, student=world.student_person, status="approved")
        assignment_id = a.pk
    elif case == "guessed_id":
        assignment_id = 987654
    else:
        fields: dict = {
            "ended": {"status": MentorAssignment.Status.ENDED},
            "past_end_date": {
                "starts_on": today - datetime.timedelta(days=30),
                "ends_on": today - datetime.timedelta(days=1),
            },
            "not_started": {
                "starts_on": today + datetime.timedelta(days=1),
                "ends_on": today + datetime.timedelta(days=30),
            },
            "proposed": {"status": MentorAssignment.Status.PROPOSED},
            "cancelled": {"status": MentorAssignment.Status.CANCELLED},
        }[case]
        assignment_id = _assignment(world, program, coordinator, **fields).pk
    _local_mentor(world, client)
    world.fake.clear_request_log()
    for url in (
        f"/my/students/{assignment_id}/",
        f"/my/students/{assignment_id}/link/",
    ):
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404, url
    assert client.post(f"/my/students/{assignment_id}/link/now/").status_code == 404
    assert world.fake.request_log == []
    assert _views() == []


def test_other_mentor_gets_404_for_my_student(world, program, coordinator, client, other_mentor):
    a = _assignment(world, program, coordinator)
    login(client, other_mentor)
    assert client.get(f"/my/students/{a.pk}/").status_code == 404


def test_coordinator_of_the_program_gets_404_on_mentor_pages(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    login(client, coordinator)
    assert client.get(f"/my/students/{a.pk}/").status_code == 404


def test_anonymous_is_sent_to_sign_in(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    response = client.get(f"/my/students/{a.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_cache_outage_does_not_break_the_page(world, program, coordinator, client, monkeypatch):
    from mentorship.mentors import services

    class BrokenCache:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

        set = get

    a = _assignment(world, program, coordinator)
    _linked_mentor(world, client)
    monkeypatch.setattr(services, "cache", BrokenCache())
    response = client.get(f"/my/students/{a.pk}/")
    assert response.status_code == 200
    assert "Algebra I homework due soon" in response.content.decode()


def test_slow_canvas_times_out_fast_and_shows_the_last_data(world, program, coordinator, client, monkeypatch, settings):
    from fake_canvas.testing import running_fake_server

    a = _assignment(world, program, coordinator)
    _linked_mentor(world, client)
    monkeypatch.setattr(canvas_tokens, "canvas_session", lambda: None)
    monkeypatch.setattr(canvas_tokens, "USER_TIMEOUT", (1.0, 0.3))
    with running_fake_server(world.fake) as url:
        settings.CANVAS_BASE_URL = url
        assert "Algebra I homework due soon" in client.get(f"/my/students/{a.pk}/").content.decode()
        world.fake.configure(latency_ms=1500)
        with time_machine.travel(timezone.now() + datetime.timedelta(minutes=5), tick=True):
            started = datetime.datetime.now()
            html = client.get(f"/my/students/{a.pk}/").content.decode()
            waited = (datetime.datetime.now() - started).total_seconds()
        world.fake.configure(latency_ms=0)
    assert "Canvas is slow or not answering right now." in html
    assert "Showing what Canvas told us on" in html
    assert "Algebra I homework due soon" in html
    assert waited < 5


def test_my_students_query_count_does_not_grow_with_assignments(
    world, program, coordinator, client, django_assert_max_num_queries
):
    _local_mentor(world, client)
    _assignment(world, program, coordinator)
    client.get("/my/")
    for _ in range(5):
        _assignment(world, program, coordinator, student=PersonFactory())
    # One query per card at most (the pairing-code lookup runs only for pairing-code assignments).
    with django_assert_max_num_queries(20):
        response = client.get("/my/")
    assert response.content.decode().count('class="card mentor-assignment"') == 6


def test_canvas_limits_the_mentors_token_to_courses_it_observes(world, program, coordinator, client):
    a = _assignment(world, program, coordinator, scope=MentorAssignment.Scope.COURSES, link_method=LinkMethod.COURSES)
    AssignmentCourse.objects.create(assignment=a, canvas_course_id=world.algebra["id"], name="Algebra I")
    AssignmentCourse.objects.create(assignment=a, canvas_course_id=world.biology["id"], name="Biology")
    # Only the Algebra observer enrollment exists in Canvas so far (Biology's is still being made).
    world.fake.enroll(
        world.algebra["id"], world.mentor["id"], type="ObserverEnrollment", associated_user_id=world.student["id"]
    )
    _canvas_mentor(world, client)
    html = client.get(f"/my/students/{a.pk}/").content.decode()
    assert "Algebra I homework due soon" in html
    assert "Biology homework" not in html
    assert _views()[-1].details["courses"] == [world.algebra["id"]]

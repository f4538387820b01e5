"""The mentor's own Canvas token is the only way to a student's data: no token, a revoked one, refusals, `?next=`."""

from __future__ import annotations

import datetime

from django.utils import timezone

from mentorship.accounts import canvas_tokens
from mentorship.accounts.models import CanvasCredential
from mentorship.assignments.models import MentorAssignment
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.mentors import services
from tests.accounts.canvas_world import World
from tests.mentors.test_pages import _assignment, _canvas_mentor, _linked_mentor, _local_mentor, _refusals, _views

PROMPT = "Sign in with Canvas again to see Sasha Student\u2019s work."


def _student_paths(world: World) -> list[str]:
    return [r["path"] for r in world.fake.request_log if f"/users/{world.student['id']}" in r["path"]]


def test_mentor_without_a_canvas_token_is_asked_to_sign_in_and_sees_nothing(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    world.link(world.mentor, world.student)
    user = _local_mentor(world, client)
    world.fake.clear_request_log()

    response = client.get(f"/my/students/{a.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert PROMPT in html
    assert "homework" not in html and "quiz" not in html
    # Nothing was read from Canvas, with any token (the portal's included).
    assert world.fake.request_log == []
    assert f'href="/accounts/canvas/start/?next=%2Fmy%2Fstudents%2F{a.pk}%2F"' in html
    (refused,) = _refusals()
    assert refused.actor_id == user.pk and refused.student_id == world.student_person.pk
    assert refused.outcome == "refused"
    assert refused.details["reason"] == services.REFUSED_NO_CREDENTIAL
    assert _views() == []


def test_revoked_mentor_sees_the_prompt_and_no_cached_copy(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    user = _linked_mentor(world, client)
    assert "Algebra I homework due soon" in client.get(f"/my/students/{a.pk}/").content.decode()
    # The mentor removes Mentor Link from their approved integrations in Canvas.
    assert world.fake.revoke_user_tokens(world.mentor["id"]) == 1
    world.fake.clear_request_log()

    html = client.get(f"/my/students/{a.pk}/").content.decode()

    assert PROMPT in html
    assert "homework" not in html and "Algebra" not in html
    assert _student_paths(world) == []
    # One refresh was tried (Canvas refused it), then the credential was dropped.
    assert [r["path"] for r in world.fake.request_log].count("/login/oauth2/token") == 1
    assert not CanvasCredential.objects.filter(user=user).exists()
    refused = _refusals()[-1]
    assert refused.details["reason"] == services.REFUSED_TOKEN_REVOKED
    # The next view asks at once, without calling Canvas.
    world.fake.clear_request_log()
    assert PROMPT in client.get(f"/my/students/{a.pk}/").content.decode()
    assert world.fake.request_log == []
    reasons = [e.details["reason"] for e in _refusals()]
    assert reasons == [services.REFUSED_TOKEN_REVOKED, services.REFUSED_NO_CREDENTIAL]


def test_token_past_its_hour_in_canvas_is_refreshed_once(world, program, coordinator, client):
    a = _assignment(world, program, coordinator)
    user = _linked_mentor(world, client)
    old = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)
    world.fake.advance_clock(3601)  # Canvas's clock: the portal still believes the token is good

    html = client.get(f"/my/students/{a.pk}/").content.decode()

    assert "Algebra I homework due soon" in html
    assert canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted) != old
    assert _views()[-1].outcome == "ok"


def test_refusals_outside_the_dates_and_for_someone_elses_student_are_audited(world, program, coordinator, client):
    today = timezone.localdate()
    ended = _assignment(
        world,
        program,
        coordinator,
        starts_on=today - datetime.timedelta(days=30),
        ends_on=today - datetime.timedelta(days=1),
    )
    others = _assignment(world, program, coordinator, mentor=world.student2_person)
    _canvas_mentor(world, client)
    assert client.get(f"/my/students/{ended.pk}/").status_code == 404
    assert client.get(f"/my/students/{others.pk}/").status_code == 404
    assert client.get("/my/students/987654/").status_code == 404
    reasons = [(e.details["reason"], e.details["requested"], e.student_id) for e in _refusals()]
    assert reasons == [
        (services.REFUSED_OUTSIDE_DATES, ended.pk, world.student_person.pk),
        (services.REFUSED_NOT_THEIRS, others.pk, None),  # someone else's student is not named
        (services.REFUSED_NO_SUCH, 987654, None),
    ]
    assert all(e.outcome == "refused" for e in _refusals())
    assert AuditEvent.objects.filter(action=Action.STUDENT_DATA_VIEWED).count() == 0


def test_sign_in_with_canvas_keeps_next_through_the_round_trip(world, program, coordinator, client):
    a = _assignment(world, program, coordinator, scope=MentorAssignment.Scope.ALL_COURSES)
    world.link(world.mentor, world.student)
    _local_mentor(world, client)
    path, params = world.authorize(client, next_url=f"/my/students/{a.pk}/")
    back = client.get(path, params)
    assert back.status_code == 302
    assert back["Location"] == f"/my/students/{a.pk}/"
    assert "Algebra I homework due soon" in client.get(back["Location"]).content.decode()


def test_sign_in_with_canvas_ignores_a_next_that_leaves_the_portal(world, program, coordinator, client):
    _assignment(world, program, coordinator)
    for unsafe in ("https://evil.test/", "//evil.test/x", "javascript:alert(1)"):
        client.logout()
        path, params = world.authorize(client, next_url=unsafe)
        back = client.get(path, params)
        assert back.status_code == 302
        assert back["Location"] == "/", unsafe


def test_signed_in_mentor_with_a_token_goes_straight_to_next(world, program, coordinator, client):
    _assignment(world, program, coordinator)
    _canvas_mentor(world, client)
    start = client.get("/accounts/canvas/start/", {"next": "/my/"})
    assert (start.status_code, start["Location"]) == (302, "/my/")

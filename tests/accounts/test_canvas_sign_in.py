"""Sign in with Canvas: the OAuth flow against the in-process fake, account creation rules, tokens at rest."""

from __future__ import annotations

import datetime
import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from mentorship.accounts import canvas_tokens
from mentorship.accounts.models import CanvasCredential, User
from mentorship.assignments.models import MentorAssignment
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from tests.accounts.canvas_world import World
from tests.factories import AssignmentFactory, PersonFactory


def _approved(world: World, program, **kwargs) -> MentorAssignment:  # type: ignore[no-untyped-def]
    return AssignmentFactory(
        program=program,
        mentor=world.mentor_person,
        student=kwargs.pop("student", world.student_person),
        status=kwargs.pop("status", MentorAssignment.Status.APPROVED),
        **kwargs,
    )


def _token_record(world: World, access: str) -> dict:  # type: ignore[type-arg]
    return world.fake.state.tokens[access]


def test_first_canvas_sign_in_creates_the_mentor_account_and_keeps_tokens_encrypted(world, program, client) -> None:
    _approved(world, program)
    before = client.session.session_key
    response = world.canvas_sign_in(client)

    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(person=world.mentor_person)
    assert user.username == f"canvas-{world.mentor['id']}"
    assert not user.has_usable_password()
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session.session_key != before
    assert client.session["signed_in_with"] == "canvas"

    credential = CanvasCredential.objects.get(user=user)
    access = canvas_tokens.decrypt(credential.access_token_encrypted)
    refresh = canvas_tokens.decrypt(credential.refresh_token_encrypted)
    assert access not in credential.access_token_encrypted
    assert refresh not in credential.refresh_token_encrypted
    assert _token_record(world, access)["user_id"] == world.mentor["id"]
    assert credential.expires_at is not None and credential.expires_at > timezone.now()

    event = AuditEvent.objects.get(action=Action.SIGN_IN)
    assert event.actor_id == user.pk
    assert event.details == {"method": "canvas", "account_created": True}

    # The client acts as the mentor in Canvas.
    mentor_client = canvas_tokens.mentor_client(user)
    assert mentor_client is not None
    assert mentor_client.get_self().id == world.mentor["id"]


def test_second_sign_in_reuses_the_account_and_replaces_the_token(world, program, client) -> None:
    _approved(world, program)
    world.canvas_sign_in(client)
    first = CanvasCredential.objects.get()
    client.post("/accounts/logout/")
    world.canvas_sign_in(client)
    assert User.objects.filter(person=world.mentor_person).count() == 1
    second = CanvasCredential.objects.get()
    assert canvas_tokens.decrypt(second.access_token_encrypted) != canvas_tokens.decrypt(first.access_token_encrypted)
    assert AuditEvent.objects.filter(action=Action.SIGN_IN).order_by("id").last().details["account_created"] is False


def test_canvas_user_unknown_to_the_portal_is_refused_and_their_token_revoked(world, client) -> None:
    response = world.canvas_sign_in(client, login="stranger")

    assert response.status_code == 403
    assert "Mentor Link is for mentors with an assignment" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(username__startswith="canvas-").exists()
    assert not CanvasCredential.objects.exists()
    oauth_tokens = [t for t in world.fake.state.tokens.values() if t.get("kind") == "oauth"]
    assert [t["state"] for t in oauth_tokens] == ["revoked"]
    event = AuditEvent.objects.get(action=Action.SIGN_IN_REFUSED)
    assert event.outcome == "refused"
    assert event.details["canvas_user_id"] == world.stranger["id"]
    assert event.details["reason"] == "not_a_mentor"


@pytest.mark.parametrize("status", [MentorAssignment.Status.REJECTED, MentorAssignment.Status.CANCELLED])
def test_person_whose_only_assignment_was_rejected_or_cancelled_is_refused(world, program, client, status) -> None:
    _approved(world, program, status=status)
    response = world.canvas_sign_in(client)
    assert response.status_code == 403
    assert not User.objects.filter(username__startswith="canvas-").exists()
    assert AuditEvent.objects.filter(action=Action.SIGN_IN_REFUSED).count() == 1


def test_student_person_without_mentor_assignment_is_refused(world, program, client) -> None:
    # Sasha is a student in an assignment, not a mentor: no account.
    AssignmentFactory(program=program, mentor=PersonFactory(), student=world.student_person, status="approved")
    world.fake.state.users[world.student["id"]]["password"] = "canvas-demo"
    response = world.canvas_sign_in(client, login="sasha")
    assert response.status_code == 403
    assert not User.objects.filter(username__startswith="canvas-").exists()


def test_existing_inactive_account_is_refused(world, program, client) -> None:
    _approved(world, program)
    User.objects.create(username="old", person=world.mentor_person, is_active=False)
    response = world.canvas_sign_in(client)
    assert response.status_code == 403
    assert "switched off" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_callback_with_a_wrong_state_is_refused_and_audited(world, program, client) -> None:
    _approved(world, program)
    client.get("/accounts/canvas/start/")
    response = client.get("/accounts/canvas/callback/", {"code": "whatever", "state": "not-the-state"})
    assert response.status_code == 400
    assert "not valid any more" in response.content.decode()
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action=Action.SIGN_IN_FAILED)
    assert event.details == {"method": "canvas", "reason": "bad_state"}
    # The code was never sent to Canvas.
    assert not any(r["path"] == "/login/oauth2/token" for r in world.fake.request_log)


def test_callback_without_a_started_sign_in_is_refused(world, client) -> None:
    response = client.get("/accounts/canvas/callback/", {"code": "c", "state": "s"})
    assert response.status_code == 400


def test_callback_url_works_once(world, program, client) -> None:
    _approved(world, program)
    path, params = world.authorize(client)
    assert client.get(path, params).status_code == 302
    client.post("/accounts/logout/")
    replay = client.get(path, params)
    assert replay.status_code == 400
    assert "_auth_user_id" not in client.session


def test_authorize_redirect_carries_fixed_redirect_uri_and_client_id(world, client, settings) -> None:
    response = client.get("/accounts/canvas/start/")
    location = response["Location"]
    assert "redirect_uri=http%3A%2F%2Ftestserver%2Faccounts%2Fcanvas%2Fcallback%2F" in location
    assert "client_id=world-client-id" in location
    assert "response_type=code" in location
    assert client.session["canvas_oauth_state"]["value"] in location


def test_cancelled_at_canvas_is_a_readable_page(world, client) -> None:
    client.get("/accounts/canvas/start/")
    state = client.session["canvas_oauth_state"]["value"]
    response = client.get("/accounts/canvas/callback/", {"error": "access_denied", "state": state})
    assert response.status_code == 200
    assert "did not sign you in" in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- refresh ------------------------------------------------------------------------------------------------------


def _signed_in_mentor(world: World, program, client) -> User:  # type: ignore[no-untyped-def]
    _approved(world, program)
    assert world.canvas_sign_in(client).status_code == 302
    return User.objects.get(person=world.mentor_person)


def test_expired_token_is_refreshed_before_use(world, program, client) -> None:
    user = _signed_in_mentor(world, program, client)
    credential = CanvasCredential.objects.get(user=user)
    old_access = canvas_tokens.decrypt(credential.access_token_encrypted)
    CanvasCredential.objects.filter(pk=credential.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    world.fake.invalidate_token(old_access, "expired")

    mentor_client = canvas_tokens.mentor_client(user)

    assert mentor_client is not None
    assert mentor_client.get_self().id == world.mentor["id"]
    credential.refresh_from_db()
    new_access = canvas_tokens.decrypt(credential.access_token_encrypted)
    assert new_access != old_access
    assert credential.refreshed_at is not None
    assert credential.expires_at > timezone.now() + datetime.timedelta(minutes=50)
    # The refresh token is kept (Canvas returns none on refresh).
    assert canvas_tokens.decrypt(credential.refresh_token_encrypted)


def test_token_not_yet_expired_is_not_refreshed(world, program, client) -> None:
    user = _signed_in_mentor(world, program, client)
    world.fake.clear_request_log()
    assert canvas_tokens.mentor_client(user) is not None
    assert not any(r["path"] == "/login/oauth2/token" for r in world.fake.request_log)


def test_refresh_refused_by_canvas_forgets_the_credential(world, program, client) -> None:
    user = _signed_in_mentor(world, program, client)
    credential = CanvasCredential.objects.get(user=user)
    access = canvas_tokens.decrypt(credential.access_token_encrypted)
    world.fake.invalidate_token(access, "revoked")  # revoked grant: the refresh token dies with it
    CanvasCredential.objects.filter(pk=credential.pk).update(expires_at=timezone.now() - datetime.timedelta(minutes=1))
    assert canvas_tokens.mentor_client(user) is None
    assert not CanvasCredential.objects.filter(user=user).exists()


def test_mentor_client_is_none_for_local_sign_in(mentor) -> None:
    assert canvas_tokens.mentor_client(mentor) is None


# --- sign-out -------------------------------------------------------------------------------------------------------


def test_sign_out_revokes_the_canvas_token_and_ends_the_session(world, program, client) -> None:
    user = _signed_in_mentor(world, program, client)
    access = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert _token_record(world, access)["state"] == "revoked"
    assert not CanvasCredential.objects.filter(user=user).exists()
    assert "_auth_user_id" not in client.session
    assert client.get("/my/").status_code == 302
    event = AuditEvent.objects.get(action=Action.SIGN_OUT)
    assert event.details == {"canvas_token_revoked": True}
    assert any(r["method"] == "DELETE" and r["path"] == "/login/oauth2/token" for r in world.fake.request_log)


def test_sign_out_with_an_expired_token_refreshes_then_revokes(world, program, client) -> None:
    user = _signed_in_mentor(world, program, client)
    access = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)
    world.fake.invalidate_token(access, "expired")

    client.post("/accounts/logout/")

    oauth_tokens = [t for t in world.fake.state.tokens.values() if t.get("kind") == "oauth"]
    assert oauth_tokens and all(t["state"] == "revoked" for t in oauth_tokens)
    assert not CanvasCredential.objects.exists()


def test_a_grant_outliving_every_possible_session_is_revoked_and_audited(world, program, client, settings) -> None:
    """A mentor who closes the browser instead of signing out: the hourly job revokes the grant in Canvas."""
    user = _signed_in_mentor(world, program, client)
    access = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)
    signed_in = CanvasCredential.objects.get(user=user).created_at

    just_inside = signed_in + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)
    assert canvas_tokens.credentials_expire(now=just_inside) == 0
    assert _token_record(world, access)["state"] != "revoked"

    after = signed_in + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE + 60)
    assert canvas_tokens.credentials_expire(now=after) == 1
    assert _token_record(world, access)["state"] == "revoked"
    assert not CanvasCredential.objects.filter(user=user).exists()
    event = AuditEvent.objects.get(action=Action.CANVAS_TOKEN_EXPIRED)
    assert event.details == {"user": user.username, "revoked_in_canvas": True}
    assert canvas_tokens.credentials_expire(now=after) == 0


def test_signing_in_again_restarts_the_grants_clock(world, program, client) -> None:
    user = _signed_in_mentor(world, program, client)
    long_ago = timezone.now() - datetime.timedelta(days=2)
    CanvasCredential.objects.filter(user=user).update(created_at=long_ago)
    first = CanvasCredential.objects.get(user=user).pk
    assert world.canvas_sign_in(Client()).status_code == 302  # another browser; the row is replaced in place
    assert CanvasCredential.objects.get(user=user).pk == first
    assert CanvasCredential.objects.get(user=user).created_at > long_ago
    assert canvas_tokens.credentials_expire() == 0


# --- keys -------------------------------------------------------------------------------------------------------


def test_key_rotation_keeps_tokens_readable(world, program, client, settings) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    user = _signed_in_mentor(world, program, client)
    plain = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted) == plain
    out = io.StringIO()
    call_command("rotate_canvas_token_keys", stdout=out)
    assert "1 account(s)" in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted) == plain
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(canvas_tokens.TokenDecryptError):
        canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)


def test_tokens_never_reach_the_logs(world, program, client, caplog) -> None:
    import logging

    with caplog.at_level(logging.DEBUG):
        user = _signed_in_mentor(world, program, client)
        credential = CanvasCredential.objects.get(user=user)
        access = canvas_tokens.decrypt(credential.access_token_encrypted)
        refresh = canvas_tokens.decrypt(credential.refresh_token_encrypted)
        world.fake.invalidate_token(access, "expired")
        CanvasCredential.objects.filter(pk=credential.pk).update(expires_at=timezone.now())
        assert canvas_tokens.mentor_client(user) is not None
        new_access = canvas_tokens.decrypt(CanvasCredential.objects.get(user=user).access_token_encrypted)
        client.post("/accounts/logout/")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records
    for secret in (access, refresh, new_access):
        assert secret not in text


def test_a_coordinator_invited_by_email_may_sign_in_with_canvas(world, program, client) -> None:
    """The staff account with the Canvas user's address is linked once (audited); the role stays the portal's."""
    from mentorship.accounts.models import ProgramRole

    person = world.mentor_person  # known to the portal (added from Canvas), no assignment needed
    staff = User.objects.create(username="casey@school.test", email=person.email.upper())
    ProgramRole.objects.create(program=program, user=staff, role=ProgramRole.Role.COORDINATOR)
    response = world.canvas_sign_in(client)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)
    staff.refresh_from_db()
    assert staff.person == person
    assert AuditEvent.objects.filter(action=Action.ACCOUNT_CANVAS_LINKED, actor=staff).count() == 1
    assert not User.objects.filter(username__startswith="canvas-").exists()


def test_staff_canvas_sign_in_can_be_switched_off(world, program, client, settings) -> None:
    from mentorship.accounts.models import ProgramRole

    settings.STAFF_CANVAS_SIGN_IN = False
    staff = User.objects.create(username="casey@school.test", email=world.mentor_person.email)
    ProgramRole.objects.create(program=program, user=staff, role=ProgramRole.Role.COORDINATOR)
    response = world.canvas_sign_in(client)
    assert response.status_code == 403
    staff.refresh_from_db()
    assert staff.person is None

"""Local sign-in: one audit event per attempt, lockout by username + address that reveals nothing, sign-out."""

from __future__ import annotations

import re

import pytest

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def _small_limit(settings) -> None:
    settings.AXES_FAILURE_LIMIT = 3


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def _without_tokens(html: str) -> str:
    """The page minus what differs by design: CSRF tokens and the username typed back into the form."""
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    return re.sub(r'value="[^"]*"', "", html)


def test_successful_sign_in_is_audited_once_and_gets_a_new_session(client, coordinator) -> None:
    client.get(LOGIN)
    before = client.session.session_key
    response = client.post(LOGIN, {"username": "coordinator", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session.session_key != before
    assert client.session["signed_in_with"] == "local"
    assert _actions() == [Action.SIGN_IN]
    event = AuditEvent.objects.get()
    assert event.actor_id == coordinator.pk
    assert event.details == {"method": "local"}


def test_wrong_password_is_audited_once_as_failed(client, coordinator) -> None:
    response = client.post(LOGIN, {"username": "coordinator", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert _actions() == [Action.SIGN_IN_FAILED]
    event = AuditEvent.objects.get()
    assert event.actor_id is None
    assert event.details == {"method": "local", "username": "coordinator"}
    assert "nope" not in str(event.details)


def test_lockout_after_the_limit_and_even_the_right_password_is_refused(client, coordinator) -> None:
    statuses = [client.post(LOGIN, {"username": "coordinator", "password": f"bad{i}"}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]
    locked = client.post(LOGIN, {"username": "coordinator", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert "Sign-in paused" in locked.content.decode()
    assert _actions() == [Action.SIGN_IN_FAILED, Action.SIGN_IN_FAILED, Action.SIGN_IN_LOCKED, Action.SIGN_IN_LOCKED]


def test_lockout_answer_is_the_same_for_a_user_that_does_not_exist(client, coordinator) -> None:
    for i in range(3):
        real = client.post(LOGIN, {"username": "coordinator", "password": f"bad{i}"})
        ghost = client.post(LOGIN, {"username": "nobody-here", "password": f"bad{i}"})
        assert real.status_code == ghost.status_code
        assert _without_tokens(real.content.decode()) == _without_tokens(ghost.content.decode())
    assert real.status_code == 429


def test_lockout_is_per_username_and_address(client, coordinator) -> None:
    for i in range(3):
        client.post(LOGIN, {"username": "coordinator", "password": f"bad{i}"})
    # The same account from another address still signs in.
    response = client.post(LOGIN, {"username": "coordinator", "password": PASSWORD}, REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 302


def test_sign_out_ends_the_session(client, coordinator) -> None:
    client.post(LOGIN, {"username": "coordinator", "password": PASSWORD})
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302
    assert _actions()[-1] == Action.SIGN_OUT


def test_sign_out_needs_post(client, coordinator) -> None:
    client.post(LOGIN, {"username": "coordinator", "password": PASSWORD})
    assert client.get("/accounts/logout/").status_code == 405
    assert "_auth_user_id" in client.session


def test_login_page_offers_sign_in_with_canvas(client) -> None:
    html = client.get(LOGIN).content.decode()
    assert 'href="/accounts/canvas/start/"' in html
    assert "Sign in with Canvas" in html

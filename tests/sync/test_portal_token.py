"""Replacing the portal's Canvas token from the portal (issue 14, item 7; docs/operations.md).

The in-process fake Canvas answers; every portal_client() of the engine is built with the token the factory is asked
for (the stored one, else CANVAS_TOKEN), so these tests see which token the portal really uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from canvas_client import CanvasClient
from fake_canvas import FakeCanvas
from mentorship.audit.models import AuditEvent
from mentorship.core import canvas as core_canvas
from mentorship.core.encryption import decrypt
from mentorship.core.models import PortalCanvasToken
from mentorship.sync.circuit import circuit_is_open
from mentorship.sync.models import CanvasConnection, ObserverLink
from mentorship.sync.portal_token import TokenReplaceError, portal_token_replace
from mentorship.sync.services import circuit_probe
from tests.conftest import login
from tests.helpers import race
from tests.sync.conftest import BASE, TOKEN, approved, make_client

URL = "/sync/connection/token/"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, session: requests.Session, settings: Any) -> Iterator[None]:
    """portal_client() as in production (the token it is given, else the current one), through the fake."""
    settings.CANVAS_BASE_URL = BASE
    settings.CANVAS_TOKEN = TOKEN

    def factory(*, token: str | None = None, gated: bool = True, **kwargs: Any) -> CanvasClient:
        return make_client(session, token or core_canvas.portal_token())

    monkeypatch.setattr(core_canvas, "portal_client", factory)
    yield
    core_canvas.shared_limiter(TOKEN).clear_rejected()


def new_admin_token(fake: FakeCanvas, name: str = "Portal Service") -> str:
    return fake.mint_token(fake.add_user(name=name, admin=True)["id"])


def audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values("action", "details")), default=str)


def test_a_working_token_is_stored_encrypted_audited_and_used_at_once(fake, engine, admin_user, client, db):
    assert core_canvas.portal_token() == TOKEN  # nothing stored: the environment's token
    new = new_admin_token(fake)
    login(client, admin_user)
    response = client.post(URL, {"token": new}, follow=True)
    page = response.content.decode()
    assert "The portal now uses the token of Portal Service" in page and "may read Canvas account 1" in page
    assert new not in page
    row = PortalCanvasToken.objects.get()
    assert row.token_encrypted != new and decrypt(row.token_encrypted) == new
    assert row.canvas_user_name == "Portal Service" and row.account_admin is True and row.replaced_by == admin_user
    assert core_canvas.portal_token() == new
    event = AuditEvent.objects.get(action="canvas.token_replaced")
    assert event.actor_id == admin_user.pk and event.details["canvas_user_name"] == "Portal Service"
    assert event.details["previous"] == "CANVAS_TOKEN"
    assert new not in audit_text() and row.fingerprint not in audit_text()
    # Canvas now sees the new token on the portal's calls.
    fake.clear_request_log()
    core_canvas.portal_client().get_self()
    assert fake.request_log[-1]["status"] == 200


def test_a_refused_token_changes_nothing_and_says_why(fake, engine, admin_user, client, db):
    first = new_admin_token(fake, "First Service")
    portal_token_replace(actor=admin_user, token=first)
    login(client, admin_user)
    response = client.post(URL, {"token": "7~not-a-real-token"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Canvas does not accept this token (401: Invalid access token)" in page
    assert "Nothing was changed: the portal keeps its current token." in page
    assert "7~not-a-real-token" not in page
    assert core_canvas.portal_token() == first  # the old one is kept
    assert PortalCanvasToken.objects.get().canvas_user_name == "First Service"
    assert AuditEvent.objects.filter(action="canvas.token_replaced").count() == 1
    refused = AuditEvent.objects.get(action="canvas.token_refused")
    assert refused.outcome == "refused" and "7~not-a-real-token" not in audit_text()


@pytest.mark.parametrize(
    "pasted, message",
    [("", "This field is required."), ("two words", "does not look like one Canvas token")],
)
def test_bad_input_is_refused_without_asking_canvas(fake, engine, admin_user, client, db, pasted, message):
    login(client, admin_user)
    fake.clear_request_log()
    page = client.post(URL, {"token": pasted}).content.decode()
    assert message in page
    assert fake.request_log == [] and not PortalCanvasToken.objects.exists()


def test_a_second_submit_of_the_same_token_is_a_no_op(fake, engine, admin_user, client, db):
    new = new_admin_token(fake)
    login(client, admin_user)
    client.post(URL, {"token": new})
    fake.clear_request_log()
    page = client.post(URL, {"token": new}, follow=True).content.decode()
    assert "already the portal&#x27;s Canvas token. Nothing was changed." in page
    assert fake.request_log == []  # recognised without asking Canvas again
    assert AuditEvent.objects.filter(action="canvas.token_replaced").count() == 1
    assert PortalCanvasToken.objects.get().version == 1


def test_a_token_whose_user_is_not_an_admin_is_stored_with_a_warning(fake, engine, admin_user, client, db):
    """The fake refuses `GET /accounts/:id` to a non-admin with 401 and no `WWW-Authenticate`, as Canvas does
    (canvas-lms `app/controllers/accounts_controller.rb`, `show`: `authorized_action(@account, @current_user, :read)`);
    the token still works, so it is stored, and the page says what will fail."""
    plain = fake.mint_token(fake.add_user(name="Not An Admin")["id"])
    login(client, admin_user)
    page = client.post(URL, {"token": plain}, follow=True).content.decode()
    assert "Canvas refuses it account 1" in page
    assert PortalCanvasToken.objects.get().account_admin is False
    refusal = [r for r in fake.request_log if r["path"] == "/api/v1/accounts/1"]
    assert [r["status"] for r in refusal] == [401]


def test_replacing_the_token_closes_an_open_circuit_and_sends_the_held_work(
    fake, school, engine, program, admin_user, django_capture_on_commit_callbacks, monkeypatch
):
    mentor, student = school.person("M", "AIDE-70"), school.person("S", "S-70", student=True)
    link = approved(program, mentor, student).links.get()
    fake.invalidate_token(TOKEN, "revoked")
    from mentorship.sync import services

    assert services.link_sync(link_id=link.pk, generation=link.generation) == "circuit"
    assert circuit_is_open()
    published: list[Any] = []
    monkeypatch.setattr("mentorship.sync.services.publishing.links_requeue_held", lambda: published.append(1))
    monkeypatch.setattr("mentorship.sync.portal_token.links_requeue_held", lambda: published.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        result = portal_token_replace(actor=admin_user, token=new_admin_token(fake))
    assert result.changed and result.circuit_was_open
    assert CanvasConnection.get().circuit == "closed" and published == [1]
    assert AuditEvent.objects.filter(action="canvas.circuit_closed").count() == 1
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "linked"
    assert ObserverLink.objects.get(pk=link.pk).state == "linked"


def test_the_probe_clears_the_limiter_and_opens_the_circuit_a_page_did_not(fake, engine, db):
    """A 401 answered to a page marks the limiter but opens no circuit; the probe finds it and acts on it."""
    core_canvas.shared_limiter().mark_rejected()
    fake.invalidate_token(TOKEN, "revoked")
    assert not circuit_probe()
    assert circuit_is_open()
    fake.restore_token(TOKEN)
    assert circuit_probe()
    assert not circuit_is_open() and not core_canvas.shared_limiter().token_rejected()


def test_only_admins_reach_the_page(client, coordinator, db):
    login(client, coordinator)
    assert client.get(URL).status_code == 404
    assert client.post(URL, {"token": "x"}).status_code == 404


def test_the_page_says_which_token_is_in_use(fake, engine, admin_user, client, db):
    login(client, admin_user)
    assert "The token from the server's environment" in client.get(URL).content.decode()
    with pytest.raises(TokenReplaceError):
        portal_token_replace(actor=admin_user, token="   ")


def test_key_rotation_re_encrypts_the_stored_token(fake, engine, admin_user, settings, db):
    import io

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    new = new_admin_token(fake)
    portal_token_replace(actor=admin_user, token=new)
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_canvas_token_keys", stdout=out)
    assert "the portal's own Canvas token" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert core_canvas.portal_token() == new
    # A stored token no configured key opens: the environment's token is used, and the reason is logged.
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    assert core_canvas.portal_token() == TOKEN


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_once_store_the_token_once(fake, engine, admin_user):
    new = new_admin_token(fake)

    def submit() -> Any:
        return portal_token_replace(actor=admin_user, token=new)

    results: list[Any] = race(submit, submit)
    assert sorted(r.changed for r in results) == [False, True], results
    assert AuditEvent.objects.filter(action="canvas.token_replaced").count() == 1
    assert PortalCanvasToken.objects.get().version == 1

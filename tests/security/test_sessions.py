"""Sessions: cookie flags, a new key at sign-in, idle and absolute timeouts, sign-out ends the session."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from tests.conftest import PASSWORD, login

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC)


def _sign_in(client, user):
    return client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD})


def test_sign_in_sets_a_new_session_key_with_safe_cookie_flags(client, coordinator, settings):
    settings.SESSION_COOKIE_SECURE = True
    session = client.session
    session["probe"] = "before sign-in"
    session.save()
    before = session.session_key
    client.cookies[settings.SESSION_COOKIE_NAME] = before
    response = _sign_in(client, coordinator)
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie.value != before
    assert not Session.objects.filter(session_key=before).exists()
    assert cookie["httponly"]
    assert cookie["secure"]
    assert cookie["samesite"] == "Lax"
    assert AuditEvent.objects.filter(action=Action.SIGN_IN, actor=coordinator).exists()


def test_csrf_cookie_is_httponly(client, settings):
    settings.CSRF_COOKIE_SECURE = True
    response = client.get(reverse("accounts:login"))
    cookie = response.cookies[settings.CSRF_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["secure"]


def test_idle_session_ends(client, auditor, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 30 * 60
    with time_machine.travel(START, tick=False) as clock:
        login(client, auditor)
        assert client.get(reverse("audit:log")).status_code == 200
        clock.shift(datetime.timedelta(minutes=29))
        assert client.get(reverse("audit:log")).status_code == 200
        clock.shift(datetime.timedelta(minutes=31))
        response = client.get(reverse("audit:log"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    ended = AuditEvent.objects.get(action=Action.SIGN_OUT, actor=auditor)
    assert ended.details == {"reason": "idle timeout"}


def test_busy_session_still_ends_at_the_absolute_limit(client, auditor, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 30 * 60
    settings.SESSION_COOKIE_AGE = 2 * 3600
    with time_machine.travel(START, tick=False) as clock:
        login(client, auditor)
        for _ in range(6):  # a request every 20 minutes for two hours: never idle
            assert client.get(reverse("audit:log")).status_code == 200
            clock.shift(datetime.timedelta(minutes=20))
        clock.shift(datetime.timedelta(minutes=1))
        response = client.get(reverse("audit:log"))
    assert response.status_code == 302
    assert AuditEvent.objects.get(action=Action.SIGN_OUT, actor=auditor).details == {"reason": "session age limit"}


def test_sign_out_ends_the_session_and_the_old_cookie_is_worthless(client, auditor):
    _sign_in(client, auditor)
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get(reverse("audit:log")).status_code == 200
    assert client.get(reverse("accounts:logout")).status_code == 405  # no sign-out by link or image
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert not Session.objects.filter(session_key=old_key).exists()
    client.cookies[settings.SESSION_COOKIE_NAME] = old_key
    replay = client.get(reverse("audit:log"))
    assert replay.status_code == 302
    assert replay["Location"].startswith(reverse("accounts:login"))
    assert AuditEvent.objects.filter(action=Action.SIGN_OUT, actor=auditor).exists()


def test_session_ends_when_the_browser_closes():
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_AGE <= 12 * 3600

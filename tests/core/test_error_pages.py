"""Error pages a person can read, rendered without the database (which may be what failed)."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client

from mentorship.portal import views  # /healthz is the page that fails here


@pytest.fixture
def anonymous(settings) -> Client:
    settings.DEBUG = False
    return Client(raise_request_exception=False)


def _healthz_raising(error: Exception, anonymous: Client, monkeypatch: pytest.MonkeyPatch) -> HttpResponse:
    """GET /healthz while the health check raises ``error``."""

    def failing() -> tuple[bool, dict[str, object]]:
        raise error

    monkeypatch.setattr(views, "full_health", failing)
    return anonymous.get("/healthz")


def test_a_database_that_stops_answering_gives_503_with_retry_after(anonymous, monkeypatch, db) -> None:
    refused = OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")
    response = _healthz_raising(refused, anonymous, monkeypatch)
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    text = response.content.decode()
    assert "database is not answering" in text and "nothing was changed" in text
    assert "5432" not in text  # no connection details for the visitor


def test_any_other_error_gives_the_500_page(anonymous, monkeypatch, db) -> None:
    response = _healthz_raising(RuntimeError("secret internal detail"), anonymous, monkeypatch)
    assert response.status_code == 500
    text = response.content.decode()
    assert "Something went wrong" in text and "secret internal detail" not in text


def test_unknown_page_is_the_portals_404(anonymous, db) -> None:
    response = anonymous.get("/no/such/page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert 'lang="en"' in response.content.decode()


def test_an_expired_form_says_so_and_changes_nothing(db) -> None:
    from mentorship.audit.models import AuditEvent

    before = AuditEvent.objects.count()
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert AuditEvent.objects.count() == before

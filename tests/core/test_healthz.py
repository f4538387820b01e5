"""/healthz reports the database, the broker and Canvas, and says 503 when any is down."""

from __future__ import annotations

import pytest

from tests.helpers import free_port


@pytest.mark.django_db
def test_healthz_all_fine_against_the_fake_canvas(client, canvas_server) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["canvas"] == {**body["canvas"], "ok": True, "reachable": True, "token_valid": True}


@pytest.mark.django_db
def test_healthz_503_when_canvas_rejects_the_token(client, canvas_server, settings) -> None:
    settings.CANVAS_TOKEN = "not-a-valid-token"
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["canvas"]["reachable"] is True
    assert body["canvas"]["token_valid"] is False
    assert "not-a-valid-token" not in response.content.decode()


@pytest.mark.django_db
def test_healthz_503_when_canvas_is_unreachable(client, settings) -> None:
    settings.CANVAS_BASE_URL = f"http://127.0.0.1:{free_port()}"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["canvas"]["reachable"] is False


@pytest.mark.django_db
def test_healthz_is_get_only(client) -> None:
    assert client.post("/healthz").status_code == 405

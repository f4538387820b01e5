"""The health endpoints: liveness touches nothing, readiness and /healthz ask Canvas at most once per period, work
whatever Host the probe sends, and give details only to a local caller or a signed-in administrator."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.cache import cache

from mentorship.portal import health
from tests.conftest import login
from tests.helpers import free_port

REMOTE = {"REMOTE_ADDR": "203.0.113.7"}
PROXIED = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}


@pytest.fixture(autouse=True)
def fresh_canvas_answer(db) -> None:
    cache.delete(health.CANVAS_CACHE_KEY)
    cache.delete(health.CANVAS_LOCK_KEY)


def canvas_self_calls(canvas_server: Any) -> int:
    return sum(1 for r in canvas_server.control("GET", "requests")["requests"] if r["path"] == "/api/v1/users/self")


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
def test_healthz_503_when_canvas_rejects_the_token_but_the_portal_stays_ready(client, canvas_server, settings) -> None:
    settings.CANVAS_TOKEN = "not-a-valid-token"
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["canvas"]["reachable"] is True
    assert body["canvas"]["token_valid"] is False
    assert "not-a-valid-token" not in response.content.decode()
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200, "a Canvas outage must not take the portal out of the load balancer"
    assert ready.json()["status"] == "ok" and ready.json()["canvas"]["token_valid"] is False


@pytest.mark.django_db
def test_healthz_503_when_canvas_is_unreachable(client, settings) -> None:
    settings.CANVAS_BASE_URL = f"http://127.0.0.1:{free_port()}"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["canvas"]["reachable"] is False


@pytest.mark.django_db
def test_ready_is_503_when_the_broker_is_down(client, canvas_server, monkeypatch) -> None:
    monkeypatch.setattr(health, "check_broker", lambda: {"ok": False, "error": "OperationalError"})
    response = client.get("/healthz/ready")
    assert response.status_code == 503
    assert response.json()["broker"] == {"ok": False, "error": "OperationalError"}


def test_live_touches_no_database_and_no_canvas(client, settings, django_assert_num_queries) -> None:
    settings.CANVAS_BASE_URL = f"http://127.0.0.1:{free_port()}"
    with django_assert_num_queries(0):
        response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz/live", "/healthz/ready", "/healthz"])
def test_probes_work_whatever_host_they_send(client, canvas_server, settings, path) -> None:
    """Compose and load balancers probe by address; ALLOWED_HOSTS holds only the school's host name."""
    settings.ALLOWED_HOSTS = ["mentorlink.school.example"]
    response = client.get(path, HTTP_HOST="172.18.0.5:8000")
    assert response.status_code == 200, response.content
    # Any other page keeps Django's Host check.
    assert client.get("/accounts/login/", HTTP_HOST="172.18.0.5:8000").status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("caller", [REMOTE, PROXIED], ids=["remote", "through-a-proxy"])
def test_anonymous_callers_from_elsewhere_get_only_the_status(client, canvas_server, caller) -> None:
    for path in ("/healthz", "/healthz/ready"):
        response = client.get(path, **caller)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_a_signed_in_administrator_gets_the_details_from_anywhere(client, canvas_server, admin_user) -> None:
    login(client, admin_user)
    body = client.get("/healthz/ready", **REMOTE).json()
    assert body["database"]["ok"] is True and body["canvas"]["token_valid"] is True


@pytest.mark.django_db
def test_a_signed_in_coordinator_from_elsewhere_gets_only_the_status(client, canvas_server, coordinator) -> None:
    login(client, coordinator)
    assert client.get("/healthz/ready", **REMOTE).json() == {"status": "ok"}


@pytest.mark.django_db
def test_thirty_anonymous_readiness_probes_make_at_most_one_canvas_call(client, canvas_server) -> None:
    canvas_server.control("POST", "requests/clear")
    for _ in range(30):
        assert client.get("/healthz/ready", **REMOTE).status_code == 200
    assert canvas_self_calls(canvas_server) == 1


@pytest.mark.django_db
def test_a_failing_canvas_is_asked_once_and_not_retried(client, canvas_server) -> None:
    canvas_server.control("POST", "config", {"error_rate": 1.0})
    try:
        canvas_server.control("POST", "requests/clear")
        for _ in range(5):
            assert client.get("/healthz", **REMOTE).status_code == 503
        assert canvas_self_calls(canvas_server) == 1
    finally:
        canvas_server.control("POST", "config", {"error_rate": 0.0})


def test_concurrent_probes_share_one_canvas_call(settings, monkeypatch) -> None:
    """Thirty probes arriving together: one asks Canvas, the others wait for its answer."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "probes"}}
    calls: list[int] = []
    release = threading.Event()

    def slow_probe() -> dict[str, Any]:
        calls.append(1)
        release.wait(5)
        return {"ok": True, "reachable": True, "token_valid": True}

    monkeypatch.setattr(health, "probe_canvas", slow_probe)
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(health.check_canvas())) for _ in range(30)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(calls) == 1
    assert len(results) == 30 and all(r["ok"] for r in results)


@pytest.mark.django_db
def test_healthz_is_get_only(client) -> None:
    assert client.post("/healthz").status_code == 405
    assert client.post("/healthz/ready").status_code == 405


@pytest.mark.django_db
def test_probes_may_use_head(client, canvas_server) -> None:
    assert client.head("/healthz/live").status_code == 200
    assert client.head("/healthz/ready", **REMOTE).status_code == 200

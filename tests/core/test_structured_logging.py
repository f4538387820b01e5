"""Structured log lines: the request id (a proxy's only when trusted), the user id, the Celery hand-over, and no
secret in any field (docs/operations.md, "Logs")."""

from __future__ import annotations

import io
import json
import logging
from types import SimpleNamespace

import pytest
import structlog

from mentorship.core import structured_logging
from mentorship.core.logging import RedactSecretsFilter
from tests.conftest import login


@pytest.fixture
def captured():
    """The production handler (JSON formatter + redaction filter) writing to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structured_logging.formatter(json=True))
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("mentorship.test_structured")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    structlog.contextvars.clear_contextvars()


def test_a_request_gets_a_new_id_unless_a_trusted_proxy_names_it(client, settings, db) -> None:
    planted = "attacker-chosen-id-1234"
    settings.REQUEST_ID_TRUSTED_PROXIES = []
    untrusted = client.get("/accounts/login/", HTTP_X_REQUEST_ID=planted, REMOTE_ADDR="203.0.113.9")
    assert untrusted["X-Request-Id"] != planted
    settings.REQUEST_ID_TRUSTED_PROXIES = ["10.0.0.0/8"]
    still_untrusted = client.get("/accounts/login/", HTTP_X_REQUEST_ID=planted, REMOTE_ADDR="203.0.113.9")
    assert still_untrusted["X-Request-Id"] != planted
    trusted = client.get("/accounts/login/", HTTP_X_REQUEST_ID=planted, REMOTE_ADDR="10.1.2.3")
    assert trusted["X-Request-Id"] == planted
    malformed = client.get("/accounts/login/", HTTP_X_REQUEST_ID="bad id\nwith newline", REMOTE_ADDR="10.1.2.3")
    assert malformed["X-Request-Id"] != "bad id\nwith newline"
    assert len(malformed["X-Request-Id"]) == 32


def test_lines_logged_during_a_request_carry_its_id_and_the_user(client, coordinator, captured, monkeypatch) -> None:
    logger, lines = captured
    seen = {}

    def spy(request_id: str) -> None:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        seen["id"] = request_id

    monkeypatch.setattr("mentorship.core.middleware.bind_request", spy)
    login(client, coordinator)
    original = structured_logging.LogUserMiddleware.__call__

    def call_and_log(self, request):
        result = original(self, request)
        logger.info("inside the request")
        return result

    monkeypatch.setattr(structured_logging.LogUserMiddleware, "__call__", call_and_log)
    response = client.get("/")
    line = lines()[-1]
    assert line["request_id"] == response["X-Request-Id"] == seen["id"]
    assert line["user_id"] == coordinator.pk
    assert line["event"] == "inside the request" and line["level"] == "info"


def test_a_secret_in_a_structured_field_or_a_traceback_is_redacted(captured, settings) -> None:
    logger, lines = captured
    structlog.get_logger("mentorship.test_structured").info(
        "calling Canvas", header="Bearer abcdefghijkl", token="pairing-XYZ987", count=3
    )
    try:
        raise ValueError(f"refused with token={settings.CANVAS_TOKEN}")
    except ValueError:
        logger.exception("Canvas refused access_token=%s", "s3cr3t-value")
    text = json.dumps(lines())
    assert "abcdefghijkl" not in text and "pairing-XYZ987" not in text and "s3cr3t-value" not in text
    assert settings.CANVAS_TOKEN not in text
    first, second = lines()
    assert first["count"] == 3 and first["header"] == "Bearer [redacted]"
    assert "ValueError" in second["exception"]


def test_the_plain_format_is_one_readable_line(settings) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    line = structured_logging.formatter(json=False).format(record)
    assert "hello world" in line and "\n" not in line and not line.startswith("{")


def test_a_published_task_carries_the_request_id_and_the_worker_binds_it(captured) -> None:
    logger, lines = captured
    structured_logging.bind_request("rid-0123456789")
    headers: dict[str, str] = {}
    structured_logging.on_before_task_publish(headers=headers)
    assert headers == {structured_logging.REQUEST_ID_HEADER: "rid-0123456789"}

    structlog.contextvars.clear_contextvars()
    task = SimpleNamespace(name="sync.sync_link", request=SimpleNamespace(**headers))
    structured_logging.on_task_prerun(task_id="task-42", task=task)
    logger.info("working")
    line = lines()[-1]
    assert (line["request_id"], line["task_id"], line["task_name"]) == ("rid-0123456789", "task-42", "sync.sync_link")
    structured_logging.on_task_postrun()
    logger.info("after")
    assert "task_id" not in lines()[-1]

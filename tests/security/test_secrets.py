"""The Canvas token, OAuth secret and pairing codes never reach logs, error pages or audit details."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.conf import settings
from django.urls import path

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.audit.services import audit_record, mask_secrets
from mentorship.core.logging import RedactSecretsFilter, redact
from mentorship.urls import urlpatterns as portal_urlpatterns

PAIRING_CODE = "QX7ZK2"


def _boom(request):
    raise RuntimeError(
        f"Canvas said no to Authorization: Bearer {settings.CANVAS_TOKEN} with pairing_code={PAIRING_CODE}"
    )


urlpatterns = [*portal_urlpatterns, path("boom/", _boom)]


def _record(message: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.ERROR, __file__, 1, message, args, exc_info)


@pytest.mark.parametrize(
    "line",
    [
        "GET /api/v1/users/self Authorization: Bearer 7~AbCdEf0123456789xyz",
        "token exchange failed: access_token=7~AbCdEf0123456789xyz&refresh_token=7~Zyx987",
        "redeeming {'pairing_code': 'QX7ZK2'}",
        'client_secret="s3cr3t-value"',
    ],
)
def test_log_lines_are_redacted(line):
    record = _record(line)
    RedactSecretsFilter().filter(record)
    text = record.getMessage()
    for secret in ("7~AbCdEf0123456789xyz", "7~Zyx987", "QX7ZK2", "s3cr3t-value"):
        assert secret not in text
    assert "[redacted]" in text


def test_log_arguments_and_tracebacks_are_redacted():
    try:
        raise ValueError(f"bad response for Bearer {settings.CANVAS_TOKEN}")
    except ValueError:
        import sys

        record = _record("call failed with %s", settings.CANVAS_TOKEN, exc_info=sys.exc_info())
    RedactSecretsFilter().filter(record)
    formatted = logging.Formatter("%(message)s").format(record)
    assert settings.CANVAS_TOKEN not in formatted
    assert "ValueError" in formatted


def test_the_portal_token_is_redacted_even_without_a_label():
    assert settings.CANVAS_TOKEN not in redact(f"stray {settings.CANVAS_TOKEN} text")


def test_every_log_handler_redacts():
    handlers: dict[str, dict[str, Any]] = settings.LOGGING["handlers"]  # type: ignore[assignment]
    for name, handler in handlers.items():
        assert "redact" in handler.get("filters", []), name


def test_audit_details_mask_codes_and_drop_tokens():
    masked = mask_secrets(
        {
            "pairing_code": PAIRING_CODE,
            "nested": {"access_token": "7~abc", "Code": PAIRING_CODE},
            "codes": [{"code": PAIRING_CODE}],
            "error": f"Canvas refused Bearer 7~AbCdEf0123 and {settings.CANVAS_TOKEN}",
            "status": 403,
        }
    )
    text = repr(masked)
    assert PAIRING_CODE not in text
    assert "7~abc" not in text
    assert "7~AbCdEf0123" not in text
    assert settings.CANVAS_TOKEN not in text
    assert masked["pairing_code"] == "••••K2"
    assert masked["status"] == 403


@pytest.mark.django_db
def test_stored_audit_events_hold_no_secret(coordinator):
    audit_record(
        action=Action.PAIRING_CODE_ISSUED,
        actor=coordinator,
        details={"pairing_code": PAIRING_CODE, "request": {"headers": {"token": settings.CANVAS_TOKEN}}},
    )
    stored = repr(AuditEvent.objects.values_list("details", flat=True).get())
    assert PAIRING_CODE not in stored
    assert settings.CANVAS_TOKEN not in stored


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_error_page_and_error_log_hold_no_secret(client):
    client.raise_request_exception = False
    handler = logging.StreamHandler()
    handler.addFilter(RedactSecretsFilter())
    import io

    stream = io.StringIO()
    handler.setStream(stream)
    logging.getLogger("django.request").addHandler(handler)
    try:
        response = client.get("/boom/")
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert response.status_code == 500
    body = response.content.decode()
    assert settings.CANVAS_TOKEN not in body
    assert PAIRING_CODE not in body
    logged = stream.getvalue()
    assert "RuntimeError" in logged
    assert settings.CANVAS_TOKEN not in logged
    assert PAIRING_CODE not in logged

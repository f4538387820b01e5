"""Sentry, only when SENTRY_DSN is set: Django and Celery errors, with personal data and secrets taken out before an
event leaves the process (docs/operations.md, "Sentry").

`send_default_pii` stays off (no cookies, no user names or addresses, no client IP), local variables are not sent (a
frame may hold a token or a student's work), request bodies are dropped whole, and every remaining string goes
through the same redaction as the log lines.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from mentorship.redaction import redact

_SECRET_HEADERS = {"authorization", "cookie", "x-csrftoken", "x-api-key", "proxy-authorization"}
_DROPPED_REQUEST_KEYS = ("data", "cookies")


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _scrub_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_value(item) for item in value]
    return value


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    request = {key: value for key, value in request.items() if key not in _DROPPED_REQUEST_KEYS}
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            name: "[redacted]" if name.lower() in _SECRET_HEADERS else value for name, value in headers.items()
        }
    request.pop("env", None)  # REMOTE_ADDR and the server's name: not needed to fix a bug
    return request


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's before_send (and before_send_transaction): what is left is safe to hand to a third party."""
    if isinstance(event.get("request"), dict):
        event["request"] = _scrub_request(event["request"])
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    return _scrub_value(event)


def scrub_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    return _scrub_value(crumb)


def init_sentry() -> bool:
    """Start the SDK when a DSN is configured; True when it was started. Nothing is imported or sent otherwise."""
    if not settings.SENTRY_DSN:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        environment=settings.SENTRY_ENVIRONMENT,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE,
        before_send=scrub_event,  # type: ignore[arg-type]
        before_send_transaction=scrub_event,  # type: ignore[arg-type]
        before_breadcrumb=scrub_breadcrumb,
    )
    return True

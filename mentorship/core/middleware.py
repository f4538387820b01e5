"""Cross-cutting request handling: request ids, extra security headers, idle session timeout."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9\-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (or keep a sane one from the proxy) so audit events and logs can be joined."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-Id", "")
        request.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id  # type: ignore[attr-defined]
        return response


class SecurityHeadersMiddleware:
    """Headers Django's SecurityMiddleware does not send (HSTS is sent here too, also over plain HTTP in tests)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault(
            "Strict-Transport-Security",
            f"max-age={settings.SECURE_HSTS_SECONDS}; includeSubDomains",
        )
        return response


class SessionTimeoutMiddleware:
    """End a signed-in session after SESSION_IDLE_TIMEOUT_SECONDS without a request.

    The absolute limit is SESSION_COOKIE_AGE (the session is not refreshed on every request).
    """

    KEY = "_last_seen"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(self.KEY)
            if last_seen is not None and now - float(last_seen) > settings.SESSION_IDLE_TIMEOUT_SECONDS:
                logout(request)
            else:
                request.session[self.KEY] = now
        return self.get_response(request)

"""Cross-cutting request handling: request ids, security headers, no-store for signed-in pages, bad-input refusal,
session timeouts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from mentorship.core.structured_logging import bind_request, clear_context, request_id_for


class RequestIdMiddleware:
    """Give every request an id (or keep a sane one from a trusted proxy) so audit events and logs can be joined."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_for(request)  # type: ignore[attr-defined]
        bind_request(request.request_id)  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            clear_context()
        response["X-Request-Id"] = request.request_id  # type: ignore[attr-defined]
        return response


class SecurityHeadersMiddleware:
    """The security headers on every response, including the static files WhiteNoise answers before the rest of the
    stack runs (this middleware sits outside WhiteNoise for that reason). HSTS is sent here also over plain HTTP (tests,
    the embedded default); browsers ignore it there. Headers already set by Django or django-csp are kept."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        self.hsts = hsts
        self.csp = build_policy(config=settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.setdefault("Referrer-Policy", "same-origin")
        response.setdefault("X-Content-Type-Options", "nosniff")
        response.setdefault("X-Frame-Options", "DENY")
        if settings.SECURE_HSTS_SECONDS:
            response.setdefault("Strict-Transport-Security", self.hsts)
        response.setdefault("Content-Security-Policy", self.csp)
        return response


class NoStoreWhenSignedInMiddleware:
    """`Cache-Control: no-store` on every answer to a signed-in person, so that no browser or proxy keeps a page of
    student data: on a shared computer, Back after sign-out must not show it again. One rule for every page rather
    than a decorator per view, which a new view would forget."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        signed_in = request.user.is_authenticated
        response = self.get_response(request)
        if signed_in or request.user.is_authenticated:
            add_never_cache_headers(response)
        return response


# C0 controls and DEL. Tab, line feed and carriage return are ordinary in form text (textareas send CRLF).
_CONTROL_IN_QUERY = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_FORM = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Ids are signed 64-bit integers. A bigger number reaching a lookup makes the database driver raise (SQLite:
# OverflowError) instead of finding nothing, so such numbers are stopped here for every view at once.
_MAX_ID = 2**63 - 1
_NUMBER_SEGMENT = re.compile(r"/(\d{19,})(?=/|$|\.)")
BAD_INPUT_MESSAGE = (
    "The request contained characters the portal does not accept (control characters, or text that is not UTF-8). "
    "Nothing was changed."
)
HUGE_NUMBER_MESSAGE = "A number in the request is far larger than any id the portal uses. Nothing was changed."


def _too_big(text: str) -> bool:
    return len(text) >= 19 and text.isdigit() and int(text) > _MAX_ID


class BadInputMiddleware:
    """Refuse, with 400 and a sentence, query strings and form fields that are not clean UTF-8 text.

    Django would otherwise decode broken UTF-8 into replacement characters and pass control characters through to
    forms, names and CSV files. Uploaded files are not inspected here (their importers validate them). Bodies over
    DATA_UPLOAD_MAX_MEMORY_SIZE raise RequestDataTooBig when read, which Django answers with 400 (templates/400.html).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any(_too_big(number) for number in _NUMBER_SEGMENT.findall(request.path)):
            raise Http404("No such page.")
        problem = _check_pairs(request.META.get("QUERY_STRING", "").encode("latin-1", "replace"), _CONTROL_IN_QUERY)
        if problem is None and request.method in {"POST", "PUT", "PATCH"}:
            content_type = request.META.get("CONTENT_TYPE", "")
            if content_type.startswith("application/x-www-form-urlencoded"):
                problem = _check_pairs(request.body, _CONTROL_IN_FORM)
            elif content_type.startswith("multipart/form-data"):
                for key, values in request.POST.lists():
                    for text in (key, *values):
                        problem = problem or _check_text(text, _CONTROL_IN_FORM)
        if problem is not None:
            return render(request, "400.html", {"message": problem}, status=400)
        return self.get_response(request)


def _check_text(text: str, control: re.Pattern[str]) -> str | None:
    if "\ufffd" in text or control.search(text):
        return BAD_INPUT_MESSAGE
    if _too_big(text.strip()):
        return HUGE_NUMBER_MESSAGE
    return None


def _check_pairs(raw: bytes, control: re.Pattern[str]) -> str | None:
    """The first problem in an urlencoded string (query or form body), or None."""
    for pair in raw.split(b"&"):
        for part in pair.split(b"=", 1):
            try:
                text = unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
            except UnicodeDecodeError:
                return BAD_INPUT_MESSAGE
            problem = _check_text(text, control)
            if problem is not None:
                return problem
    return None


class SessionTimeoutMiddleware:
    """End a signed-in session after SESSION_IDLE_TIMEOUT_SECONDS without a request, or SESSION_COOKIE_AGE after
    sign-in whatever the activity.

    The absolute limit is kept in the session itself: Django's own expiry slides forward every time the session is
    saved, and this middleware saves it on every request.
    """

    KEY = "_last_seen"
    SIGNED_IN_KEY = "_signed_in_at"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(self.KEY)
            signed_in_at = request.session.setdefault(self.SIGNED_IN_KEY, now)
            idle = last_seen is not None and now - float(last_seen) > settings.SESSION_IDLE_TIMEOUT_SECONDS
            expired = now - float(signed_in_at) > settings.SESSION_COOKIE_AGE
            if idle or expired:
                from mentorship.audit.actions import Action
                from mentorship.audit.services import audit_record

                audit_record(
                    action=Action.SIGN_OUT,
                    actor=user,
                    request=request,
                    details={"reason": "idle timeout" if idle else "session age limit"},
                )
                logout(request)
            else:
                request.session[self.KEY] = now
        return self.get_response(request)


@receiver(user_logged_in, dispatch_uid="mentorlink_session_signed_in_at")
def _start_session_clock(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """A new sign-in starts a new absolute session clock (login keeps session data for the same user)."""
    if request is not None and hasattr(request, "session"):
        request.session[SessionTimeoutMiddleware.SIGNED_IN_KEY] = time.time()
        request.session.pop(SessionTimeoutMiddleware.KEY, None)

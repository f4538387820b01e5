from __future__ import annotations

import sys
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mentorship.accounts.selectors import user_capabilities

from .health import full_health, readiness
from .probes import is_local_caller


@require_GET
@never_cache
def healthz_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else (docs/operations.md, "Health")."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and the broker answer; Canvas is reported beside them."""
    return health_response(request, *readiness())


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """For monitoring: 200 when the database, the broker and Canvas all answer; 503 otherwise."""
    return health_response(request, *full_health())


def health_response(request: HttpRequest, healthy: bool, checks: dict[str, dict[str, Any]]) -> JsonResponse:
    """The status for everyone; the details (timings, which part failed and why) only for a caller on this machine
    (compose's and systemd's probes) or a signed-in administrator. Nothing secret is in either."""
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded"}
    user = getattr(request, "user", None)
    if is_local_caller(request) or (user is not None and user.is_authenticated and user.is_superuser):
        body.update(checks)
    return JsonResponse(body, status=200 if healthy else 503)


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Send each person to the page they came for."""
    caps = user_capabilities(user=request.user)
    if caps is not None:
        if caps.coordinates:
            return redirect("assignments:dashboard")
        if caps.mentors:
            return redirect("mentors:students")
        if caps.audits:
            return redirect("audit:log")
        if caps.is_admin:
            return redirect("assignments:programs")
    return render(request, "core/no_role.html")


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that stopped answering is a 503 with Retry-After (nothing was changed: every service
    writes inside one transaction); anything else the plain 500 page. Neither page touches the database."""
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "60"
        return response
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: most often a form left open past the session's end. Say so; nothing was changed."""
    message = (
        "This form has expired (or was sent from another site), so nothing was changed. "
        "Go back, reload the page and try again."
    )
    return HttpResponse(loader.get_template("403.html").render({"message": message}), status=403)

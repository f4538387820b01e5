"""Home routing and the health endpoint: both read across the apps, so they live in the top layer."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_safe

from mentorship.accounts.selectors import user_capabilities
from mentorship.core.probes import is_local_caller
from mentorship.portal.health import full_health, readiness


@require_safe
@never_cache
def healthz_live(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing else (docs/operations.md, "Health")."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def healthz_ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and the broker answer; Canvas is reported beside them."""
    return health_response(request, *readiness())


@require_safe
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
            return redirect("core:dashboard")
        if caps.mentors:
            return redirect("mentors:students")
        if caps.audits:
            return redirect("audit:log")
        if caps.is_admin:
            return redirect("assignments:programs")
    return render(request, "core/no_role.html")

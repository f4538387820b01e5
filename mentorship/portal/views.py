"""Home routing and the health endpoint: both read across the apps, so they live in the top layer."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mentorship.accounts.selectors import user_capabilities
from mentorship.portal.health import run_checks


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker and Canvas all answer; 503 otherwise. Says nothing secret."""
    checks = run_checks()
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)


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

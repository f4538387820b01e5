"""The coordinator's dashboard: figures over assignments, their Canvas links, pairing codes and drift.

It reads across assignments, sync and the audit log's change counters, so it lives in the top layer.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments import charts
from mentorship.assignments.selectors import ATTENTION_DAYS
from mentorship.assignments.views import _user, coordinator_required
from mentorship.audit.changes import program_generations

from . import dashboard_selectors as selectors


def _dashboard_numbers(user: User, *, fresh: bool) -> dict[str, Any]:
    """selectors.dashboard_numbers, kept for settings.DASHBOARD_CACHE_SECONDS per coordinator (docs/decisions.md, "The
    dashboard's figures are kept for 30 seconds"): its grouped counts read every assignment and link of the
    coordinator's programs, over 100 ms at 100,000 assignments. The key holds the coordinator's roles (program and
    grant time), each program's change counter (mentorship/audit/changes.py) and the day, so a decision, a Canvas
    change, a granted or revoked role, or midnight, starts afresh."""
    seconds = settings.DASHBOARD_CACHE_SECONDS
    roles = sorted(
        (program_id, granted_at.isoformat())
        for program_id, granted_at in ProgramRole.objects.filter(
            user=user, role=ProgramRole.Role.COORDINATOR
        ).values_list("program_id", "granted_at")
    )
    program_ids = [program_id for program_id, _ in roles]
    # Any audited change in one of the programs (a decision, a link made or removed) moves its counter.
    generations = program_generations(program_ids)
    identity = repr((user.pk, timezone.localdate().isoformat(), roles, generations))
    key = f"dashboard:v2:{hashlib.sha256(identity.encode()).hexdigest()[:32]}"
    numbers = None
    if not fresh and seconds and generations is not None:
        try:
            numbers = cache.get(key)
        except Exception:  # a cache outage must not take the dashboard down: compute instead
            numbers = None
    if numbers is None:
        numbers = {**selectors.dashboard_numbers(program_ids=program_ids), "as_of": timezone.now()}
        if seconds:
            # On a cache outage the figures are shown anyway; the next request tries again.
            with contextlib.suppress(Exception):
                cache.set(key, numbers, seconds)
    return {**numbers, "program_ids": program_ids}


@coordinator_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    numbers = _dashboard_numbers(user, fresh=bool(request.GET.get("fresh")))
    waiting, waiting_total = selectors.waiting_for(user=user, program_ids=numbers["program_ids"])
    # The status counts show once, as the linked cards; the pairing codes once, as the chart (it carries the numbers).
    context = {
        **numbers,
        "waiting": waiting,
        "waiting_total": waiting_total,
        "attention_days": ATTENTION_DAYS,
        "link_chart": charts.bar_chart(
            [(label, n) for label, n, _ in numbers["by_link"]], title="Assignments by Canvas state"
        ),
        "code_chart": charts.bar_chart(numbers["codes"], title="Pairing codes"),
    }
    return render(request, "assignments/dashboard.html", context)

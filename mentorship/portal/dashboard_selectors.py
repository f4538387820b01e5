"""The dashboard's figures: grouped counts over assignments, links, pairing codes and drift, a handful of queries."""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Count
from django.utils import timezone

from mentorship.assignments.models import MentorAssignment
from mentorship.assignments.selectors import needs_attention_q
from mentorship.sync.models import DriftItem, ObserverLink, PairingCode

Status = MentorAssignment.Status
LinkState = MentorAssignment.LinkState


def dashboard_numbers(*, program_ids: list[int], today: datetime.date | None = None) -> dict[str, Any]:
    """The coordinator's dashboard over these programs (the ones they coordinate): grouped counts in a handful of
    queries. A literal id list (not a DISTINCT subquery) lets PostgreSQL plan each count on the program indexes."""
    today = today or timezone.localdate()
    assignments = MentorAssignment.objects.filter(program_id__in=program_ids)
    # One pass over the assignments gives the status counts, the Canvas state counts (the assignment's link_state
    # summary, the same values the list filters on) and "need attention".
    by_status: dict[str, int] = {}
    by_link: dict[str, int] = {}
    attention = 0
    grouped = (
        assignments.order_by()
        .values_list("status", "link_state")
        .annotate(n=Count("id"), attention=Count("id", filter=needs_attention_q(today)))
    )
    for status, link_state, n, needs in grouped:
        by_status[status] = by_status.get(status, 0) + n
        by_link[link_state] = by_link.get(link_state, 0) + n
        attention += needs
    links = ObserverLink.objects.filter(assignment__program_id__in=program_ids)
    codes = dict(
        PairingCode.objects.filter(assignment__program_id__in=program_ids)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    failures = list(
        links.filter(state=ObserverLink.State.FAILED)
        .select_related("assignment__mentor", "assignment__student")
        .order_by("-updated_at")[:10]
    )
    ending = list(
        assignments.filter(status=Status.APPROVED, ends_on__gte=today, ends_on__lte=today + datetime.timedelta(days=14))
        .select_related("mentor", "student", "program")
        .order_by("ends_on", "id")[:20]
    )
    open_drift = DriftItem.objects.filter(program_id__in=program_ids, status=DriftItem.Status.OPEN)
    drift = list(open_drift.order_by("-id")[:5])
    return {
        "by_status": [(s.label, by_status.get(s.value, 0), s.value) for s in Status],
        "by_link": [(s.label, by_link.get(s.value, 0), s.value) for s in LinkState if s != LinkState.NONE],
        "codes": [(s.label, codes.get(s.value, 0)) for s in PairingCode.Status],
        "failures": failures,
        "failures_total": by_link.get(LinkState.FAILED, 0),
        "ending": ending,
        "drift": drift,
        "drift_open": open_drift.count(),
        "attention": attention,
    }

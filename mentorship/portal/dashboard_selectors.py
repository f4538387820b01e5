"""The dashboard's figures: grouped counts over assignments, links, pairing codes and drift, a handful of queries."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments.models import CsvImport, MentorAssignment
from mentorship.assignments.selectors import needs_attention_q
from mentorship.sync.models import DriftItem, ObserverLink, PairingCode, ReconciliationRun

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


@dataclass(frozen=True)
class Waiting:
    """One thing waiting for this person's decision: what it is, since when, and the page where it is decided."""

    kind: str
    text: str
    url: str
    since: datetime.datetime


IMPORT_PREVIEW_DAYS = 7
WAITING_LIMIT = 20


def waiting_for(*, user: Any, program_ids: list[int]) -> tuple[list[Waiting], int]:
    """What needs this coordinator's decision, oldest first: proposals in a program that needs a second approver
    which someone else proposed (so this person may approve them), removals reconciliation held for confirmation,
    and their own CSV uploads not confirmed yet. Read fresh on every visit (a few indexed queries, never cached):
    an item must show as soon as its e-mail arrives. Returns the first WAITING_LIMIT items and how many there are."""
    proposals = MentorAssignment.objects.filter(
        program_id__in=program_ids, status=Status.PROPOSED, program__requires_second_approver=True
    ).exclude(proposed_by=user)
    held = ReconciliationRun.objects.filter(program_id__in=program_ids, status=ReconciliationRun.Status.HELD)
    since = timezone.now() - datetime.timedelta(days=IMPORT_PREVIEW_DAYS)
    imports = CsvImport.objects.filter(uploaded_by=user, state=CsvImport.State.PREVIEWED, created_at__gte=since)
    total = proposals.count() + held.count() + imports.count()
    items = [
        Waiting(
            kind="Approve",
            text=f"{a.mentor.name} → {a.student.name} ({a.program.name}), proposed by {_name(a.proposed_by)}",
            url=reverse("assignments:detail", args=[a.pk]),
            since=a.proposed_at,
        )
        for a in proposals.select_related("mentor", "student", "program", "proposed_by").order_by("proposed_at")[
            :WAITING_LIMIT
        ]
    ]
    items += [
        Waiting(
            kind="Confirm removals",
            text=f"Reconciliation of {run.program.name if run.program else 'every program'} holds removals",
            url=reverse("sync:drift"),
            since=run.started_at,
        )
        for run in held.select_related("program").order_by("started_at")[:WAITING_LIMIT]
    ]
    items += [
        Waiting(
            kind="Confirm import",
            text=f"{batch.filename or 'CSV'} for {batch.program.name}: {batch.row_count} rows checked",
            url=reverse("assignments:import_status", args=[batch.pk]),
            since=batch.created_at,
        )
        for batch in imports.select_related("program").order_by("created_at")[:WAITING_LIMIT]
    ]
    items.sort(key=lambda w: w.since)
    return items[:WAITING_LIMIT], total


def _name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else "someone"

"""Reads that depend on who is asking: a coordinator sees their programs' assignments only (others are 404)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.accounts.selectors import programs_for_coordinator
from mentorship.people.models import Person

from .models import MentorAssignment, Program

Status = MentorAssignment.Status
LinkState = MentorAssignment.LinkState
PAGE_SIZE = 50
COUNT_CAP = 10_000  # counting every match at 100,000 rows costs more than the page itself; "10,000+" is enough

SORTS = {
    "newest": ("-proposed_at", "-id"),
    "oldest": ("proposed_at", "id"),
    "starts": ("starts_on", "id"),
    "-starts": ("-starts_on", "-id"),
    "ends": ("ends_on", "id"),
    "-ends": ("-ends_on", "-id"),
    "mentor": ("mentor__sortable_name", "mentor__name", "id"),
    "student": ("student__sortable_name", "student__name", "id"),
}


def assignments_for_coordinator(*, user: User) -> QuerySet[MentorAssignment]:
    # The program ids as a literal list (one small query): the planner then uses the per-program indexes, where a
    # DISTINCT subquery made it sort every assignment at 100,000 rows.
    program_ids = list(programs_for_coordinator(user=user).values_list("pk", flat=True))
    return MentorAssignment.objects.filter(program_id__in=program_ids).select_related("program", "mentor", "student")


def assignment_for_coordinator(*, user: User, pk: int) -> MentorAssignment:
    """The assignment, or 404 when it does not exist or is outside the coordinator's programs."""
    return get_object_or_404(assignments_for_coordinator(user=user), pk=pk)


def program_for_coordinator(*, user: User, pk: int) -> Program:
    return get_object_or_404(programs_for_coordinator(user=user), pk=pk)


def needs_attention_q(today: datetime.date) -> Q:
    """A failed link, a pairing code nobody redeemed yet, or a proposal whose start date is (nearly) here."""
    return (
        Q(link_state=LinkState.FAILED)
        | Q(link_state=LinkState.AWAITING_REDEMPTION)
        | Q(status=Status.PROPOSED, starts_on__lte=today + datetime.timedelta(days=7))
    )


@dataclass
class ListFilters:
    program: int | None = None
    status: str = ""
    link_state: str = ""
    mentor: int | None = None
    student: int | None = None
    starts_from: datetime.date | None = None
    starts_to: datetime.date | None = None
    ends_from: datetime.date | None = None
    ends_to: datetime.date | None = None
    attention: bool = False
    q: str = ""
    sort: str = "newest"


def assignments_filtered(*, user: User, filters: ListFilters) -> QuerySet[MentorAssignment]:
    qs = assignments_for_coordinator(user=user)
    if filters.program:
        qs = qs.filter(program_id=filters.program)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.link_state:
        qs = qs.filter(link_state=filters.link_state)
    if filters.mentor:
        qs = qs.filter(mentor_id=filters.mentor)
    if filters.student:
        qs = qs.filter(student_id=filters.student)
    if filters.starts_from:
        qs = qs.filter(starts_on__gte=filters.starts_from)
    if filters.starts_to:
        qs = qs.filter(starts_on__lte=filters.starts_to)
    if filters.ends_from:
        qs = qs.filter(ends_on__gte=filters.ends_from)
    if filters.ends_to:
        qs = qs.filter(ends_on__lte=filters.ends_to)
    if filters.attention:
        qs = qs.filter(needs_attention_q(timezone.localdate()))
    term = filters.q.strip()
    if term:
        # Match people first (a small table) and then assignments by id: a LIKE across the join of 100,000
        # assignments would scan them all.
        people = Person.objects.filter(
            Q(name__icontains=term) | Q(sis_user_id__iexact=term) | Q(login_id__iexact=term)
        ).values("pk")
        match = Q(mentor_id__in=people) | Q(student_id__in=people) | Q(reason__icontains=term)
        if term.isdigit():
            match |= Q(pk=int(term))
        qs = qs.filter(match)
    return qs.order_by(*SORTS.get(filters.sort, SORTS["newest"]))


@dataclass
class Page:
    items: list[MentorAssignment]
    number: int
    has_next: bool
    has_previous: bool
    total: int
    total_capped: bool


def assignments_page(*, qs: QuerySet[MentorAssignment], page: int, size: int = PAGE_SIZE) -> Page:
    """One page plus a capped count (two queries whatever the size of the table)."""
    page = max(1, page)
    rows = list(qs[(page - 1) * size : page * size + 1])
    total = qs.order_by()[: COUNT_CAP + 1].count()
    return Page(
        items=rows[:size],
        number=page,
        has_next=len(rows) > size,
        has_previous=page > 1,
        total=min(total, COUNT_CAP),
        total_capped=total > COUNT_CAP,
    )


def dashboard_numbers(*, user: User, today: datetime.date | None = None) -> dict[str, Any]:
    """The coordinator's dashboard: grouped counts in a handful of queries."""
    from mentorship.sync.models import ObserverLink, PairingCode

    today = today or timezone.localdate()
    programs = programs_for_coordinator(user=user)
    assignments = MentorAssignment.objects.filter(program__in=programs)
    by_status = dict(assignments.order_by().values_list("status").annotate(n=Count("id")))
    links = ObserverLink.objects.filter(assignment__program__in=programs)
    by_link = dict(links.order_by().values_list("state").annotate(n=Count("id")))
    codes = dict(
        PairingCode.objects.filter(assignment__program__in=programs)
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
    drift: list[Any] = []
    drift_open = 0
    try:
        from mentorship.sync.models import DriftItem

        drift_qs = DriftItem.objects.filter(program__in=programs)
        open_status = getattr(DriftItem.Status, "OPEN", None)
        if open_status is not None:
            drift_qs = drift_qs.filter(status=open_status)
        drift_open = drift_qs.count()
        drift = list(drift_qs.order_by("-id")[:5])
    except Exception:  # the sync app's drift tables are optional for this page
        drift = []
    return {
        "by_status": [(s.label, by_status.get(s.value, 0), s.value) for s in Status],
        "by_link": [(s.label, by_link.get(s.value, 0), s.value) for s in ObserverLink.State],
        "codes": [(s.label, codes.get(s.value, 0)) for s in PairingCode.Status],
        "failures": failures,
        "failures_total": by_link.get(ObserverLink.State.FAILED, 0),
        "ending": ending,
        "drift": drift,
        "drift_open": drift_open,
        "attention": assignments.filter(needs_attention_q(today)).count(),
    }


def coordinators_of(*, program: Program) -> QuerySet[ProgramRole]:
    return ProgramRole.objects.filter(program=program).select_related("user", "granted_by").order_by("role", "user")

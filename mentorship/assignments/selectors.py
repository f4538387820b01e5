"""Reads that depend on who is asking: a coordinator sees their programs' assignments only (others are 404)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.core import keyset
from mentorship.people.models import Person
from mentorship.people.selectors import people_ids_matching, people_matching

from .models import MentorAssignment, Program

Status = MentorAssignment.Status
LinkState = MentorAssignment.LinkState
PAGE_SIZE = 50
COUNT_CAP = 10_000  # counting every match at 100,000 rows costs more than the page itself; "10,000+" is enough

# Every order ends with the id so pages are stable; each is an index walk within a program (see the model's
# indexes). Names sort by the copies of Person.sort_key kept on the assignment.
SORTS = {
    "newest": ("-proposed_at", "-id"),
    "oldest": ("proposed_at", "id"),
    "starts": ("starts_on", "id"),
    "-starts": ("-starts_on", "-id"),
    "ends": ("ends_on", "id"),
    "-ends": ("-ends_on", "-id"),
    "mentor": ("mentor_sort", "id"),
    "-mentor": ("-mentor_sort", "-id"),
    "student": ("student_sort", "id"),
    "-student": ("-student_sort", "-id"),
}
# A search matching more people (assignments) than this filters with subqueries instead of lists of ids.
SEARCH_PEOPLE_LIMIT = 500
SEARCH_ASSIGNMENTS_LIMIT = 2000
MAX_PAGE = 100_000  # a larger ?page= would overflow the database's OFFSET


def programs_for_coordinator(*, user: User) -> QuerySet[Program]:
    """Programs the user coordinates (admins coordinate none by default: they manage programs and roles)."""
    return Program.objects.filter(roles__user=user, roles__role=ProgramRole.Role.COORDINATOR).distinct()


def programs_for_reconciliation(*, user: User) -> QuerySet[Program]:
    """Programs whose reconciliation the user may run and confirm: their coordinators', and every program for an
    admin, whose recovery steps after a restore or an outage need it (docs/operations.md, "Back up and restore")."""
    if user.is_portal_admin:
        return Program.objects.all()
    return programs_for_coordinator(user=user)


def programs_for_auditor(*, user: User) -> QuerySet[Program]:
    if user.is_portal_admin:
        return Program.objects.all()
    return Program.objects.filter(roles__user=user, roles__role=ProgramRole.Role.AUDITOR).distinct()


def assignments_for_coordinator(*, user: User, program_ids: list[int] | None = None) -> QuerySet[MentorAssignment]:
    """`program_ids`: the user's programs when the caller already loaded them (they must come from
    programs_for_coordinator)."""
    # The program ids as a literal list (one small query): the planner then uses the per-program indexes, where a
    # DISTINCT subquery made it sort every assignment at 100,000 rows.
    if program_ids is None:
        program_ids = list(programs_for_coordinator(user=user).values_list("pk", flat=True))
    return MentorAssignment.objects.filter(program_id__in=program_ids).select_related("program", "mentor", "student")


def assignment_for_coordinator(*, user: User, pk: int) -> MentorAssignment:
    """The assignment, or 404 when it does not exist or is outside the coordinator's programs."""
    return get_object_or_404(assignments_for_coordinator(user=user), pk=pk)


def program_for_coordinator(*, user: User, pk: int) -> Program:
    return get_object_or_404(programs_for_coordinator(user=user), pk=pk)


ATTENTION_DAYS = 7  # a proposal needs attention this many days before its start date (the dashboard says so)


def needs_attention_q(today: datetime.date) -> Q:
    """A failed link, a pairing code nobody redeemed yet, or a proposal whose start date is (nearly) here."""
    return (
        Q(link_state=LinkState.FAILED)
        | Q(link_state=LinkState.AWAITING_REDEMPTION)
        | Q(status=Status.PROPOSED, starts_on__lte=today + datetime.timedelta(days=ATTENTION_DAYS))
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


# ListFilters field -> the lookup it narrows the list by, when it is set (each on a column of the assignment).
_FILTER_LOOKUPS = {
    "program": "program_id",
    "status": "status",
    "link_state": "link_state",
    "mentor": "mentor_id",
    "student": "student_id",
    "starts_from": "starts_on__gte",
    "starts_to": "starts_on__lte",
    "ends_from": "ends_on__gte",
    "ends_to": "ends_on__lte",
}


def assignments_filtered(
    *, user: User, filters: ListFilters, program_ids: list[int] | None = None
) -> QuerySet[MentorAssignment]:
    qs = assignments_for_coordinator(user=user, program_ids=program_ids)
    lookups = {lookup: getattr(filters, field) for field, lookup in _FILTER_LOOKUPS.items()}
    qs = qs.filter(**{lookup: value for lookup, value in lookups.items() if value})
    if filters.attention:
        qs = qs.filter(needs_attention_q(timezone.localdate()))
    term = filters.q.strip()
    if term:
        qs = qs.filter(search_q(term))
    return qs.order_by(*SORTS.get(filters.sort, SORTS["newest"]))


def search_q(term: str) -> Q:
    """Assignments whose mentor or student matches (people_matching), whose reason contains the term, or whose id
    it is. People first, then the matching assignment ids (two short indexed queries, so the list query is a
    lookup of ids); a term matching too many people or assignments falls back to the same test as subqueries."""
    match = Q(pk=int(term)) if term.isdigit() and len(term) < 19 else Q()
    in_reason = Q(reason__icontains=term)
    person_ids = people_ids_matching(term, limit=SEARCH_PEOPLE_LIMIT)
    if len(person_ids) > SEARCH_PEOPLE_LIMIT:
        people = people_matching(term).order_by().values("pk")
        return match | Q(mentor_id__in=people) | Q(student_id__in=people) | in_reason
    by_people = Q(mentor_id__in=person_ids) | Q(student_id__in=person_ids) if person_ids else Q(pk__in=[])
    found = MentorAssignment.objects.filter(by_people | in_reason).order_by().values_list("pk", flat=True)
    ids = list(found[: SEARCH_ASSIGNMENTS_LIMIT + 1])
    if len(ids) > SEARCH_ASSIGNMENTS_LIMIT:
        return match | by_people | in_reason
    return match | Q(pk__in=ids)


@dataclass
class Page:
    items: list[MentorAssignment]
    number: int
    has_next: bool
    has_previous: bool
    total: int
    total_capped: bool
    # Where the next and previous pages start (mentorship/core/keyset.py); empty when the list cannot be sought.
    next_cursor: str = ""
    previous_cursor: str = ""


def assignments_page(
    *, qs: QuerySet[MentorAssignment], page: int, size: int = PAGE_SIZE, after: str = "", before: str = ""
) -> Page:
    """One page plus a capped count, in at most three queries whatever the size of the table: the page's ids with
    their sort values (narrow rows, so a sort never carries joined columns), the rows of those ids with their people
    and program, and the count, skipped when the page itself shows where the list ends. Past the first page the
    links carry a cursor (`after`, `before`), so a deep page is an index seek, not an OFFSET."""
    page = min(max(1, page), MAX_PAGE)
    order = keyset.ordering_of(qs)
    columns = [term.lstrip("-") for term in order] if order else ["pk"]
    boundary = keyset.decode(after or before, order) if order and (after or before) else None
    if order and boundary is not None:
        backwards = not after
        sought = qs.filter(keyset.beyond(order, boundary, backwards=backwards))
        if backwards:
            sought = sought.order_by(*keyset.reversed_order(order))
        rows = list(sought.values_list(*columns)[: size + 1])
        more = len(rows) > size
        rows = rows[:size][::-1] if backwards else rows[:size]
        has_next, has_previous = (True, more) if backwards else (more, True)
        end_shown = False
    else:
        offset = (page - 1) * size
        rows = list(qs.values_list(*columns)[offset : offset + size + 1])
        has_next, has_previous = len(rows) > size, page > 1
        rows = rows[:size]
        end_shown = not has_next and (page == 1 or bool(rows))
    ids = [row[-1] for row in rows]
    # The ids came from the coordinator's scoped query; fetching them by id alone keeps this query trivial.
    by_id = MentorAssignment.objects.select_related("program", "mentor", "student").in_bulk(ids) if ids else {}
    items = [by_id[pk] for pk in ids if pk in by_id]
    total = (page - 1) * size + len(items) if end_shown else qs.order_by()[: COUNT_CAP + 1].count()
    cursors = [keyset.encode(list(row)) for row in (rows[-1], rows[0])] if order and rows else ["", ""]
    return Page(
        items=items,
        number=page,
        has_next=has_next,
        has_previous=has_previous,
        total=min(total, COUNT_CAP),
        total_capped=total > COUNT_CAP,
        next_cursor=cursors[0] if has_next else "",
        previous_cursor=cursors[1] if has_previous else "",
    )


def coordinators_of(*, program: Program) -> QuerySet[ProgramRole]:
    return ProgramRole.objects.filter(program=program).select_related("user", "granted_by").order_by("role", "user")


def assignments_of_person(*, user: Any, person: Person) -> QuerySet[MentorAssignment]:
    """The person's assignments in the viewer's programs only (as mentor or as student)."""
    return (
        MentorAssignment.objects.filter(Q(mentor=person) | Q(student=person))
        .filter(program__in=programs_for_coordinator(user=user))
        .select_related("program", "mentor", "student")
        .order_by("-starts_on", "-id")
    )

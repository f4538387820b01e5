"""Reads about people that depend on who asks: people pages are for coordinators and admins only (404 otherwise)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Upper
from django.http import Http404
from django.shortcuts import get_object_or_404

from mentorship.accounts.models import ProgramRole

from .models import Person


def can_manage_people(*, user: Any) -> bool:
    """A portal admin, or a coordinator of any program (every role row names a program)."""
    if not user.is_authenticated:
        return False
    return bool(
        user.is_portal_admin or ProgramRole.objects.filter(user=user, role=ProgramRole.Role.COORDINATOR).exists()
    )


def people_matching(term: str) -> QuerySet[Person]:
    """The one people search, used by every page that looks people up (the people page, the assignment form's
    pickers, the assignment list's search): the name contains the term, or the SIS id or login is the term (any
    case), or, for a number, the Canvas id is. SIS ids and logins match whole: "AIDE-00" is no one's SIS id, and a
    whole-value test can use the UPPER() indexes (docs/decisions.md, "One people search")."""
    term = term.strip()
    upper = term.upper()
    match = Q(name__icontains=term) | Q(sis_upper=upper) | Q(login_upper=upper)
    if _is_canvas_id(term):
        match |= Q(canvas_user_id=int(term))
    return Person.objects.annotate(sis_upper=Upper("sis_user_id"), login_upper=Upper("login_id")).filter(match)


def people_ids_matching(term: str, *, limit: int) -> list[int]:
    """people_matching's ids (at most limit + 1) as a UNION, so each test uses its own index: on PostgreSQL the
    trigram index on UPPER(name) and the UPPER() indexes on SIS id and login; on SQLite the ids still use theirs
    (an OR made SQLite compute both UPPER()s for every person)."""
    term = term.strip()
    upper = term.upper()
    people = Person.objects.order_by()
    by_name = people.filter(name__icontains=term).values_list("pk", flat=True)
    by_sis = people.annotate(key=Upper("sis_user_id")).filter(key=upper).values_list("pk", flat=True)
    by_login = people.annotate(key=Upper("login_id")).filter(key=upper).values_list("pk", flat=True)
    parts: list[QuerySet[Any, int]] = [by_sis, by_login]
    if _is_canvas_id(term):
        parts.append(people.filter(canvas_user_id=int(term)).values_list("pk", flat=True))
    return list(by_name.union(*parts)[: limit + 1])


def _is_canvas_id(term: str) -> bool:
    return term.isdigit() and len(term) < 19  # longer numbers overflow a bigint: no one's id


def people_search(*, user: Any, term: str, limit: int = 50) -> QuerySet[Person]:
    """The people page: everyone (a portal admin or any coordinator may look), or people_matching the term."""
    if not can_manage_people(user=user):
        raise Http404
    term = term.strip()
    qs = people_matching(term) if term else Person.objects.all()
    return qs.order_by("sortable_name", "name", "id")[:limit]


def person_for_user(*, user: Any, pk: int) -> Person:
    if not can_manage_people(user=user):
        raise Http404
    return get_object_or_404(Person, pk=pk)

"""Reads about people that depend on who asks: people pages are for coordinators and admins only (404 otherwise)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
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


def people_search(*, user: Any, term: str, limit: int = 50) -> QuerySet[Person]:
    if not can_manage_people(user=user):
        raise Http404
    qs = Person.objects.all()
    term = term.strip()
    if term:
        match = Q(name__icontains=term) | Q(sis_user_id__istartswith=term) | Q(login_id__istartswith=term)
        if term.isdigit():
            match |= Q(canvas_user_id=int(term))
        qs = qs.filter(match)
    return qs.order_by("sortable_name", "name", "id")[:limit]


def person_for_user(*, user: Any, pk: int) -> Person:
    if not can_manage_people(user=user):
        raise Http404
    return get_object_or_404(Person, pk=pk)

"""Reads about people that depend on who asks: people pages are for coordinators and admins only (404 otherwise)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from mentorship.accounts.selectors import programs_for_coordinator
from mentorship.assignments.models import MentorAssignment

from .models import Person


def can_manage_people(*, user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_portal_admin or programs_for_coordinator(user=user).exists()))


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


def assignments_of_person(*, user: Any, person: Person) -> QuerySet[MentorAssignment]:
    """The person's assignments in the viewer's programs only (as mentor or as student)."""
    return (
        MentorAssignment.objects.filter(Q(mentor=person) | Q(student=person))
        .filter(program__in=programs_for_coordinator(user=user))
        .select_related("program", "mentor", "student")
        .order_by("-starts_on", "-id")
    )

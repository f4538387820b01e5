"""Reads that depend on who is asking: a coordinator sees their programs' assignments only."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from mentorship.accounts.models import User
from mentorship.accounts.selectors import programs_for_coordinator

from .models import MentorAssignment


def assignments_for_coordinator(*, user: User) -> QuerySet[MentorAssignment]:
    return MentorAssignment.objects.filter(program__in=programs_for_coordinator(user=user)).select_related(
        "program", "mentor", "student"
    )


def assignment_for_coordinator(*, user: User, pk: int) -> MentorAssignment:
    """The assignment, or 404 when it does not exist or is outside the coordinator's programs."""
    return get_object_or_404(assignments_for_coordinator(user=user), pk=pk)

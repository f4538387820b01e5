"""Who may see what. Every view asks here instead of checking roles itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from mentorship.assignments.models import Program

from .models import ProgramRole, User


@dataclass(frozen=True)
class Capabilities:
    is_admin: bool
    coordinates: bool
    audits: bool
    mentors: bool


def user_capabilities(*, user: Any) -> Capabilities | None:
    if user is None or not user.is_authenticated:
        return None
    roles = set(ProgramRole.objects.filter(user=user).values_list("role", flat=True))
    return Capabilities(
        is_admin=user.is_portal_admin,
        coordinates=ProgramRole.Role.COORDINATOR in roles,
        audits=ProgramRole.Role.AUDITOR in roles,
        mentors=user.person_id is not None,
    )


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

"""Who may see what. Every view asks here instead of checking roles itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import ProgramRole


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

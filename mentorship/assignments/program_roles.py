"""Writes to roles. Every grant and revoke is audited (role.granted / role.revoked) in the same transaction."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments.models import Program
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record


class RoleError(Exception):
    """The role change cannot be made; the message is a sentence for the admin."""


def role_grant(
    *, program: Program, user: User, role: str, actor: User, request: HttpRequest | None = None
) -> ProgramRole:
    """Give `user` a role in `program`. Raises RoleError for an unknown role or one the user already holds."""
    if role not in ProgramRole.Role.values:
        raise RoleError(f"{role!r} is not a role; choose coordinator or auditor.")
    with transaction.atomic():
        grant, created = ProgramRole.objects.get_or_create(
            program=program, user=user, role=role, defaults={"granted_by": actor}
        )
        if not created:
            raise RoleError(f"{user.get_username()} is already {grant.get_role_display().lower()} of {program.name}.")
        _audit(Action.ROLE_GRANTED, grant=grant, actor=actor, request=request)
    return grant


def role_revoke(*, grant: ProgramRole, actor: User, request: HttpRequest | None = None) -> None:
    """Take a role away. Raises RoleError when it was already revoked (by someone else at the same time)."""
    with transaction.atomic():
        deleted, _ = ProgramRole.objects.filter(pk=grant.pk).delete()
        if not deleted:
            raise RoleError("That role was already revoked.")
        _audit(Action.ROLE_REVOKED, grant=grant, actor=actor, request=request)


def _audit(action: str, *, grant: ProgramRole, actor: User, request: HttpRequest | None) -> None:
    """role.granted and role.revoked carry the same details: whose role, and which."""
    details = {"user": grant.user.get_username(), "user_id": grant.user_id, "role": grant.role}
    audit_record(action=action, actor=actor, program=grant.program, obj=grant, request=request, details=details)

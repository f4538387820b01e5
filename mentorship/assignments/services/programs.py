"""Creating and changing programs (admins only); every change is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from mentorship.accounts.models import User
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record

from ..models import Program
from .errors import (
    AssignmentError,
)

PROGRAM_FIELDS = (
    "name",
    "slug",
    "description",
    "default_link_method",
    "requires_second_approver",
    "max_assignment_days",
    "mentor_capacity",
    "is_active",
)


def program_create(*, actor: User, request: HttpRequest | None = None, **fields: Any) -> Program:
    """Create a program (admins). Unknown field names raise TypeError."""
    unknown = set(fields) - set(PROGRAM_FIELDS)
    if unknown:
        raise TypeError(f"unknown program fields: {sorted(unknown)}")
    if Program.objects.filter(slug=fields.get("slug", "")).exists():
        raise AssignmentError("Another program already uses this short name (slug).")
    with transaction.atomic():
        program = Program.objects.create(**fields)
        _audit(Action.PROGRAM_CREATED, program=program, actor=actor, request=request, details=_settings(program))
    return program


def program_update(*, program: Program, actor: User, request: HttpRequest | None = None, **changes: Any) -> Program:
    """Change a program's settings; the audit event records old and new values of what changed."""
    unknown = set(changes) - set(PROGRAM_FIELDS)
    if unknown:
        raise TypeError(f"unknown program fields: {sorted(unknown)}")
    if "slug" in changes and Program.objects.filter(slug=changes["slug"]).exclude(pk=program.pk).exists():
        raise AssignmentError("Another program already uses this short name (slug).")
    diff = {k: [getattr(program, k), v] for k, v in changes.items() if getattr(program, k) != v}
    if not diff:
        return program
    with transaction.atomic():
        for key, (_old, new) in diff.items():
            setattr(program, key, new)
        program.save(update_fields=list(diff))
        _audit(Action.PROGRAM_UPDATED, program=program, actor=actor, request=request, details={"changes": diff})
    return program


def _settings(program: Program) -> dict[str, Any]:
    return {k: getattr(program, k) for k in PROGRAM_FIELDS}


def _audit(action: str, *, program: Program, actor: User, request: HttpRequest | None, details: dict[str, Any]) -> None:
    """A program's own event: the program is both the scope and the object."""
    audit_record(action=action, actor=actor, program=program, obj=program, request=request, details=details)

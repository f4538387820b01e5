"""Editing a proposal before anyone decides it: dates, method and reason (docs/decisions.md, "A proposal can be
edited until it is decided").

The mentor, the student and the program stay: changing those is a different proposal. The rules are checked again
under the mentor's lock, as when proposing, and the audit event lists each field that changed (old and new).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from mentorship.accounts.models import User
from mentorship.audit.actions import Action
from mentorship.people.models import Person

from ..models import LinkMethod, MentorAssignment
from .errors import AssignmentError, audit_assignment
from .rules import form_refusal, rule_errors

EDITABLE = ("starts_on", "ends_on", "link_method", "reason")


class NothingChanged(AssignmentError):
    """The edit changes nothing (a second submit of the same form, or no field touched)."""


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime.date) else value


def assignment_update(
    *,
    assignment: MentorAssignment,
    actor: User,
    starts_on: datetime.date,
    ends_on: datetime.date,
    link_method: str,
    reason: str,
    request: HttpRequest | None = None,
) -> MentorAssignment:
    """Change a proposal's dates, method and reason. Raises AssignmentError when it is no longer proposed (someone
    decided it first) or a rule refuses the change, NothingChanged when nothing differs; nothing changes then."""
    reason = (reason or "").strip()
    refusal = form_refusal(reason=reason, starts_on=starts_on, ends_on=ends_on, link_method=link_method)
    if refusal:
        raise AssignmentError(refusal)
    if link_method == LinkMethod.COURSES and not assignment.courses.exists():
        raise AssignmentError("The 'courses' method needs courses in scope: propose again with the courses chosen.")
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=assignment.mentor_id).first()
        current = MentorAssignment.objects.select_for_update().select_related("program").get(pk=assignment.pk)
        if current.status != MentorAssignment.Status.PROPOSED:
            raise AssignmentError(
                f"This proposal was {current.get_status_display().lower()} meanwhile: it can no longer be edited."
            )
        wanted = {"starts_on": starts_on, "ends_on": ends_on, "link_method": link_method, "reason": reason}
        changes = {
            name: [_text(getattr(current, name)), _text(value)]
            for name, value in wanted.items()
            if getattr(current, name) != value
        }
        if not changes:
            raise NothingChanged("Nothing was changed: the proposal already says this.")
        errors = rule_errors(
            program=current.program,
            mentor=assignment.mentor,
            student=assignment.student,
            starts_on=starts_on,
            ends_on=ends_on,
            exclude_pk=current.pk,
        )
        if errors:
            raise AssignmentError(" ".join(errors))
        for name, value in wanted.items():
            setattr(current, name, value)
        current.save(update_fields=[*EDITABLE, "updated_at"])
        audit_assignment(
            current,
            action=Action.ASSIGNMENT_UPDATED,
            actor=actor,
            program=current.program,
            student=assignment.student,
            request=request,
            details={"changes": changes},
        )
    return current

"""What the assignment services refuse with, and the statuses they share."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from mentorship.audit.models import AuditEvent
from mentorship.audit.services import audit_record
from mentorship.people.models import Person

from ..models import MentorAssignment, Program

Status = MentorAssignment.Status
SYSTEM_BEAT = "system:beat"
# Statuses that hold (or will hold) a place: a new proposal overlapping one of these for the same pair is a duplicate.
LIVE_STATUSES = (Status.PROPOSED, Status.APPROVED)


class AssignmentError(Exception):
    """A rule refused the change; the message is a sentence for the coordinator."""


class AlreadyDecided(AssignmentError):
    """Someone else changed the assignment first (compare-and-set lost)."""

    def __init__(self, assignment: MentorAssignment, *, actor: Any = None) -> None:
        at: datetime.datetime | None
        if assignment.status == Status.ENDED and assignment.ended_at:
            who_user, at = assignment.ended_by, assignment.ended_at
        else:
            who_user, at = assignment.decided_by, assignment.decided_at
        when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else ""
        status = assignment.get_status_display().lower()
        if actor is not None and who_user is not None and who_user.pk == actor.pk:
            # The same person again: a double click or a second tab, not a race with a colleague.
            message = f"You already {status} this assignment" + (f" at {when}." if when else ".")
            message += " Nothing else was changed."
        else:
            who = _person_name(who_user) if who_user else "someone else"
            message = f"This assignment is already {status}: {who} decided it first" + (f" at {when}." if when else ".")
            message += " Nothing was changed."
        super().__init__(message)
        self.assignment = assignment


@dataclass(frozen=True)
class ApprovalWarning:
    """Something the approver must see and confirm (code is recorded in warnings_acknowledged)."""

    code: str
    message: str
    needs_confirmation: bool = True


class NeedsConfirmation(AssignmentError):
    """The approval raises warnings the approver has not confirmed yet."""

    def __init__(self, warnings: Sequence[ApprovalWarning]) -> None:
        self.warnings = list(warnings)
        super().__init__("Please confirm: " + " ".join(w.message for w in warnings if w.needs_confirmation))


def _person_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


def audit_assignment(
    assignment: MentorAssignment,
    *,
    action: str,
    program: Program | None = None,
    student: Person | None = None,
    **fields: Any,
) -> AuditEvent:
    """`audit_record` for an event about one assignment: its program and student go with it. Pass them when they are
    at hand already: after refresh_from_db() the assignment's cached relations are gone and each costs a query."""
    return audit_record(
        action=action,
        program=program or assignment.program,
        student=student or assignment.student,
        obj=assignment,
        **fields,
    )

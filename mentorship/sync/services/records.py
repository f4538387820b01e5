"""Recording a row's outcome: the assignment's lock first, one audit event per outcome, hand-over when stale."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from mentorship.assignments.models import MentorAssignment
from mentorship.audit.actions import Outcome
from mentorship.audit.services import audit_record

from ..models import ObserverLink
from . import publishing
from .common import (
    State,
)

logger = logging.getLogger(__name__)


def _audit_link(link: ObserverLink, action: str, *, outcome: str = Outcome.OK, details: dict[str, Any]) -> None:
    audit_record(
        action=action,
        system_actor="worker",
        program=link.assignment.program,
        student=link.assignment.student,
        obj=link,
        outcome=outcome,
        details={"assignment": link.assignment_id, "generation": link.generation, "kind": link.kind, **details},
    )


def _lock_assignment(assignment_id: int) -> None:
    """Every transaction that changes an assignment's links, its audit trail and its summary takes the assignment's
    row lock first, as the coordinator's services do (their UPDATE of the assignment comes first): one lock order,
    so a worker recording a link and a coordinator ending the assignment queue instead of deadlocking."""
    list(MentorAssignment.objects.select_for_update().filter(pk=assignment_id).values_list("pk", flat=True))


def _hand_over(link: ObserverLink, token: str) -> None:
    """Our claim outlived our generation (the assignment changed while we worked): give the row back as pending at
    its new generation and publish it, so its new goal is pursued at once."""
    with transaction.atomic():
        released = ObserverLink.objects.filter(pk=link.pk, claim=token).update(
            state=State.PENDING, claim="", updated_at=timezone.now()
        )
        if released:
            current = ObserverLink.objects.get(pk=link.pk)
            transaction.on_commit(lambda: publishing._publish(current.pk, current.generation))

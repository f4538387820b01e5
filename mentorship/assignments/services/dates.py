"""Dates (called by the beat): plan links for assignments whose start date arrived, end those whose end passed."""

from __future__ import annotations

import datetime

from django.db import transaction

from mentorship.audit.actions import Action

from ..hooks import canvas_links
from ..models import MentorAssignment
from .deciding import assignment_end
from .errors import (
    SYSTEM_BEAT,
    AlreadyDecided,
    Status,
    audit_assignment,
)


def assignments_activate_due(*, today: datetime.date) -> list[int]:
    """Plan links for approved assignments whose start date arrived and that have no links yet. Returns their ids."""
    due = list(
        MentorAssignment.objects.filter(status=Status.APPROVED, starts_on__lte=today, ends_on__gte=today)
        .filter(links__isnull=True)
        .values_list("pk", flat=True)
    )
    activated = []
    for pk in due:
        with transaction.atomic():
            assignment = (
                MentorAssignment.objects.select_for_update()
                .filter(pk=pk, status=Status.APPROVED)
                .select_related("program", "mentor", "student")
                .first()
            )
            # Another beat run may have planned it between the query and the lock.
            if assignment is None or assignment.links.exists():
                continue
            links = canvas_links().plan(assignment=assignment)
            audit_assignment(
                assignment,
                action=Action.ASSIGNMENT_ACTIVATED,
                system_actor=SYSTEM_BEAT,
                details={"starts_on": assignment.starts_on.isoformat(), "links": len(links)},
            )
            transaction.on_commit(lambda links=links: canvas_links().enqueue(links=links))  # type: ignore[misc]
            activated.append(pk)
    return activated


def assignments_end_due(*, today: datetime.date) -> list[int]:
    """End approved assignments whose end date passed (system:beat); their links are retired. Returns their ids."""
    due = list(
        MentorAssignment.objects.filter(status=Status.APPROVED, ends_on__lt=today)
        .select_related("program", "student")
        .order_by("pk")
    )
    ended = []
    for assignment in due:
        try:
            assignment_end(assignment=assignment, system_actor=SYSTEM_BEAT, reason="The end date passed.")
        except AlreadyDecided:
            continue
        ended.append(assignment.pk)
    return ended

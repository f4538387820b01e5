"""Making Canvas match what was approved (DESIGN.md section 5)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from canvas_client import CanvasError
from mentorship.assignments.models import MentorAssignment
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record

from .canvas import portal_client, root_account_id
from .models import ObserverLink

logger = logging.getLogger(__name__)


def links_plan(*, assignment: MentorAssignment) -> list[ObserverLink]:
    """Upsert the ObserverLink rows an approved assignment needs, as pending at its current generation.

    Call inside the transaction that changed the assignment; enqueue `links_enqueue` after commit.
    """
    link, _ = ObserverLink.objects.update_or_create(
        assignment=assignment,
        kind=ObserverLink.Kind.OBSERVEE,
        defaults={
            "observer_canvas_id": assignment.mentor.canvas_user_id,
            "student_canvas_id": assignment.student.canvas_user_id,
            "desired": ObserverLink.Desired.PRESENT,
            "state": ObserverLink.State.PENDING,
            "generation": assignment.generation,
            "attempts": 0,
            "last_error": "",
            "next_attempt_at": None,
        },
    )
    MentorAssignment.objects.filter(pk=assignment.pk).update(link_state=MentorAssignment.LinkState.PENDING)
    return [link]


def links_enqueue(*, links: list[ObserverLink]) -> None:
    """Publish one sync task per link. A lost message is re-sent by the outbox sweeper."""
    from .tasks import sync_link

    for link in links:
        try:
            sync_link.delay(link.pk, link.generation)
        except Exception:  # the broker being down must not fail the coordinator's approval
            logger.warning("broker unavailable; link %s left for the sweeper", link.pk, exc_info=True)


def link_sync(*, link_id: int, generation: int) -> None:
    """Make Canvas hold (or not hold) one link. Safe to run twice and out of order."""
    claimed = ObserverLink.objects.filter(
        pk=link_id, generation=generation, state__in=[ObserverLink.State.PENDING, ObserverLink.State.FAILED]
    ).update(state=ObserverLink.State.LINKING, updated_at=timezone.now())
    if not claimed:
        return
    link = ObserverLink.objects.select_related("assignment__program", "assignment__student").get(pk=link_id)
    try:
        portal_client().add_observee(
            link.observer_canvas_id, link.student_canvas_id, root_account_id=root_account_id()
        )
    except CanvasError as exc:
        with transaction.atomic():
            ObserverLink.objects.filter(pk=link.pk, generation=generation).update(
                state=ObserverLink.State.FAILED,
                attempts=link.attempts + 1,
                last_error=exc.user_message,
                last_error_status=exc.status,
            )
            MentorAssignment.objects.filter(pk=link.assignment_id).update(
                link_state=MentorAssignment.LinkState.FAILED
            )
            audit_record(
                action=Action.CANVAS_FAILED,
                system_actor="worker",
                program=link.assignment.program,
                student=link.assignment.student,
                obj=link,
                outcome=Outcome.FAILED,
                details={"status": exc.status, "error": exc.user_message},
            )
        return
    now = timezone.now()
    with transaction.atomic():
        updated = ObserverLink.objects.filter(pk=link.pk, generation=generation).update(
            state=ObserverLink.State.LINKED, attempts=link.attempts + 1, synced_at=now, linked_at=now, last_error=""
        )
        if updated:
            MentorAssignment.objects.filter(pk=link.assignment_id).update(
                link_state=MentorAssignment.LinkState.LINKED
            )
            audit_record(
                action=Action.CANVAS_LINKED,
                system_actor="worker",
                program=link.assignment.program,
                student=link.assignment.student,
                obj=link,
                details={"observer": link.observer_canvas_id, "student": link.student_canvas_id},
            )

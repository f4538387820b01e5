"""Planning links: the ObserverLink rows an assignment needs, written inside the transaction that changed it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from mentorship.assignments.models import LinkMethod, MentorAssignment

from ..models import ObserverLink, PairingCode
from .common import (
    WORKING,
    Desired,
    State,
)

logger = logging.getLogger(__name__)


def links_plan(*, assignment: MentorAssignment) -> list[ObserverLink]:
    """Upsert the ObserverLink rows an approved assignment needs, desired present, pending, at its generation.

    observee and pairing_code: one kind=observee row; courses: one kind=course row per AssignmentCourse (rows for
    courses no longer in scope are retired). A row a task is working on right now keeps its state and claim: that
    task sees the new generation when it records, and hands the row back as pending.
    Call inside the transaction that changed the assignment; call `links_enqueue` in transaction.on_commit.
    """
    wanted: list[tuple[str, int | None]]
    if assignment.link_method == LinkMethod.COURSES:
        wanted = [(ObserverLink.Kind.COURSE, c.canvas_course_id) for c in assignment.courses.all()]
    else:
        wanted = [(ObserverLink.Kind.OBSERVEE, None)]
    existing = {(link.kind, link.canvas_course_id): link for link in ObserverLink.objects.filter(assignment=assignment)}
    planned: list[ObserverLink] = []
    for kind, course_id in wanted:
        link = existing.pop((kind, course_id), None)
        if link is None:
            link = ObserverLink.objects.create(
                assignment=assignment,
                kind=kind,
                canvas_course_id=course_id,
                observer_canvas_id=assignment.mentor.canvas_user_id,
                student_canvas_id=assignment.student.canvas_user_id,
                desired=Desired.PRESENT,
                state=State.PENDING,
                generation=assignment.generation,
            )
        else:
            _retarget(link, desired=Desired.PRESENT, generation=assignment.generation)
        planned.append(link)
    for link in existing.values():
        if link.desired == Desired.PRESENT:
            planned.extend(_retire_rows([link], generation=assignment.generation))
    assignment_link_state_refresh(assignment_id=assignment.pk)
    return planned


def links_retire(*, assignment: MentorAssignment) -> list[ObserverLink]:
    """Mark the assignment's rows desired=absent at its current generation; return the rows that need Canvas work.

    Rows that certainly never reached Canvas become unlinked at once; issued pairing codes are superseded.
    Call inside the transaction that ended or cancelled the assignment; `links_enqueue` after commit.
    """
    PairingCode.objects.filter(assignment=assignment, status=PairingCode.Status.ISSUED).update(
        status=PairingCode.Status.SUPERSEDED
    )
    rows = list(ObserverLink.objects.filter(assignment=assignment))
    result = _retire_rows(rows, generation=assignment.generation)
    assignment_link_state_refresh(assignment_id=assignment.pk)
    return result


def _never_reached_canvas(link: ObserverLink) -> bool:
    if link.linked_at is not None or link.canvas_enrollment_id is not None:
        return False
    if link.state == State.PENDING and link.attempts == 0:
        return True
    # A refusal (4xx) means Canvas answered and did nothing; a failure without an answer may hide a done change.
    return link.state == State.FAILED and link.last_error_status is not None and 400 <= link.last_error_status < 500


def _retire_rows(rows: Iterable[ObserverLink], *, generation: int) -> list[ObserverLink]:
    needs_canvas = []
    now = timezone.now()
    for link in rows:
        if link.state not in WORKING and _never_reached_canvas(link):
            ObserverLink.objects.filter(pk=link.pk).update(
                desired=Desired.ABSENT,
                state=State.UNLINKED,
                generation=generation,
                claim="",
                next_attempt_at=None,
                updated_at=now,
            )
            link.desired, link.state, link.generation = Desired.ABSENT, State.UNLINKED, generation
            continue
        _retarget(link, desired=Desired.ABSENT, generation=generation)
        needs_canvas.append(link)
    return needs_canvas


def _retarget(link: ObserverLink, *, desired: str, generation: int) -> None:
    fields: dict[str, Any] = {
        "desired": desired,
        "generation": generation,
        "attempts": 0,
        "next_attempt_at": None,
        "last_error": "",
        "last_error_status": None,
        "updated_at": timezone.now(),
    }
    if link.state not in WORKING:
        fields.update(state=State.PENDING, claim="")
    ObserverLink.objects.filter(pk=link.pk).update(**fields)
    for name, value in fields.items():
        setattr(link, name, value)


def assignment_link_state_refresh(*, assignment_id: int) -> str:
    """Recompute MentorAssignment.link_state (the list filters' summary) from its links."""
    states = list(ObserverLink.objects.filter(assignment_id=assignment_id).values_list("desired", "state"))
    LinkState = MentorAssignment.LinkState
    if not states:
        summary = LinkState.NONE
    elif any(s == State.FAILED for _, s in states):
        summary = LinkState.FAILED
    elif all(d == Desired.ABSENT and s == State.UNLINKED for d, s in states):
        summary = LinkState.UNLINKED
    elif all(d == Desired.PRESENT and s == State.LINKED for d, s in states):
        summary = LinkState.LINKED
    elif any(s == State.AWAITING_REDEMPTION for _, s in states):
        summary = LinkState.AWAITING_REDEMPTION
    else:
        summary = LinkState.PENDING
    MentorAssignment.objects.filter(pk=assignment_id).exclude(link_state=summary).update(link_state=summary)
    return summary

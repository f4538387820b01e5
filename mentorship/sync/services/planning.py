"""Planning links: the ObserverLink rows an assignment needs, written inside the transaction that changed it."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils import timezone

from mentorship.assignments.models import AssignmentCourse, LinkMethod, MentorAssignment

from ..models import ObserverLink, PairingCode
from .common import (
    WORKING,
    Desired,
    State,
)

logger = logging.getLogger(__name__)

Pair = tuple[int, int]  # (observer canvas id, student canvas id)


@dataclass
class PairDesired:
    """What Canvas should hold for one (observer, student) pair on one day, from all of the pair's assignments.

    Canvas keeps one user-level link per pair, and removing it deletes every observer enrollment of the pair
    (docs/canvas-rules.md, section 2), so the rows of one assignment cannot be synced without knowing the others.
    `courses` are the course-scoped enrollments wanted, each with the widest window of the assignments that need it.
    """

    observee: bool = False
    courses: dict[int, tuple[datetime.date, datetime.date]] = field(default_factory=dict)

    def wants_course(self, course_id: int | None) -> bool:
        """Is the observer meant to observe the student in this course (through the link or an enrollment)?"""
        return self.observee or (course_id is not None and course_id in self.courses)

    @property
    def empty(self) -> bool:
        return not self.observee and not self.courses


def pairs_desired_state(
    *, pairs: Iterable[Pair] | None = None, on: datetime.date | None = None
) -> dict[Pair, PairDesired]:
    """The desired Canvas state of each pair (all pairs when `pairs` is None), from every program's assignments that
    are approved and active on `on` (today by default). A pair nothing wants is absent from the answer.

    The one definition of "what Canvas should hold": the task body and the reconciler both ask it.
    """
    on = on or timezone.localdate()
    active = MentorAssignment.objects.filter(
        status=MentorAssignment.Status.APPROVED, starts_on__lte=on, ends_on__gte=on
    )
    if pairs is not None:
        wanted = set(pairs)
        if not wanted:
            return {}
        match = Q()
        for observer, student in wanted:
            match |= Q(mentor__canvas_user_id=observer, student__canvas_user_id=student)
        active = active.filter(match)
    result: dict[Pair, PairDesired] = {}
    rows = active.values_list("pk", "mentor__canvas_user_id", "student__canvas_user_id", "link_method")
    scoped: dict[int, Pair] = {}
    for pk, observer, student, method in rows:
        state = result.setdefault((observer, student), PairDesired())
        if method == LinkMethod.COURSES:
            scoped[pk] = (observer, student)
        else:
            state.observee = True
    courses = AssignmentCourse.objects.filter(assignment_id__in=list(scoped)).values_list(
        "assignment_id", "canvas_course_id", "assignment__starts_on", "assignment__ends_on"
    )
    for assignment_id, course_id, starts_on, ends_on in courses:
        state = result[scoped[assignment_id]]
        start, end = state.courses.get(course_id, (starts_on, ends_on))
        state.courses[course_id] = (min(start, starts_on), max(end, ends_on))
    return {pair: state for pair, state in result.items() if not state.empty}


def pair_desired_state(
    *, observer_canvas_id: int, student_canvas_id: int, on: datetime.date | None = None
) -> PairDesired:
    """`pairs_desired_state` for one pair (an empty PairDesired when nothing wants it)."""
    pair = (observer_canvas_id, student_canvas_id)
    return pairs_desired_state(pairs=[pair], on=on).get(pair, PairDesired())


def links_plan(*, assignment: MentorAssignment) -> list[ObserverLink]:
    """Upsert the ObserverLink rows an approved assignment needs, desired present, pending, at its generation.

    observee and pairing_code: one kind=observee row; courses: one kind=course row per AssignmentCourse (rows for
    courses no longer in scope are retired). A row a task is working on right now keeps its state and claim: that
    task sees the new generation when it records, and hands the row back as pending.
    Call inside the transaction that changed the assignment; call `links_enqueue` in transaction.on_commit.
    """
    wanted = _wanted(assignment)
    existing = {(link.kind, link.canvas_course_id): link for link in ObserverLink.objects.filter(assignment=assignment)}
    planned: list[ObserverLink] = []
    for kind, course_id in wanted:
        link = existing.pop((kind, course_id), None)
        if link is None:
            link = _new_link(assignment, kind, course_id)
            link.save(force_insert=True)
        else:
            _retarget(link, desired=Desired.PRESENT, generation=assignment.generation)
        planned.append(link)
    for link in existing.values():
        if link.desired == Desired.PRESENT:
            planned.extend(_retire_rows([link], generation=assignment.generation))
    assignment_link_state_refresh(assignment_id=assignment.pk)
    return planned


def _wanted(assignment: MentorAssignment) -> list[tuple[str, int | None]]:
    if assignment.link_method == LinkMethod.COURSES:
        return [(ObserverLink.Kind.COURSE, c.canvas_course_id) for c in assignment.courses.all()]
    return [(ObserverLink.Kind.OBSERVEE, None)]


def _new_link(assignment: MentorAssignment, kind: str, course_id: int | None) -> ObserverLink:
    return ObserverLink(
        assignment=assignment,
        kind=kind,
        canvas_course_id=course_id,
        observer_canvas_id=assignment.mentor.canvas_user_id,
        student_canvas_id=assignment.student.canvas_user_id,
        desired=Desired.PRESENT,
        state=State.PENDING,
        generation=assignment.generation,
    )


def links_plan_many(*, assignments: Sequence[MentorAssignment]) -> list[ObserverLink]:
    """`links_plan` for many approved assignments in a few queries (a bulk approval): the assignments that have no
    rows yet get theirs in one bulk insert and one summary update; any other goes through links_plan itself."""
    have = set(
        ObserverLink.objects.filter(assignment__in=[a.pk for a in assignments]).values_list("assignment_id", flat=True)
    )
    planned: list[ObserverLink] = []
    fresh: list[ObserverLink] = []
    for assignment in assignments:
        if assignment.pk in have:
            planned.extend(links_plan(assignment=assignment))
        else:
            fresh.extend(_new_link(assignment, kind, course_id) for kind, course_id in _wanted(assignment))
    planned.extend(ObserverLink.objects.bulk_create(fresh, batch_size=1000))
    assignment_link_states_refresh(assignment_ids={link.assignment_id for link in fresh})
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
    result = _retire_rows(rows, generation=assignment.generation, pair_in_canvas=_pair_reached_canvas(assignment))
    assignment_link_state_refresh(assignment_id=assignment.pk)
    return result


def _never_reached_canvas(link: ObserverLink) -> bool:
    if link.linked_at is not None or link.canvas_enrollment_id is not None:
        return False
    if link.state == State.PENDING and link.attempts == 0:
        return True
    # A refusal (4xx) means Canvas answered and did nothing; a failure without an answer may hide a done change.
    return link.state == State.FAILED and link.last_error_status is not None and 400 <= link.last_error_status < 500


def _pair_reached_canvas(assignment: MentorAssignment) -> bool:
    """Has another assignment's row for this pair ever reached Canvas? Then a retiring row that never did still
    goes through the task: the pair's other rows may have left something in Canvas on its behalf (kept for it),
    which only a sync against the pair's whole desired state removes."""
    return (
        ObserverLink.objects.filter(
            observer_canvas_id=assignment.mentor.canvas_user_id, student_canvas_id=assignment.student.canvas_user_id
        )
        .exclude(assignment_id=assignment.pk)
        .filter(Q(linked_at__isnull=False) | Q(canvas_enrollment_id__isnull=False) | Q(state__in=WORKING))
        .exists()
    )


def _retire_rows(rows: Iterable[ObserverLink], *, generation: int, pair_in_canvas: bool = False) -> list[ObserverLink]:
    needs_canvas = []
    now = timezone.now()
    for link in rows:
        if link.state not in WORKING and not pair_in_canvas and _never_reached_canvas(link):
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
    summary = _link_summary(states)
    MentorAssignment.objects.filter(pk=assignment_id).exclude(link_state=summary).update(link_state=summary)
    return summary


def assignment_link_states_refresh(*, assignment_ids: Iterable[int]) -> None:
    """assignment_link_state_refresh for many assignments (a bulk approval, a SIS import): one read of their links,
    one UPDATE per summary."""
    ids = set(assignment_ids)
    states: dict[int, list[tuple[str, str]]] = {pk: [] for pk in ids}
    rows = ObserverLink.objects.filter(assignment_id__in=ids).values_list("assignment_id", "desired", "state")
    for assignment_id, desired, state in rows:
        states[assignment_id].append((desired, state))
    by_summary: dict[str, list[int]] = {}
    for assignment_id, pairs in states.items():
        by_summary.setdefault(_link_summary(pairs), []).append(assignment_id)
    for summary, group in by_summary.items():
        MentorAssignment.objects.filter(pk__in=group).exclude(link_state=summary).update(link_state=summary)


def _link_summary(states: list[tuple[str, str]]) -> str:
    LinkState = MentorAssignment.LinkState
    if not states:
        return LinkState.NONE
    if any(s == State.FAILED for _, s in states):
        return LinkState.FAILED
    if all(d == Desired.ABSENT and s == State.UNLINKED for d, s in states):
        return LinkState.UNLINKED
    if all(d == Desired.PRESENT and s == State.LINKED for d, s in states):
        return LinkState.LINKED
    if any(s == State.AWAITING_REDEMPTION for _, s in states):
        return LinkState.AWAITING_REDEMPTION
    return LinkState.PENDING

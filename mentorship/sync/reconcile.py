"""Reconciliation: compare what was approved with what Canvas holds, per program (docs/architecture.md, "Sync").

Drift comes in three kinds:
- missing: an active, approved assignment's link is not in Canvas -> repaired (the link goes back to pending);
- unexpected: Canvas holds a link for the program's people that nobody approved (e.g. a student observing another
  student) -> reported, removed only when a coordinator clicks "Remove";
- stale: Canvas still holds a link whose assignment ended -> removed, unless the run would remove more than
  RECONCILE_REMOVAL_THRESHOLD links, in which case the run holds until a person confirms.
A dry run stores what it found as a preview and changes nothing. Every run and every repair is audited.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import CanvasAuthError, CanvasClient, CanvasError, CanvasNotFound
from mentorship.accounts.models import User
from mentorship.assignments.models import LinkMethod, MentorAssignment, Program
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.core.canvas import portal_client, root_account_id

from .circuit import circuit_is_open, circuit_open
from .models import DriftItem, ObserverLink, ReconciliationRun
from .services import publishing
from .services.common import SyncError
from .services.planning import _retarget, assignment_link_state_refresh
from .services.records import _lock_assignment

logger = logging.getLogger(__name__)
State = ObserverLink.State
Kind = DriftItem.Kind


@dataclass(frozen=True)
class Found:
    kind: str
    observer: int
    student: int
    course: int | None = None
    enrollment: int | None = None
    assignment_id: int | None = None
    link_id: int | None = None
    detail: str = ""


def _active_pairs(today: object) -> tuple[set[tuple[int, int]], set[tuple[int, int, int]]]:
    """What every program (not just this one) approved and is active today: pairs and (pair, course) triples."""
    pairs: set[tuple[int, int]] = set()
    triples: set[tuple[int, int, int]] = set()
    active = MentorAssignment.objects.filter(
        status=MentorAssignment.Status.APPROVED, starts_on__lte=today, ends_on__gte=today
    )
    for link in ObserverLink.objects.filter(assignment__in=active, desired=ObserverLink.Desired.PRESENT):
        if link.kind == ObserverLink.Kind.OBSERVEE:
            pairs.add((link.observer_canvas_id, link.student_canvas_id))
        elif link.canvas_course_id is not None:
            triples.add((link.observer_canvas_id, link.student_canvas_id, link.canvas_course_id))
    return pairs, triples


def reconcile_compare(*, program: Program, client: CanvasClient) -> list[Found]:
    """Read Canvas for the program's people and scoped courses; classify every difference. Changes nothing."""
    today = timezone.localdate()
    assignments = list(
        MentorAssignment.objects.filter(program=program)
        .exclude(status=MentorAssignment.Status.PROPOSED)
        .select_related("mentor", "student")
        .prefetch_related("links")
    )
    expected_pairs, expected_triples = _active_pairs(today)
    busy: set[tuple[int, int]] = set(
        ObserverLink.objects.filter(
            state__in=[State.PENDING, State.LINKING, State.UNLINKING, State.AWAITING_REDEMPTION]
        ).values_list("observer_canvas_id", "student_canvas_id")
    )
    mentors = {a.mentor.canvas_user_id for a in assignments}
    students = {a.student.canvas_user_id for a in assignments}
    by_pair: dict[tuple[int, int], list[MentorAssignment]] = {}
    for a in assignments:
        by_pair.setdefault((a.mentor.canvas_user_id, a.student.canvas_user_id), []).append(a)

    canvas_pairs: set[tuple[int, int]] = set()
    for mentor_id in sorted(mentors):
        try:
            canvas_pairs.update((mentor_id, user.id) for user in client.list_observees(mentor_id))
        except CanvasNotFound:
            continue
    for student_id in sorted(students):
        try:
            canvas_pairs.update((user.id, student_id) for user in client.list_observers(student_id))
        except CanvasNotFound:
            continue
    courses = {c.canvas_course_id for a in assignments if a.link_method == LinkMethod.COURSES for c in a.courses.all()}
    canvas_enrollments: dict[tuple[int, int, int], int] = {}
    for course_id in sorted(courses):
        try:
            for e in client.list_course_enrollments(course_id, type="ObserverEnrollment"):
                if e.associated_user_id is not None and e.enrollment_state not in ("deleted", "completed", "inactive"):
                    canvas_enrollments[(e.user_id, e.associated_user_id, course_id)] = e.id
        except CanvasNotFound:
            continue

    found: list[Found] = []
    for a in assignments:
        if not a.is_active_on(today):
            continue
        for link in a.links.all():
            if link.desired != ObserverLink.Desired.PRESENT or link.state != State.LINKED:
                continue  # work in progress or failed: the sync engine already knows; not drift
            pair = (link.observer_canvas_id, link.student_canvas_id)
            if link.kind == ObserverLink.Kind.OBSERVEE and pair not in canvas_pairs:
                found.append(Found(Kind.MISSING, *pair, assignment_id=a.pk, link_id=link.pk))
            elif link.kind == ObserverLink.Kind.COURSE and link.canvas_course_id is not None:
                triple = (*pair, link.canvas_course_id)
                if triple not in canvas_enrollments and pair not in canvas_pairs:
                    found.append(
                        Found(Kind.MISSING, *pair, course=link.canvas_course_id, assignment_id=a.pk, link_id=link.pk)
                    )

    def classify(pair: tuple[int, int]) -> tuple[str, int | None]:
        history = by_pair.get(pair, [])
        ended = [a for a in history if a.status != MentorAssignment.Status.PROPOSED]
        if ended:
            return Kind.STALE, ended[0].pk
        return Kind.UNEXPECTED, None

    for pair in sorted(canvas_pairs):
        if pair in expected_pairs or pair in busy:
            continue
        if pair[0] not in mentors | students and pair[1] not in mentors | students:
            continue
        kind, assignment_id = classify(pair)
        detail = ""
        if kind == Kind.UNEXPECTED and pair[0] in students:
            detail = "The observer is a student in this program."
        found.append(Found(kind, *pair, assignment_id=assignment_id, detail=detail))
    for (observer, student, course), enrollment_id in sorted(canvas_enrollments.items()):
        pair = (observer, student)
        if (observer, student, course) in expected_triples or pair in expected_pairs or pair in busy:
            continue
        if pair in canvas_pairs:
            continue  # the user-level link made it; reported above
        kind, assignment_id = classify(pair)
        found.append(
            Found(kind, observer, student, course=course, enrollment=enrollment_id, assignment_id=assignment_id)
        )
    return found


def reconcile_start(
    *, program: Program | None, dry_run: bool = False, actor: User | None = None, request: HttpRequest | None = None
) -> ReconciliationRun:
    """Record a run (executed by a task after commit, or inline by the beat job)."""
    with transaction.atomic():
        run = ReconciliationRun.objects.create(
            program=program, dry_run=dry_run, started_at=timezone.now(), started_by=actor
        )
        if actor is not None:
            audit_record(
                action=Action.RECONCILE_RUN,
                actor=actor,
                program=program,
                obj=run,
                request=request,
                details={"dry_run": dry_run, "requested": True},
            )
    return run


def reconcile_execute(*, run_id: int, client: CanvasClient | None = None) -> ReconciliationRun:
    """Compare, store the drift items, and (unless a dry run) repair missing and remove stale links, holding the
    run when the removals exceed RECONCILE_REMOVAL_THRESHOLD."""
    run = ReconciliationRun.objects.select_related("program").get(pk=run_id)
    if run.status != ReconciliationRun.Status.RUNNING:
        return run
    if circuit_is_open():
        return _finish(run, ReconciliationRun.Status.FAILED, error="Canvas work is stopped (token rejected).")
    own = client is None
    client = client or portal_client()
    programs = [run.program] if run.program else list(Program.objects.filter(is_active=True))
    try:
        found: list[tuple[Program, Found]] = []
        for program in programs:
            found.extend((program, f) for f in reconcile_compare(program=program, client=client))
    except CanvasAuthError as exc:
        circuit_open(error=exc)
        return _finish(run, ReconciliationRun.Status.FAILED, error=exc.user_message)
    except CanvasError as exc:
        return _finish(run, ReconciliationRun.Status.FAILED, error=exc.user_message)
    finally:
        if own:
            client.close()
    removals = [f for _, f in found if f.kind == Kind.STALE]
    held = not run.dry_run and len(removals) > settings.RECONCILE_REMOVAL_THRESHOLD
    items = []
    for program, f in found:
        status = DriftItem.Status.OPEN
        if run.dry_run:
            status = DriftItem.Status.PREVIEW
        elif held and f.kind == Kind.STALE:
            status = DriftItem.Status.HELD
        items.append(
            DriftItem(
                run=run,
                program=program,
                kind=f.kind,
                status=status,
                observer_canvas_id=f.observer,
                student_canvas_id=f.student,
                canvas_course_id=f.course,
                canvas_enrollment_id=f.enrollment,
                assignment_id=f.assignment_id,
                link_id=f.link_id,
                detail=f.detail,
            )
        )
    DriftItem.objects.bulk_create(items)
    counts = {kind: sum(1 for _, f in found if f.kind == kind) for kind in Kind.values}
    if not run.dry_run:
        for item in run.items.filter(kind=Kind.MISSING, status=DriftItem.Status.OPEN):
            _repair_missing(item)
        if not held:
            _remove_items(run.items.filter(kind=Kind.STALE, status=DriftItem.Status.OPEN), actor=None)
    run_status = ReconciliationRun.Status.HELD if held else ReconciliationRun.Status.DONE
    with transaction.atomic():
        run = _finish(run, run_status, counts=counts)
        audit_record(
            action=Action.RECONCILE_HELD if held else Action.RECONCILE_RUN,
            system_actor="reconciler",
            program=run.program,
            obj=run,
            outcome=Outcome.WARNING if held or counts.get(Kind.UNEXPECTED) else Outcome.OK,
            details={
                "dry_run": run.dry_run,
                "counts": counts,
                "removal_threshold": settings.RECONCILE_REMOVAL_THRESHOLD,
            },
        )
    return run


def _finish(
    run: ReconciliationRun, status: str, *, counts: dict[str, int] | None = None, error: str = ""
) -> ReconciliationRun:
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=timezone.now(), counts=counts or {}, error=error
    )
    run.refresh_from_db()
    return run


def _repair_missing(item: DriftItem) -> None:
    if item.link_id is None:
        return
    link = (
        ObserverLink.objects.select_related("assignment__program", "assignment__student")
        .filter(pk=item.link_id)
        .first()
    )
    if link is None:
        return
    with transaction.atomic():
        _lock_assignment(link.assignment_id)
        if not ObserverLink.objects.filter(pk=link.pk, state=State.LINKED).exists():
            return
        _retarget(link, desired=ObserverLink.Desired.PRESENT, generation=link.generation)
        DriftItem.objects.filter(pk=item.pk).update(status=DriftItem.Status.REPAIRED, resolved_at=timezone.now())
        audit_record(
            action=Action.RECONCILE_REPAIR,
            system_actor="reconciler",
            program=link.assignment.program,
            student=link.assignment.student,
            obj=link,
            details={
                "kind": "missing",
                "observer": item.observer_canvas_id,
                "student": item.student_canvas_id,
                "course": item.canvas_course_id,
                "run": item.run_id,
            },
        )
        assignment_link_state_refresh(assignment_id=link.assignment_id)
        transaction.on_commit(lambda: publishing._publish(link.pk, link.generation))


def _remove_in_canvas(client: CanvasClient, item: DriftItem) -> None:
    try:
        if item.canvas_course_id and item.canvas_enrollment_id:
            client.delete_enrollment(item.canvas_course_id, item.canvas_enrollment_id, task="delete")
        else:
            client.remove_observee(item.observer_canvas_id, item.student_canvas_id, root_account_id=root_account_id())
    except CanvasNotFound:
        pass  # already gone


def _remove_items(items: Iterable[DriftItem], *, actor: User | None, request: HttpRequest | None = None) -> int:
    removed = 0
    item_list = list(items)
    if not item_list:
        return 0
    client = portal_client()
    try:
        for item in item_list:
            try:
                _remove_in_canvas(client, item)
            except CanvasAuthError as exc:
                circuit_open(error=exc)
                break
            except CanvasError as exc:
                DriftItem.objects.filter(pk=item.pk).update(status=DriftItem.Status.FAILED, detail=exc.user_message)
                continue
            with transaction.atomic():
                DriftItem.objects.filter(pk=item.pk).update(
                    status=DriftItem.Status.REMOVED, resolved_at=timezone.now(), resolved_by=actor
                )
                audit_record(
                    action=Action.RECONCILE_REMOVAL if item.kind == Kind.UNEXPECTED else Action.RECONCILE_REPAIR,
                    actor=actor,
                    system_actor="" if actor else "reconciler",
                    program=item.program,
                    obj=item,
                    request=request,
                    details={
                        "kind": item.kind,
                        "observer": item.observer_canvas_id,
                        "student": item.student_canvas_id,
                        "course": item.canvas_course_id,
                        "run": item.run_id,
                    },
                )
            removed += 1
    finally:
        client.close()
    return removed


def reconcile_confirm(*, run: ReconciliationRun, actor: User, request: HttpRequest | None = None) -> int:
    """A person confirms a held run: its stale links are removed. Raises SyncError when the run is not held."""
    with transaction.atomic():
        won = ReconciliationRun.objects.filter(pk=run.pk, status=ReconciliationRun.Status.HELD).update(
            status=ReconciliationRun.Status.CONFIRMED, confirmed_by=actor, confirmed_at=timezone.now()
        )
        if not won:
            raise SyncError("This run is not waiting for confirmation (someone may have confirmed it already).")
        DriftItem.objects.filter(run=run, status=DriftItem.Status.HELD).update(status=DriftItem.Status.OPEN)
        audit_record(
            action=Action.RECONCILE_RUN,
            actor=actor,
            program=run.program,
            obj=run,
            request=request,
            details={"confirmed": True, "removals": run.items.filter(kind=Kind.STALE).count()},
        )
    return _remove_items(run.items.filter(kind=Kind.STALE, status=DriftItem.Status.OPEN), actor=actor, request=request)


def drift_remove(*, item: DriftItem, actor: User, request: HttpRequest | None = None) -> None:
    """One-click removal of an unexpected (or held stale) link. Raises SyncError when already handled."""
    if item.status not in (DriftItem.Status.OPEN, DriftItem.Status.HELD, DriftItem.Status.FAILED):
        raise SyncError("This link was already handled; nothing was changed.")
    if circuit_is_open():
        raise SyncError("Canvas work is stopped because Canvas rejected the portal's token. Try again once it works.")
    if not _remove_items([item], actor=actor, request=request):
        item.refresh_from_db()
        raise SyncError(item.detail or "Canvas did not remove the link. Try again later.")


def reconcile_all() -> list[ReconciliationRun]:
    """Beat job: one run per active program."""
    runs = []
    for program in Program.objects.filter(is_active=True):
        run = reconcile_start(program=program)
        runs.append(reconcile_execute(run_id=run.pk))
    return runs


__all__ = [
    "drift_remove",
    "reconcile_all",
    "reconcile_compare",
    "reconcile_confirm",
    "reconcile_execute",
    "reconcile_start",
]

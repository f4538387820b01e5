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

import contextlib
import datetime
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from canvas_client import CanvasAuthError, CanvasClient, CanvasError, CanvasNotFound
from mentorship.accounts.models import User
from mentorship.assignments.models import LinkMethod, MentorAssignment, Program
from mentorship.assignments.notifications import notify_coordinators_waiting
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.core.canvas import portal_client, root_account_id

from .circuit import circuit_is_open, circuit_open
from .models import DriftItem, ObserverLink, ReconciliationRun
from .services import publishing
from .services.common import SyncError
from .services.linking import pair_courses_remake
from .services.planning import (
    Pair,
    PairDesired,
    _retarget,
    assignment_link_state_refresh,
    pair_desired_state,
    pairs_desired_state,
)
from .services.records import _lock_assignment

logger = logging.getLogger(__name__)
State = ObserverLink.State
Kind = DriftItem.Kind


@dataclass(frozen=True)
class Found:
    """One difference, named as the DriftItem that records it names its columns."""

    kind: str
    observer_canvas_id: int
    student_canvas_id: int
    detail: str = ""
    canvas_course_id: int | None = None
    canvas_enrollment_id: int | None = None
    assignment_id: int | None = None
    link_id: int | None = None


@dataclass
class _Canvas:
    """What Canvas holds for the program's people: user-level links and (observer, student, course) enrollments."""

    pairs: set[Pair]
    enrollments: dict[tuple[int, int, int], int]

    def observes(self, pair: Pair, course: int | None) -> bool:
        return pair in self.pairs or (course is not None and (*pair, course) in self.enrollments)


def _read_canvas(client: CanvasClient, assignments: list[MentorAssignment]) -> _Canvas:
    mentors = sorted({a.mentor.canvas_user_id for a in assignments})
    students = sorted({a.student.canvas_user_id for a in assignments})
    pairs: set[Pair] = set()
    for mentor_id in mentors:
        with contextlib.suppress(CanvasNotFound):
            pairs.update((mentor_id, user.id) for user in client.list_observees(mentor_id))
    for student_id in students:
        with contextlib.suppress(CanvasNotFound):
            pairs.update((user.id, student_id) for user in client.list_observers(student_id))
    courses = {c.canvas_course_id for a in assignments if a.link_method == LinkMethod.COURSES for c in a.courses.all()}
    enrollments: dict[tuple[int, int, int], int] = {}
    for course_id in sorted(courses):
        with contextlib.suppress(CanvasNotFound):
            for e in client.list_course_enrollments(course_id, type="ObserverEnrollment"):
                if e.associated_user_id is not None and e.enrollment_state not in ("deleted", "completed", "inactive"):
                    enrollments[(e.user_id, e.associated_user_id, course_id)] = e.id
    return _Canvas(pairs, enrollments)


def _missing(assignments: list[MentorAssignment], desired: dict[Pair, PairDesired], canvas: _Canvas) -> list[Found]:
    """Rows that made their part of the desired state in Canvas, and Canvas no longer holds it."""
    found = []
    for a in assignments:
        for link in a.links.all():
            if link.desired != ObserverLink.Desired.PRESENT or link.state != State.LINKED:
                continue  # work in progress or failed: the sync engine already knows; not drift
            pair = (link.observer_canvas_id, link.student_canvas_id)
            want = desired.get(pair, PairDesired())
            if link.kind == ObserverLink.Kind.OBSERVEE:
                lost = want.observee and pair not in canvas.pairs
            else:
                lost = want.wants_course(link.canvas_course_id) and not canvas.observes(pair, link.canvas_course_id)
            if lost:
                found.append(
                    Found(
                        Kind.MISSING, *pair, canvas_course_id=link.canvas_course_id, assignment_id=a.pk, link_id=link.pk
                    )
                )
    return found


def _extra(
    assignments: list[MentorAssignment], desired: dict[Pair, PairDesired], canvas: _Canvas, busy: set[Pair]
) -> list[Found]:
    """What Canvas holds for the program's people that no active assignment (of any program) wants."""
    people = {a.mentor.canvas_user_id for a in assignments} | {a.student.canvas_user_id for a in assignments}
    students = {a.student.canvas_user_id for a in assignments}
    history: dict[Pair, int] = {}
    for a in assignments:
        history.setdefault((a.mentor.canvas_user_id, a.student.canvas_user_id), a.pk)

    def kind_of(pair: Pair) -> tuple[str, int | None]:
        return (Kind.STALE, history[pair]) if pair in history else (Kind.UNEXPECTED, None)

    found = []
    for pair in sorted(canvas.pairs):
        if desired.get(pair, PairDesired()).observee or pair in busy:
            continue
        if pair[0] not in people and pair[1] not in people:
            continue
        kind, assignment_id = kind_of(pair)
        detail = "The observer is a student in this program." if kind == Kind.UNEXPECTED and pair[0] in students else ""
        found.append(Found(kind, *pair, assignment_id=assignment_id, detail=detail))
    for (observer, student, course), enrollment_id in sorted(canvas.enrollments.items()):
        pair = (observer, student)
        if desired.get(pair, PairDesired()).wants_course(course) or pair in busy or pair in canvas.pairs:
            continue  # wanted, being worked on, or made by the user-level link (reported above)
        kind, assignment_id = kind_of(pair)
        found.append(
            Found(kind, *pair, canvas_course_id=course, canvas_enrollment_id=enrollment_id, assignment_id=assignment_id)
        )
    return found


def reconcile_compare(*, program: Program, client: CanvasClient) -> list[Found]:
    """Read Canvas for the program's people and scoped courses; classify every difference against the pairs' desired
    state (planning.pairs_desired_state, the same answer the task body moves Canvas to). Changes nothing."""
    assignments = list(
        MentorAssignment.objects.filter(program=program)
        .exclude(status=MentorAssignment.Status.PROPOSED)
        .select_related("mentor", "student")
        .prefetch_related("links", "courses")
    )
    desired = pairs_desired_state(on=timezone.localdate())
    busy: set[Pair] = set(
        ObserverLink.objects.filter(
            state__in=[State.PENDING, State.LINKING, State.UNLINKING, State.AWAITING_REDEMPTION]
        ).values_list("observer_canvas_id", "student_canvas_id")
    )
    canvas = _read_canvas(client, assignments)
    return _missing(assignments, desired, canvas) + _extra(assignments, desired, canvas, busy)


# A run still "running" after this long lost its worker (the task's own limit is about 32 minutes).
STALE_RUN = datetime.timedelta(hours=1)


class ReconcileAlreadyRunning(SyncError):
    """A run of the same program and kind is under way: the second request starts nothing."""

    def __init__(self, run: ReconciliationRun) -> None:
        self.run = run
        who = f" by {run.started_by.get_full_name() or run.started_by.get_username()}" if run.started_by else ""
        when = timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M %Z")
        super().__init__(
            f"A {'preview' if run.dry_run else 'reconciliation'} of this program is already running (started "
            f"{when}{who}); nothing new was started. Its results appear on this page when it finishes."
        )


def reconcile_start(
    *, program: Program | None, dry_run: bool = False, actor: User | None = None, request: HttpRequest | None = None
) -> ReconciliationRun:
    """Record a run (executed by a task after commit, or inline by the beat job). Raises ReconcileAlreadyRunning when
    one of the same program and kind is running: the unique constraint decides, so two requests at once make one."""
    now = timezone.now()
    same = ReconciliationRun.objects.filter(program=program, dry_run=dry_run, status=ReconciliationRun.Status.RUNNING)
    with transaction.atomic():
        # A run whose worker died would block every later one: after STALE_RUN it is recorded as failed.
        lost = "The worker stopped before this run finished."
        same.filter(started_at__lt=now - STALE_RUN).update(
            status=ReconciliationRun.Status.FAILED, finished_at=now, error=lost
        )
        try:
            with transaction.atomic():  # a savepoint: a lost race leaves the outer transaction usable
                run = ReconciliationRun.objects.create(
                    program=program, dry_run=dry_run, started_at=now, started_by=actor
                )
        except IntegrityError:
            running = same.select_related("started_by").first()
            if running is None:  # it finished between the insert and this read: a new one may start
                return reconcile_start(program=program, dry_run=dry_run, actor=actor, request=request)
            raise ReconcileAlreadyRunning(running) from None
        if actor is not None:
            details = {"dry_run": dry_run, "requested": True}
            audit_record(
                action=Action.RECONCILE_RUN, actor=actor, program=program, obj=run, request=request, details=details
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
    found = _compare_programs(run, client)
    if isinstance(found, str):
        return _finish(run, ReconciliationRun.Status.FAILED, error=found)
    removals = [f for _, f in found if f.kind == Kind.STALE]
    held = not run.dry_run and len(removals) > settings.RECONCILE_REMOVAL_THRESHOLD
    _store_items(run, found, held=held)
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
        if held:
            held_programs = {program.pk: program for program, f in found if f.kind == Kind.STALE}
            transaction.on_commit(lambda: _notify_held(list(held_programs.values()), removals=len(removals)))
    return run


def _notify_held(programs: list[Program], *, removals: int) -> None:
    """Removals held for confirmation wait in each program's coordinators' queue; mail them the drift page."""
    for program in programs:
        notify_coordinators_waiting(
            program=program,
            subject="Waiting for your confirmation: links to remove from Canvas",
            what=(
                f"Reconciliation found {removals} links in Canvas that no approved assignment explains, more than "
                f"the {settings.RECONCILE_REMOVAL_THRESHOLD} it removes on its own. Confirm or leave the removals."
            ),
            path=reverse("sync:drift"),
        )


def _compare_programs(run: ReconciliationRun, client: CanvasClient | None) -> list[tuple[Program, Found]] | str:
    """Every difference in the run's programs, or the sentence that says why Canvas could not be read."""
    own = client is None
    client = client or portal_client()
    programs = [run.program] if run.program else list(Program.objects.filter(is_active=True))
    try:
        return [(program, f) for program in programs for f in reconcile_compare(program=program, client=client)]
    except CanvasAuthError as exc:
        circuit_open(error=exc)
        return exc.user_message
    except CanvasError as exc:
        return exc.user_message
    finally:
        if own:
            client.close()


def _store_items(run: ReconciliationRun, found: list[tuple[Program, Found]], *, held: bool) -> None:
    items = []
    for program, f in found:
        status = DriftItem.Status.OPEN
        if run.dry_run:
            status = DriftItem.Status.PREVIEW
        elif held and f.kind == Kind.STALE:
            status = DriftItem.Status.HELD
        items.append(DriftItem(run=run, program=program, status=status, **asdict(f)))
    DriftItem.objects.bulk_create(items)


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


def _remake_wanted_courses(item: DriftItem) -> None:
    """Removing a user-level link deleted every observer enrollment of the pair, course-scoped ones of assignments
    that are still active included: those rows are made again."""
    want = pair_desired_state(observer_canvas_id=item.observer_canvas_id, student_canvas_id=item.student_canvas_id)
    pair_courses_remake(
        observer_canvas_id=item.observer_canvas_id, student_canvas_id=item.student_canvas_id, courses=set(want.courses)
    )


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
                if not (item.canvas_course_id and item.canvas_enrollment_id):
                    _remake_wanted_courses(item)
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


def reconcile_start_programs() -> list[ReconciliationRun]:
    """A run for every active program, except those whose run someone started is still under way (its result
    stands for today)."""
    runs = []
    for program in Program.objects.filter(is_active=True):
        with contextlib.suppress(ReconcileAlreadyRunning):
            runs.append(reconcile_start(program=program))
    return runs


def reconcile_all() -> list[ReconciliationRun]:
    """Beat job run inline: one run per active program."""
    return [reconcile_execute(run_id=run.pk) for run in reconcile_start_programs()]


__all__ = [
    "ReconcileAlreadyRunning",
    "drift_remove",
    "reconcile_all",
    "reconcile_compare",
    "reconcile_confirm",
    "reconcile_execute",
    "reconcile_start",
    "reconcile_start_programs",
]

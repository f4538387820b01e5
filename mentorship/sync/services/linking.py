"""The task body: make Canvas hold (or not hold) one link, with retry, backoff and hand-over; and "Retry now"."""

from __future__ import annotations

import contextlib
import datetime
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import (
    CanvasAuthError,
    CanvasClient,
    CanvasError,
    CanvasNotFound,
    CanvasRateLimited,
    CanvasTransientError,
)
from mentorship.accounts.models import User
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.assignments.notifications import notify_link_failed
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.core import canvas
from mentorship.core.canvas import root_account_id

from ..circuit import circuit_is_open, circuit_open
from ..models import ObserverLink
from . import publishing
from .common import (
    BACKOFF_CAP_SECONDS,
    WORKING,
    Desired,
    State,
    SyncError,
)
from .pairing_codes import _pairing_code_save, pairing_code_create_checked
from .planning import PairDesired, assignment_link_state_refresh, pair_desired_state
from .records import _audit_link, _hand_over, _lock_assignment

logger = logging.getLogger(__name__)


@dataclass
class _Outcome:
    state: str
    action: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    code: Any = None  # a canvas_client PairingCode to record
    reset_courses: set[int] | None = None  # the link was removed: these courses' rows of the pair are made again
    covered: list[int] = field(default_factory=list)  # course rows whose enrollment is now the link's own


def _settled(link: ObserverLink) -> bool:
    if link.state == State.FAILED:
        return True  # waits for "Retry now"
    if link.desired == Desired.PRESENT:
        return link.state in (State.LINKED, State.AWAITING_REDEMPTION)
    return link.state == State.UNLINKED


def link_sync(*, link_id: int, generation: int, client: CanvasClient | None = None) -> str:
    """Make Canvas hold (or not hold) one link. Safe to run twice and out of order. Returns what happened."""
    link = (
        ObserverLink.objects.select_related("assignment__program", "assignment__student", "assignment__mentor")
        .filter(pk=link_id)
        .first()
    )
    if link is None or link.generation != generation:
        return "stale"
    if _settled(link):
        return "settled"
    if circuit_is_open():
        return "held"  # the probe re-publishes held work when the token works again
    now = timezone.now()
    if link.next_attempt_at and link.next_attempt_at > now + datetime.timedelta(seconds=1):
        return "early"  # a duplicate message ahead of the backoff; the delayed one (or the sweeper) comes later
    token = uuid.uuid4().hex
    stale_before = now - datetime.timedelta(seconds=settings.SWEEPER_STALE_SECONDS)
    working = State.LINKING if link.desired == Desired.PRESENT else State.UNLINKING
    claimed = (
        ObserverLink.objects.filter(pk=link_id, generation=generation, desired=link.desired)
        .filter(Q(state=State.PENDING) | Q(state__in=WORKING, updated_at__lt=stale_before))
        .update(state=working, claim=token, updated_at=now)
    )
    if not claimed:
        return "busy"
    reclaimed = link.state in WORKING
    link.state, link.claim = working, token
    own_client = client is None
    client = client or canvas.portal_client()
    try:
        outcome = _apply(client, link, confirm_first=reclaimed or link.attempts > 0)
    except CanvasAuthError as exc:
        _release(link, token, generation, delay=None)
        if exc.acting_as == "portal":
            circuit_open(error=exc)
        return "circuit"
    except CanvasRateLimited:
        _release(link, token, generation, delay=random.uniform(1.0, 5.0))
        return "throttled"
    except CanvasTransientError as exc:
        if link.attempts + 1 >= settings.SYNC_MAX_ATTEMPTS:
            _fail(link, token, generation, exc)
            return "failed"
        _release(link, token, generation, delay=_backoff(link.attempts + 1), error=exc)
        return "retry"
    except CanvasError as exc:
        _fail(link, token, generation, exc)
        return "failed"
    finally:
        if own_client:
            client.close()
    return _record(link, token, generation, outcome)


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter."""
    base = float(settings.SYNC_BACKOFF_BASE_SECONDS)
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, base * 2**attempt))


def _enrollment_window(
    assignment: MentorAssignment, desired: PairDesired, course_id: int
) -> tuple[datetime.datetime, datetime.datetime]:
    """The course enrollment's dates: the widest window of the pair's active assignments that need the course (one
    enrollment serves them all), else the assignment's own."""
    starts_on, ends_on = desired.courses.get(course_id, (assignment.starts_on, assignment.ends_on))
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(starts_on, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(ends_on, datetime.time(23, 59, 59), tzinfo=tz)
    return start, end


def _pair_linked(link: ObserverLink, kind: str, **conditions: Any) -> QuerySet[ObserverLink]:
    """The pair's other rows of this kind that should be in Canvas and, as far as the portal knows, are."""
    return ObserverLink.objects.filter(
        observer_canvas_id=link.observer_canvas_id,
        student_canvas_id=link.student_canvas_id,
        kind=kind,
        desired=Desired.PRESENT,
        state=State.LINKED,
        **conditions,
    ).exclude(pk=link.pk)


def _link_made(link: ObserverLink) -> bool:
    """Does the portal know the pair's user-level link is in Canvas (an observee row of the pair linked)?"""
    return _pair_linked(link, ObserverLink.Kind.OBSERVEE).exists()


def _find_observer_enrollment(client: CanvasClient, link: ObserverLink) -> int | None:
    assert link.canvas_course_id is not None
    for enrollment in client.list_course_enrollments(
        link.canvas_course_id, type="ObserverEnrollment", user_id=link.observer_canvas_id
    ):
        if enrollment.associated_user_id == link.student_canvas_id and enrollment.enrollment_state not in (
            "deleted",
            "completed",
            "inactive",
        ):
            return enrollment.id
    return None


def _apply(client: CanvasClient, link: ObserverLink, *, confirm_first: bool) -> _Outcome:
    """Move Canvas towards the pair's whole desired state (planning.pair_desired_state) for this row's part of it."""
    pair: dict[str, Any] = {"observer": link.observer_canvas_id, "student": link.student_canvas_id}
    if link.kind == ObserverLink.Kind.OBSERVEE and link.desired == Desired.PRESENT:
        return _observee_present(client, link, pair)
    desired = pair_desired_state(observer_canvas_id=link.observer_canvas_id, student_canvas_id=link.student_canvas_id)
    if link.kind == ObserverLink.Kind.COURSE:
        pair["course"] = link.canvas_course_id
        if link.desired == Desired.PRESENT:
            return _course_present(client, link, desired, pair, confirm_first=confirm_first)
        return _course_absent(client, link, desired, pair)
    return _observee_absent(client, link, desired, pair)


def _course_present(
    client: CanvasClient, link: ObserverLink, desired: PairDesired, pair: dict[str, Any], *, confirm_first: bool
) -> _Outcome:
    assert link.canvas_course_id is not None
    if desired.observee and _link_made(link):
        # The link already enrolls the observer in every course of the student; an enrollment of ours would carry
        # this assignment's end date and cut the link's access to the course short.
        return _Outcome(
            State.LINKED, Action.CANVAS_LINKED, {"canvas_enrollment_id": None}, pair | {"covered_by_link": True}
        )
    # POST is not idempotent: after a lost answer or a killed worker, look before creating another.
    enrollment_id = _find_observer_enrollment(client, link) if confirm_first else None
    if enrollment_id is None:
        start, end = _enrollment_window(link.assignment, desired, link.canvas_course_id)
        enrollment_id = client.create_observer_enrollment(
            link.canvas_course_id, link.observer_canvas_id, link.student_canvas_id, start_at=start, end_at=end
        ).id
    return _Outcome(
        State.LINKED,
        Action.CANVAS_LINKED,
        {"canvas_enrollment_id": enrollment_id},
        pair | {"enrollment": enrollment_id},
    )


def _course_absent(client: CanvasClient, link: ObserverLink, desired: PairDesired, pair: dict[str, Any]) -> _Outcome:
    assert link.canvas_course_id is not None
    if desired.observee:
        if link.canvas_enrollment_id is None:
            return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"kept_for_other_assignment": True})
        # Our enrollment (with our dates) stands where the link's would. Once the link is in Canvas, removing and
        # making it again turns every enrollment of the pair into the link's own, with the student's dates
        # (docs/canvas-rules.md, section 2); before that, ours goes and the link makes its own when it comes.
        if _link_made(link):
            covered = _relink(client, link)
            return _Outcome(
                State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"handed_to_link": True}, covered=covered
            )
        _delete_enrollment(client, link.canvas_course_id, link.canvas_enrollment_id)
        return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"handed_to_link": True})
    if desired.wants_course(link.canvas_course_id):
        # Another course-scoped assignment needs the same enrollment: it stays (with the widest window it was given).
        return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"kept_for_other_assignment": True})
    enrollment_id = link.canvas_enrollment_id or _find_observer_enrollment(client, link)
    if enrollment_id is not None:
        _delete_enrollment(client, link.canvas_course_id, enrollment_id)
    return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"enrollment": enrollment_id})


def _delete_enrollment(client: CanvasClient, course_id: int, enrollment_id: int) -> None:
    with contextlib.suppress(CanvasNotFound):  # already gone: the goal holds
        client.delete_enrollment(course_id, enrollment_id, task="delete")


def _observee_present(client: CanvasClient, link: ObserverLink, pair: dict[str, Any]) -> _Outcome:
    if link.assignment.link_method == LinkMethod.PAIRING_CODE:
        try:
            client.get_observee(link.observer_canvas_id, link.student_canvas_id)
        except CanvasNotFound:
            code = pairing_code_create_checked(client=client, student=link.assignment.student)
            return _Outcome(State.AWAITING_REDEMPTION, None, code=code)
        return _Outcome(State.LINKED, Action.CANVAS_LINKED, details=pair | {"already_linked": True})
    client.add_observee(link.observer_canvas_id, link.student_canvas_id, root_account_id=root_account_id())
    # Canvas leaves an active course enrollment of the pair alone when it links: one made earlier for a
    # course-scoped assignment keeps that assignment's (shorter) dates. Making the link again hands it to the link.
    covered = _relink(client, link) if _own_course_enrollments(link) else []
    details = pair | ({"handed_to_link": covered} if covered else {})
    return _Outcome(State.LINKED, Action.CANVAS_LINKED, details=details, covered=covered)


def _own_course_enrollments(link: ObserverLink) -> list[int]:
    """The pair's course rows (other than this one) whose Canvas enrollment they made themselves, with their dates."""
    rows = _pair_linked(link, ObserverLink.Kind.COURSE, canvas_enrollment_id__isnull=False)
    return list(rows.values_list("pk", flat=True))


def _relink(client: CanvasClient, link: ObserverLink) -> list[int]:
    """Remove the pair's link and make it again: removal deletes every observer enrollment of the pair, and the new
    link revives each with the student enrollment's dates (docs/canvas-rules.md, section 2). A PUT alone would not:
    Canvas skips an observee link that already exists. Returns the course rows now covered by the link."""
    covered = _own_course_enrollments(link)
    with contextlib.suppress(CanvasNotFound):  # not there after all: the PUT makes it
        client.remove_observee(link.observer_canvas_id, link.student_canvas_id, root_account_id=root_account_id())
    client.add_observee(link.observer_canvas_id, link.student_canvas_id, root_account_id=root_account_id())
    return covered


def _observee_absent(client: CanvasClient, link: ObserverLink, desired: PairDesired, pair: dict[str, Any]) -> _Outcome:
    if desired.observee:
        return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"kept_for_other_assignment": True})
    try:
        client.remove_observee(link.observer_canvas_id, link.student_canvas_id, root_account_id=root_account_id())
    except CanvasNotFound:
        # Ambiguous: never linked, or our earlier DELETE worked and its answer was lost. Ask.
        try:
            client.get_observee(link.observer_canvas_id, link.student_canvas_id)
        except CanvasNotFound:
            return _Outcome(
                State.UNLINKED,
                Action.CANVAS_UNLINKED,
                details=pair | {"already_gone": True},
                reset_courses=set(desired.courses),
            )
        raise CanvasTransientError(
            "Canvas answered 404 to the removal but still lists the link", status=404, method="DELETE"
        ) from None
    # Removing the link deleted every observer enrollment of the pair: the courses still wanted are made again.
    return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair, reset_courses=set(desired.courses))


def _record(link: ObserverLink, token: str, generation: int, outcome: _Outcome) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {
        "state": outcome.state,
        "claim": "",
        "attempts": F("attempts") + 1,
        "synced_at": now,
        "next_attempt_at": None,
        "last_error": "",
        "last_error_status": None,
        "updated_at": now,
        **outcome.fields,
    }
    if outcome.state == State.LINKED:
        fields["linked_at"] = now
    if outcome.state == State.UNLINKED:
        fields["canvas_enrollment_id"] = None
    with transaction.atomic():
        _lock_assignment(link.assignment_id)
        won = ObserverLink.objects.filter(pk=link.pk, generation=generation, claim=token).update(**fields)
        if not won:
            _hand_over(link, token)
            return "superseded"
        if outcome.code is not None:
            _pairing_code_save(link=link, canvas_code=outcome.code, actor=None)
        if outcome.action:
            _audit_link(link, outcome.action, details=outcome.details)
        if outcome.reset_courses is not None:
            _reset_siblings(link, courses=outcome.reset_courses)
        if outcome.covered:
            ObserverLink.objects.filter(pk__in=outcome.covered, state=State.LINKED).update(canvas_enrollment_id=None)
        assignment_link_state_refresh(assignment_id=link.assignment_id)
    return outcome.state


def _reset_siblings(link: ObserverLink, *, courses: set[int]) -> None:
    pair_courses_remake(
        observer_canvas_id=link.observer_canvas_id,
        student_canvas_id=link.student_canvas_id,
        courses=courses,
        exclude_pk=link.pk,
    )


def pair_courses_remake(
    *, observer_canvas_id: int, student_canvas_id: int, courses: set[int], exclude_pk: int | None = None
) -> int:
    """Deleting a user-level link also deletes every observer enrollment of the pair (docs/canvas-rules.md, section
    2): the course rows that the pair's desired state still wants go back to pending and are made again, each with
    its own dates. Call inside the transaction that recorded the removal; returns how many rows were reset."""
    if not courses:
        return 0
    siblings = list(
        ObserverLink.objects.filter(
            observer_canvas_id=observer_canvas_id,
            student_canvas_id=student_canvas_id,
            kind=ObserverLink.Kind.COURSE,
            canvas_course_id__in=courses,
            desired=Desired.PRESENT,
            state__in=[State.LINKED, *WORKING],
        ).exclude(pk=exclude_pk or 0)
    )
    if not siblings:
        return 0
    ObserverLink.objects.filter(pk__in=[s.pk for s in siblings]).update(
        state=State.PENDING, claim="", canvas_enrollment_id=None, updated_at=timezone.now()
    )
    for sibling in siblings:
        transaction.on_commit(_publisher(sibling.pk, sibling.generation))
    return len(siblings)


def _publisher(link_id: int, generation: int) -> Callable[[], object]:
    return lambda: publishing._publish(link_id, generation)


def _release(
    link: ObserverLink, token: str, generation: int, *, delay: float | None, error: CanvasError | None = None
) -> None:
    """Give the row back as pending (throttled, transient, circuit open); publish it again after `delay`."""
    now = timezone.now()
    fields: dict[str, Any] = {"state": State.PENDING, "claim": "", "updated_at": now}
    if delay is not None:
        fields["next_attempt_at"] = now + datetime.timedelta(seconds=delay)
    if error is not None:
        fields.update(attempts=F("attempts") + 1, last_error=error.user_message, last_error_status=error.status)
    released = ObserverLink.objects.filter(pk=link.pk, claim=token).update(**fields)
    if released and delay is not None:
        publishing._publish(link.pk, generation, countdown=delay)


def _fail(link: ObserverLink, token: str, generation: int, error: CanvasError) -> None:
    now = timezone.now()
    with transaction.atomic():
        _lock_assignment(link.assignment_id)
        won = ObserverLink.objects.filter(pk=link.pk, generation=generation, claim=token).update(
            state=State.FAILED,
            claim="",
            attempts=F("attempts") + 1,
            last_error=error.user_message,
            last_error_status=error.status,
            next_attempt_at=None,
            synced_at=now,
            updated_at=now,
        )
        if not won:
            _hand_over(link, token)
            return
        _audit_link(
            link,
            Action.CANVAS_FAILED,
            outcome=Outcome.FAILED,
            details={"status": error.status, "error": error.user_message, "desired": link.desired},
        )
        assignment_link_state_refresh(assignment_id=link.assignment_id)
        transaction.on_commit(lambda: _notify_failed(link.pk))


def _notify_failed(link_id: int) -> None:
    link = ObserverLink.objects.select_related("assignment__program", "assignment__student").get(pk=link_id)
    try:
        notify_link_failed(link=link)
    except Exception:
        logger.warning("could not notify coordinators about failed link %s", link_id, exc_info=True)


# --- "Retry now" ---------------------------------------------------------------------------------------------


def link_retry(*, link: ObserverLink, actor: User, request: HttpRequest | None = None) -> ObserverLink:
    """A coordinator asks to try a failed link again. Raises SyncError when the link is not failed (any more)."""
    with transaction.atomic():
        _lock_assignment(link.assignment_id)
        won = ObserverLink.objects.filter(pk=link.pk, state=State.FAILED).update(
            state=State.PENDING,
            claim="",
            attempts=0,
            next_attempt_at=None,
            last_error="",
            last_error_status=None,
            updated_at=timezone.now(),
        )
        if not won:
            link.refresh_from_db()
            raise SyncError(f"This link is not failed any more ({link.get_state_display().lower()}); nothing to retry.")
        link.refresh_from_db()
        audit_record(
            action=Action.CANVAS_RETRY,
            actor=actor,
            program=link.assignment.program,
            student=link.assignment.student,
            obj=link,
            request=request,
            details={"assignment": link.assignment_id, "generation": link.generation},
        )
        assignment_link_state_refresh(assignment_id=link.assignment_id)
        transaction.on_commit(lambda: publishing._publish(link.pk, link.generation))
    return link

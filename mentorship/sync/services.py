"""Making Canvas match what was approved (DESIGN.md sections 4 and 5).

The ObserverLink row is the durable queue. Services that change what Canvas should hold upsert rows at the
assignment's generation inside the caller's transaction; after commit a task per row is published. The task body,
`link_sync`, re-reads the row, skips stale generations and settled rows, claims the row with a conditional UPDATE,
makes one Canvas change and records the outcome with another conditional UPDATE that checks the claim, so duplicate
or out-of-order delivery changes nothing twice and writes exactly one audit event per outcome. The sweeper
(`links_sweep`) re-publishes rows nobody touched for a while: nothing depends on the broker keeping its messages.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import (
    CanvasAuthError,
    CanvasClient,
    CanvasError,
    CanvasNotFound,
    CanvasRateLimited,
    CanvasTransientError,
    CanvasValidationError,
)
from canvas_client.sis import UserObserverRow, build_user_observers_csv, match_warnings, parse_processing_warnings
from mentorship.accounts.models import User
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.core.canvas import portal_client, root_account_id
from mentorship.people.models import Person

from .circuit import circuit_is_open, circuit_open
from .models import ObserverLink, PairingCode, SisBatch

logger = logging.getLogger(__name__)

State = ObserverLink.State
Desired = ObserverLink.Desired
WORKING = (State.LINKING, State.UNLINKING)
PAIRING_CODE_LIFETIME = datetime.timedelta(days=7)  # Canvas: codes expire 7 days after issue (API.md section 1)
PAIRING_REMIND_BEFORE = datetime.timedelta(days=1)
BACKOFF_CAP_SECONDS = 300.0  # far below Redis's visibility_timeout (3600 s), so no broker redelivery races a retry


class SyncError(Exception):
    """A request a person made cannot be done; the message is a sentence for them."""


# --- planning (called inside the transaction that changed the assignment) --------------------------------------


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


# --- publishing ----------------------------------------------------------------------------------------------


# After a failed publish, this process stops trying for a few seconds: connecting to a dead broker takes seconds,
# and every row is safe in the database for the sweeper anyway.
BROKER_DOWN_BACKOFF_SECONDS = 10.0
_broker_down_until = 0.0


def _publish(link_id: int, generation: int, countdown: float | None = None) -> bool:
    global _broker_down_until
    from .tasks import sync_link

    if time.monotonic() < _broker_down_until:
        return False
    try:
        # No publish retries: a message that cannot be sent now is sent by the sweeper, and an approval must not
        # wait on a broker that is down.
        if countdown is None:
            sync_link.apply_async((link_id, generation), retry=False)
        else:
            sync_link.apply_async((link_id, generation), countdown=countdown, retry=False)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_DOWN_BACKOFF_SECONDS
        logger.warning("broker unavailable; link %s left for the sweeper", link_id)
        return False
    return True


def _sis_eligible(link_ids: list[int]) -> list[int]:
    return list(
        ObserverLink.objects.filter(
            pk__in=link_ids,
            kind=ObserverLink.Kind.OBSERVEE,
            assignment__link_method=LinkMethod.OBSERVEE,
            state=State.PENDING,
        )
        .exclude(assignment__mentor__sis_user_id="")
        .exclude(assignment__student__sis_user_id="")
        .values_list("pk", flat=True)
    )


def links_enqueue(*, links: Iterable[ObserverLink]) -> None:
    """Publish the work for these links (call after commit). Above SIS_BULK_THRESHOLD eligible observee links,
    one SIS import carries them; the rest get one task each. A lost message is re-sent by the sweeper."""
    from .tasks import sis_push

    link_list = [link for link in links if link.state in (State.PENDING, *WORKING)]
    if not link_list:
        return
    bulk: set[int] = set()
    if len(link_list) > settings.SIS_BULK_THRESHOLD:
        eligible = _sis_eligible([link.pk for link in link_list])
        if len(eligible) > settings.SIS_BULK_THRESHOLD:
            try:
                sis_push.apply_async(retry=False)
                bulk = set(eligible)
            except Exception:
                logger.warning("broker unavailable; SIS push left for the sweeper")
                return
    for link in link_list:
        if link.pk in bulk:
            continue
        if not _publish(link.pk, link.generation):
            return  # the broker is down: don't make the coordinator wait on every remaining link


def links_requeue_held() -> int:
    """Publish every row with work left (after the circuit closes)."""
    rows = list(
        ObserverLink.objects.filter(state__in=[State.PENDING, *WORKING]).values_list("pk", "generation")[:20000]
    )
    for pk, generation in rows:
        if not _publish(pk, generation):
            break
    return len(rows)


def queue_depth() -> int:
    """Messages waiting in the task queue, or 0 when the broker cannot say (or is down)."""
    from mentorship.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            queue = settings.CELERY_TASK_DEFAULT_QUEUE
            channel: Any = conn.default_channel
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:
        return 0


def links_sweep(*, now: datetime.datetime | None = None) -> int:
    """Re-publish rows with work left that nobody touched for SWEEPER_STALE_SECONDS: a worker killed mid-task, a
    broker down at commit time, a lost message. Touches each row so the next sweep waits another period."""
    from .tasks import sis_poll

    if circuit_is_open():
        return 0
    now = now or timezone.now()
    stale_before = now - datetime.timedelta(seconds=settings.SWEEPER_STALE_SECONDS)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    candidates = ObserverLink.objects.filter(updated_at__lt=stale_before).filter(
        Q(state__in=WORKING) | (Q(state=State.PENDING) & due)
    )
    depth = queue_depth()
    if depth > 0 and depth >= candidates.filter(state=State.PENDING).count():
        # The queue holds at least as many messages as there are stale pending rows: each may well be waiting in it,
        # and re-publishing would only double the backlog. Claims that went stale (a worker died holding them) are
        # re-published at once; the pending rows once the queue is shorter than they are many (so a few beat
        # messages in the queue never hold back rows whose messages were lost with a restarted broker).
        candidates = candidates.filter(state__in=WORKING)
    rows = list(candidates.order_by("updated_at").values_list("pk", "generation")[:5000])
    if rows:
        ObserverLink.objects.filter(pk__in=[pk for pk, _ in rows], updated_at__lt=stale_before).filter(
            state=State.PENDING
        ).update(updated_at=now)
    published = 0
    for pk, generation in rows:
        if not _publish(pk, generation):
            break
        published += 1
    for batch_id in SisBatch.objects.filter(finished_at__isnull=True, updated_at__lt=stale_before).values_list(
        "pk", flat=True
    ):
        try:
            sis_poll.apply_async((batch_id,), retry=False)
        except Exception:
            break
    if published:
        logger.info("sweeper re-published %s links", published)
    return published


# --- the task body -------------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    state: str
    action: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    code: Any = None  # a canvas_client PairingCode to record
    reset_siblings: bool = False


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
    client = client or portal_client()
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
    base = float(getattr(settings, "SYNC_BACKOFF_BASE_SECONDS", 2.0))
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, base * 2**attempt))


def _enrollment_window(assignment: MentorAssignment) -> tuple[datetime.datetime, datetime.datetime]:
    tz = timezone.get_current_timezone()
    start = datetime.datetime.combine(assignment.starts_on, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(assignment.ends_on, datetime.time(23, 59, 59), tzinfo=tz)
    return start, end


def _others_present(link: ObserverLink) -> bool:
    """Does another approved row still need this pair (and course)? Then removing ours must not touch Canvas:
    Canvas holds one link per pair, and deleting a user-level link also deletes the pair's observer enrollments."""
    others = ObserverLink.objects.filter(
        observer_canvas_id=link.observer_canvas_id, student_canvas_id=link.student_canvas_id, desired=Desired.PRESENT
    ).exclude(pk=link.pk)
    if link.kind == ObserverLink.Kind.COURSE:
        others = others.filter(Q(kind=ObserverLink.Kind.OBSERVEE) | Q(canvas_course_id=link.canvas_course_id))
    # Only a row that has made the link counts. A row still waiting to run makes it itself later (PUT is
    # idempotent, enrollments are looked up before they are created); counting it would leave our link in Canvas
    # for ever if that row is retired before it runs, since a row that never reached Canvas retires without a call.
    return others.filter(state=State.LINKED).exists()


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
    assignment = link.assignment
    pair: dict[str, Any] = {"observer": link.observer_canvas_id, "student": link.student_canvas_id}
    if link.kind == ObserverLink.Kind.COURSE:
        pair["course"] = link.canvas_course_id
        assert link.canvas_course_id is not None
        if link.desired == Desired.PRESENT:
            # POST is not idempotent: after a lost answer or a killed worker, look before creating another.
            enrollment_id = _find_observer_enrollment(client, link) if confirm_first else None
            if enrollment_id is None:
                start, end = _enrollment_window(assignment)
                enrollment_id = client.create_observer_enrollment(
                    link.canvas_course_id, link.observer_canvas_id, link.student_canvas_id, start_at=start, end_at=end
                ).id
            return _Outcome(
                State.LINKED,
                Action.CANVAS_LINKED,
                {"canvas_enrollment_id": enrollment_id},
                pair | {"enrollment": enrollment_id},
            )
        if _others_present(link):
            return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"kept_for_other_assignment": True})
        enrollment_id = link.canvas_enrollment_id or _find_observer_enrollment(client, link)
        if enrollment_id is not None:
            with contextlib.suppress(CanvasNotFound):  # already gone: the goal holds
                client.delete_enrollment(link.canvas_course_id, enrollment_id, task="delete")
        return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"enrollment": enrollment_id})

    if link.desired == Desired.PRESENT:
        if assignment.link_method == LinkMethod.PAIRING_CODE:
            try:
                client.get_observee(link.observer_canvas_id, link.student_canvas_id)
            except CanvasNotFound:
                code = client.create_pairing_code(link.student_canvas_id)
                return _Outcome(State.AWAITING_REDEMPTION, None, code=code)
            return _Outcome(State.LINKED, Action.CANVAS_LINKED, details=pair | {"already_linked": True})
        client.add_observee(link.observer_canvas_id, link.student_canvas_id, root_account_id=root_account_id())
        return _Outcome(State.LINKED, Action.CANVAS_LINKED, details=pair)

    if _others_present(link):
        return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"kept_for_other_assignment": True})
    try:
        client.remove_observee(link.observer_canvas_id, link.student_canvas_id, root_account_id=root_account_id())
    except CanvasNotFound:
        # Ambiguous: never linked, or our earlier DELETE worked and its answer was lost. Ask.
        try:
            client.get_observee(link.observer_canvas_id, link.student_canvas_id)
        except CanvasNotFound:
            return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair | {"already_gone": True})
        raise CanvasTransientError(
            "Canvas answered 404 to the removal but still lists the link", status=404, method="DELETE"
        ) from None
    return _Outcome(State.UNLINKED, Action.CANVAS_UNLINKED, details=pair, reset_siblings=True)


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
        if outcome.reset_siblings:
            _reset_siblings(link)
        assignment_link_state_refresh(assignment_id=link.assignment_id)
    return outcome.state


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
            transaction.on_commit(lambda: _publish(current.pk, current.generation))


def _reset_siblings(link: ObserverLink) -> None:
    """Deleting a user-level link also deletes every observer enrollment of the pair (API.md section 2): rows of
    other assignments that still want the pair go back to pending and are made again."""
    siblings = list(
        ObserverLink.objects.filter(
            observer_canvas_id=link.observer_canvas_id,
            student_canvas_id=link.student_canvas_id,
            desired=Desired.PRESENT,
            state__in=[State.LINKED, *WORKING],
        ).exclude(pk=link.pk)
    )
    if not siblings:
        return
    ObserverLink.objects.filter(pk__in=[s.pk for s in siblings]).update(
        state=State.PENDING, claim="", updated_at=timezone.now()
    )
    for sibling in siblings:
        transaction.on_commit(_publisher(sibling.pk, sibling.generation))


def _publisher(link_id: int, generation: int) -> Callable[[], object]:
    return lambda: _publish(link_id, generation)


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
        _publish(link.pk, generation, countdown=delay)


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
    try:
        from mentorship.assignments.notifications import notify_link_failed  # written by the coordinator pages
    except ImportError:
        return
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
        transaction.on_commit(lambda: _publish(link.pk, link.generation))
    return link


# --- pairing codes -------------------------------------------------------------------------------------------


def _pairing_code_save(*, link: ObserverLink, canvas_code: Any, actor: User | None) -> PairingCode:
    """Ledger row for a code Canvas just issued; supersedes older codes; delivery after commit."""
    assignment = link.assignment
    now = timezone.now()
    PairingCode.objects.filter(assignment=assignment, status=PairingCode.Status.ISSUED).update(
        status=PairingCode.Status.SUPERSEDED
    )
    code = PairingCode.objects.create(
        assignment=assignment,
        link=link,
        student=assignment.student,
        code=canvas_code.code,
        issued_by=actor,
        issued_at=now,
        expires_at=canvas_code.expires_at or now + PAIRING_CODE_LIFETIME,
        delivered_via="email+page" if assignment.mentor.email else "page",
    )
    audit_record(
        action=Action.PAIRING_CODE_ISSUED,
        actor=actor,
        system_actor="" if actor else "worker",
        program=assignment.program,
        student=assignment.student,
        obj=code,
        details={"assignment": assignment.pk, "code": code.code, "expires_at": code.expires_at.isoformat()},
    )
    transaction.on_commit(lambda: _deliver_code(code.pk))
    return code


def _deliver_code(code_id: int, *, reminder: bool = False) -> None:
    code = PairingCode.objects.select_related("assignment__mentor", "student").get(pk=code_id)
    mentor: Person = code.assignment.mentor
    if not mentor.email:
        return
    expires = timezone.localtime(code.expires_at).strftime("%Y-%m-%d %H:%M")
    lead = "Reminder: your pairing code expires soon." if reminder else "Your Canvas pairing code is ready."
    try:
        send_mail(
            "Mentor Link: your Canvas pairing code" + (" expires soon" if reminder else ""),
            (
                f"{lead}\n\nStudent: {code.student.name}\nPairing code: {code.code}\nExpires: {expires}\n\n"
                f"Link now from {settings.PORTAL_BASE_URL}/my/ , or enter the code in Canvas under Account > "
                f"Settings > Observing ({settings.CANVAS_BASE_URL}/profile/observees). The code works once.\n"
            ),
            None,
            [mentor.email],
        )
    except Exception:  # the code is also on the mentor's page; never log it
        logger.warning("could not email pairing code %s", code_id)


def pairing_code_issue(
    *, assignment: MentorAssignment, actor: User | None = None, client: CanvasClient | None = None
) -> PairingCode:
    """Ask Canvas for a new code for an assignment that links by pairing code (reissue on request).

    Older issued codes become superseded. Raises SyncError when the assignment does not use pairing codes or is
    not active, and CanvasError when Canvas refuses.
    """
    if assignment.link_method != LinkMethod.PAIRING_CODE:
        raise SyncError("This assignment does not link by pairing code.")
    if not assignment.is_active:
        raise SyncError("Codes are only issued while the assignment is active.")
    link = ObserverLink.objects.filter(assignment=assignment, kind=ObserverLink.Kind.OBSERVEE).first()
    if link is None:
        link = links_plan(assignment=assignment)[0]
    if link.state == State.LINKED:
        raise SyncError("The mentor is already linked in Canvas; no code is needed.")
    own = client is None
    client = client or portal_client()
    try:
        canvas_code = client.create_pairing_code(assignment.student.canvas_user_id)
    finally:
        if own:
            client.close()
    with transaction.atomic():
        _lock_assignment(assignment.pk)
        link = ObserverLink.objects.select_related(
            "assignment__program", "assignment__student", "assignment__mentor"
        ).get(pk=link.pk)
        code = _pairing_code_save(link=link, canvas_code=canvas_code, actor=actor)
        ObserverLink.objects.filter(pk=link.pk).exclude(state__in=WORKING).update(
            state=State.AWAITING_REDEMPTION,
            desired=Desired.PRESENT,
            claim="",
            last_error="",
            last_error_status=None,
            updated_at=timezone.now(),
        )
        assignment_link_state_refresh(assignment_id=assignment.pk)
    return code


def _mark_redeemed(code: PairingCode, *, by_canvas_id: int, actor: User | None) -> bool:
    """Record the redemption and the link (exactly once: compare-and-set on the code's status)."""
    now = timezone.now()
    with transaction.atomic():
        _lock_assignment(code.assignment_id)
        won = PairingCode.objects.filter(pk=code.pk, status=PairingCode.Status.ISSUED).update(
            status=PairingCode.Status.REDEEMED, redeemed_at=now, redeemed_by_canvas_id=by_canvas_id
        )
        if not won:
            return False
        assignment = code.assignment
        audit_record(
            action=Action.PAIRING_CODE_REDEEMED,
            actor=actor,
            system_actor="" if actor else "beat",
            program=assignment.program,
            student=assignment.student,
            obj=code,
            details={"assignment": assignment.pk, "code": code.code, "observer": by_canvas_id},
        )
        link = ObserverLink.objects.filter(
            assignment=assignment, kind=ObserverLink.Kind.OBSERVEE, desired=Desired.PRESENT
        ).first()
        if link is not None:
            linked = (
                ObserverLink.objects.filter(pk=link.pk)
                .exclude(state=State.LINKED)
                .update(state=State.LINKED, claim="", linked_at=now, synced_at=now, last_error="", updated_at=now)
            )
            if linked:
                link.assignment = assignment
                _audit_link(
                    link,
                    Action.CANVAS_LINKED,
                    details={"observer": by_canvas_id, "student": link.student_canvas_id, "via": "pairing_code"},
                )
            assignment_link_state_refresh(assignment_id=assignment.pk)
    return True


def pairing_code_redeem(*, pairing_code: PairingCode, mentor_user: User, canvas_client: CanvasClient) -> bool:
    """Redeem the code with the mentor's own token (POST /users/self/observees). Never retried: Canvas consumes the
    code first, so after a lost answer the student's observers are listed to confirm.

    Returns True when the mentor now observes the student. Raises SyncError (a sentence) when it did not work.
    """
    code = PairingCode.objects.select_related("assignment__mentor", "assignment__program", "assignment__student").get(
        pk=pairing_code.pk
    )
    mentor = code.assignment.mentor
    if mentor_user.person_id != mentor.pk:
        raise SyncError("This pairing code was issued for another mentor.")
    if code.status == PairingCode.Status.REDEEMED:
        return True
    if code.status != PairingCode.Status.ISSUED or code.expires_at <= timezone.now():
        raise SyncError("This pairing code is no longer valid. Ask your coordinator for a new one.")
    try:
        canvas_client.redeem_pairing_code(code.code)
    except (CanvasTransientError, CanvasValidationError) as exc:
        # Lost answer (or an "invalid code" because our first, unanswered try consumed it): ask Canvas who observes
        # the student now, with the portal's token.
        try:
            confirmed = _observes(code.student.canvas_user_id, mentor.canvas_user_id)
        except CanvasError:
            # Canvas cannot say either way; the pairing-code watch records the redemption if it did happen.
            raise SyncError(
                "Canvas is not answering right now, so the portal cannot tell whether the code was used. "
                "Your link will show here as soon as Canvas confirms it; otherwise try again in a minute."
            ) from None
        if confirmed:
            _mark_redeemed(code, by_canvas_id=mentor.canvas_user_id, actor=mentor_user)
            return True
        raise SyncError(
            f"Canvas did not accept the pairing code ({exc.status_text}). "
            "Try again in a minute, or ask your coordinator for a new code."
        ) from None
    except CanvasError as exc:
        raise SyncError(exc.user_message) from None
    _mark_redeemed(code, by_canvas_id=mentor.canvas_user_id, actor=mentor_user)
    return True


def _observes(student_id: int, observer_id: int, client: CanvasClient | None = None) -> bool:
    own = client is None
    client = client or portal_client()
    try:
        return any(user.id == observer_id for user in client.list_observers(student_id))
    finally:
        if own:
            client.close()


def pairing_codes_watch(*, client: CanvasClient | None = None, now: datetime.datetime | None = None) -> dict[str, int]:
    """Beat job: detect redemptions (the mentor appears among the student's observers), remind mentors a day before
    expiry, and mark expired codes (their link fails with a sentence; "Retry now" issues a new code)."""
    now = now or timezone.now()
    counts = {"redeemed": 0, "reminded": 0, "expired": 0}
    if circuit_is_open():
        return counts
    issued = list(
        PairingCode.objects.filter(status=PairingCode.Status.ISSUED).select_related(
            "assignment__mentor", "assignment__program", "assignment__student", "student"
        )
    )
    own = client is None
    client = client or portal_client()
    try:
        observers_by_student: dict[int, set[int]] = {}
        for code in issued:
            student_id = code.student.canvas_user_id
            if student_id not in observers_by_student:
                try:
                    observers_by_student[student_id] = {u.id for u in client.list_observers(student_id)}
                except CanvasAuthError as exc:
                    circuit_open(error=exc)
                    return counts
                except CanvasError:
                    observers_by_student[student_id] = set()
            mentor_id = code.assignment.mentor.canvas_user_id
            if mentor_id in observers_by_student[student_id]:
                if _mark_redeemed(code, by_canvas_id=mentor_id, actor=None):
                    counts["redeemed"] += 1
            elif code.expires_at <= now:
                _pairing_code_expire(code)
                counts["expired"] += 1
            elif code.expires_at - now <= PAIRING_REMIND_BEFORE and code.reminded_at is None:
                with transaction.atomic():
                    if PairingCode.objects.filter(pk=code.pk, reminded_at__isnull=True).update(reminded_at=now):
                        audit_record(
                            action=Action.PAIRING_CODE_REMINDED,
                            system_actor="beat",
                            program=code.assignment.program,
                            student=code.student,
                            obj=code,
                            details={"assignment": code.assignment_id, "code": code.code},
                        )
                        transaction.on_commit(functools.partial(_deliver_code, code.pk, reminder=True))
                        counts["reminded"] += 1
    finally:
        if own:
            client.close()
    return counts


def _pairing_code_expire(code: PairingCode) -> None:
    with transaction.atomic():
        _lock_assignment(code.assignment_id)
        if not PairingCode.objects.filter(pk=code.pk, status=PairingCode.Status.ISSUED).update(
            status=PairingCode.Status.EXPIRED
        ):
            return
        audit_record(
            action=Action.PAIRING_CODE_EXPIRED,
            system_actor="beat",
            program=code.assignment.program,
            student=code.student,
            obj=code,
            outcome=Outcome.WARNING,
            details={"assignment": code.assignment_id, "code": code.code},
        )
        expired_on = timezone.localtime(code.expires_at).strftime("%Y-%m-%d")
        ObserverLink.objects.filter(
            assignment_id=code.assignment_id, state=State.AWAITING_REDEMPTION, desired=Desired.PRESENT
        ).update(
            state=State.FAILED,
            last_error=(
                f"The pairing code expired on {expired_on} before the mentor used it. "
                "Use \u201cRetry now\u201d to issue a new code."
            ),
            last_error_status=None,
            updated_at=timezone.now(),
        )
        assignment_link_state_refresh(assignment_id=code.assignment_id)


# --- SIS bulk transport --------------------------------------------------------------------------------------


def _sis_candidates() -> list[ObserverLink]:
    now = timezone.now()
    return list(
        ObserverLink.objects.filter(
            kind=ObserverLink.Kind.OBSERVEE, assignment__link_method=LinkMethod.OBSERVEE, state=State.PENDING
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .exclude(assignment__mentor__sis_user_id="")
        .exclude(assignment__student__sis_user_id="")
        .select_related("assignment__mentor", "assignment__student")
        .order_by("pk")[:50000]
    )


def sis_users_csv(*, links: Iterable[ObserverLink]) -> bytes:
    """user_observers.csv for these links (active for present, deleted for absent); links whose people lack SIS
    ids are left out. Raises ValueError when no link can be written."""
    rows = []
    for link in links:
        mentor, student = link.assignment.mentor, link.assignment.student
        if mentor.sis_user_id and student.sis_user_id:
            status = "active" if link.desired == Desired.PRESENT else "deleted"
            rows.append(UserObserverRow(mentor.sis_user_id, student.sis_user_id, status))  # type: ignore[arg-type]
    return build_user_observers_csv(rows)


def sis_push(*, client: CanvasClient | None = None) -> SisBatch | None:
    """Send every eligible pending observee link in one user_observers.csv import, when there are more than
    SIS_BULK_THRESHOLD of them (else publish them one by one). Never batch mode: it deletes what the file omits."""
    from .tasks import sis_poll

    if circuit_is_open():
        return None
    candidates = _sis_candidates()
    if len(candidates) <= settings.SIS_BULK_THRESHOLD:
        for link in candidates:
            _publish(link.pk, link.generation)
        return None
    batch = SisBatch.objects.create(rows=0, workflow_state="sending")
    claim = f"sis{batch.pk}"
    now = timezone.now()
    ids = [link.pk for link in candidates]
    for desired, working in ((Desired.PRESENT, State.LINKING), (Desired.ABSENT, State.UNLINKING)):
        ObserverLink.objects.filter(pk__in=ids, state=State.PENDING, desired=desired).update(
            state=working, claim=claim, sis_batch=batch, updated_at=now
        )
    links = list(ObserverLink.objects.filter(claim=claim).select_related("assignment__mentor", "assignment__student"))
    if not links:
        batch.delete()
        return None
    own = client is None
    client = client or portal_client()
    try:
        csv_bytes = sis_users_csv(links=links)
        canvas_import = client.start_sis_import(str(settings.CANVAS_ROOT_ACCOUNT_ID), csv_bytes)
    except CanvasAuthError as exc:
        _sis_release(batch, claim, str(exc.user_message))
        circuit_open(error=exc)
        batch.refresh_from_db()
        return batch
    except (CanvasError, ValueError) as exc:
        message = exc.user_message if isinstance(exc, CanvasError) else str(exc)
        _sis_release(batch, claim, message)
        # The import never started (POST refused or unanswered and so unknown): the links go one by one.
        for link in links:
            _publish(link.pk, link.generation)
        batch.refresh_from_db()
        return batch
    finally:
        if own:
            client.close()
    with transaction.atomic():
        SisBatch.objects.filter(pk=batch.pk).update(
            rows=len(links),
            canvas_import_id=canvas_import.id,
            workflow_state=canvas_import.workflow_state,
            progress=canvas_import.progress,
        )
        audit_record(
            action=Action.SIS_IMPORT,
            system_actor="worker",
            obj=batch,
            details={"rows": len(links), "canvas_import_id": canvas_import.id},
        )
    transaction.on_commit(lambda: sis_poll.apply_async((batch.pk,), countdown=1, retry=False))
    batch.refresh_from_db()
    return batch


def _sis_release(batch: SisBatch, claim: str, message: str) -> None:
    now = timezone.now()
    ObserverLink.objects.filter(claim=claim).update(state=State.PENDING, claim="", sis_batch=None, updated_at=now)
    SisBatch.objects.filter(pk=batch.pk).update(workflow_state="not_sent", errors=[message], finished_at=now)


def sis_poll(*, batch_id: int, client: CanvasClient | None = None) -> bool:
    """Poll one import; when Canvas finished it, record each link's outcome (row warnings mapped back to links).
    Returns True when the batch is finished."""
    from .tasks import sis_poll as sis_poll_task

    batch = SisBatch.objects.filter(pk=batch_id).first()
    if batch is None or batch.finished_at is not None or batch.canvas_import_id is None:
        return True
    if circuit_is_open():
        return False
    claim = f"sis{batch.pk}"
    own = client is None
    client = client or portal_client()
    try:
        canvas_import = client.get_sis_import(str(settings.CANVAS_ROOT_ACCOUNT_ID), batch.canvas_import_id)
    except CanvasAuthError as exc:
        circuit_open(error=exc)
        return False
    except CanvasError:
        SisBatch.objects.filter(pk=batch.pk).update(updated_at=timezone.now())
        transaction.on_commit(lambda: sis_poll_task.apply_async((batch.pk,), countdown=5, retry=False))
        return False
    finally:
        if own:
            client.close()
    now = timezone.now()
    # Touch the rows so the sweeper leaves them to the batch while Canvas works.
    ObserverLink.objects.filter(claim=claim).update(updated_at=now)
    if not canvas_import.finished:
        SisBatch.objects.filter(pk=batch.pk).update(
            workflow_state=canvas_import.workflow_state, progress=canvas_import.progress, updated_at=now
        )
        transaction.on_commit(lambda: sis_poll_task.apply_async((batch.pk,), countdown=2, retry=False))
        return False
    links = list(
        ObserverLink.objects.filter(claim=claim).select_related(
            "assignment__mentor", "assignment__student", "assignment__program"
        )
    )
    errors = [list(pair) for pair in (*canvas_import.processing_errors, *canvas_import.processing_warnings)]
    if not canvas_import.succeeded:
        _sis_release(batch, claim, f"Canvas ended the SIS import as {canvas_import.workflow_state}.")
        SisBatch.objects.filter(pk=batch.pk).update(errors=errors, progress=canvas_import.progress)
        for link in links:
            _publish(link.pk, link.generation)
        return True
    rows = {}
    for link in links:
        status = "active" if link.desired == Desired.PRESENT else "deleted"
        rows[link.pk] = UserObserverRow(link.assignment.mentor.sis_user_id, link.assignment.student.sis_user_id, status)  # type: ignore[arg-type]
    by_row = match_warnings(rows.values(), parse_processing_warnings(canvas_import.processing_warnings))
    for link in links:
        messages = by_row.get(rows[link.pk], [])
        gone = link.desired == Desired.ABSENT and all("non-existent observer" in m for m in messages)
        with transaction.atomic():
            _lock_assignment(link.assignment_id)
            if messages and not gone:
                sentence = (
                    "Canvas's SIS import refused this link: " + "; ".join(messages) + ". "
                    "Check both people's SIS ids in Canvas, then retry."
                )
                won = ObserverLink.objects.filter(pk=link.pk, claim=claim).update(
                    state=State.FAILED,
                    claim="",
                    attempts=F("attempts") + 1,
                    last_error=sentence,
                    last_error_status=None,
                    synced_at=now,
                    updated_at=now,
                )
                if won:
                    _audit_link(
                        link,
                        Action.CANVAS_FAILED,
                        outcome=Outcome.FAILED,
                        details={"error": sentence, "sis_batch": batch.pk},
                    )
            else:
                final = State.LINKED if link.desired == Desired.PRESENT else State.UNLINKED
                extra: dict[str, Any] = {"linked_at": now} if final == State.LINKED else {}
                won = ObserverLink.objects.filter(pk=link.pk, claim=claim, generation=link.generation).update(
                    state=final,
                    claim="",
                    attempts=F("attempts") + 1,
                    last_error="",
                    last_error_status=None,
                    synced_at=now,
                    next_attempt_at=None,
                    updated_at=now,
                    **extra,
                )
                if won:
                    action = Action.CANVAS_LINKED if final == State.LINKED else Action.CANVAS_UNLINKED
                    _audit_link(
                        link,
                        action,
                        details={
                            "observer": link.observer_canvas_id,
                            "student": link.student_canvas_id,
                            "sis_batch": batch.pk,
                        },
                    )
                else:
                    _hand_over(link, claim)
            assignment_link_state_refresh(assignment_id=link.assignment_id)
    SisBatch.objects.filter(pk=batch.pk).update(
        workflow_state=canvas_import.workflow_state, progress=canvas_import.progress, errors=errors, finished_at=now
    )
    return True


__all__ = [
    "SyncError",
    "assignment_link_state_refresh",
    "link_retry",
    "link_sync",
    "links_enqueue",
    "links_plan",
    "links_requeue_held",
    "links_retire",
    "links_sweep",
    "pairing_code_issue",
    "pairing_code_redeem",
    "pairing_codes_watch",
    "sis_poll",
    "sis_push",
    "sis_users_csv",
]

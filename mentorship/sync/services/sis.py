"""SIS bulk transport: many observee links in one user_observers.csv import, polled until Canvas finishes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from canvas_client import (
    CanvasAuthError,
    CanvasClient,
    CanvasError,
    CanvasNotFound,
    SisImport,
)
from canvas_client.sis import (
    ObserverWarning,
    UserObserverRow,
    build_user_observers_csv,
    match_warnings,
    parse_errors_file,
    parse_processing_warnings,
)
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.celery import task_named
from mentorship.core import canvas

from ..circuit import circuit_is_open, circuit_open
from ..models import ObserverLink, SisBatch
from . import publishing
from .common import (
    Desired,
    State,
)
from .planning import assignment_link_state_refresh, assignment_link_states_refresh, pairs_desired_state
from .records import _audit_link, _hand_over, _lock_assignment

logger = logging.getLogger(__name__)

AWAITING_ERRORS_FILE = "awaiting_errors_file"  # SisBatch.workflow_state while Canvas writes the errors file
SIS_ERRORS_FILE_WAIT = 120.0  # seconds; past that, the rows the 24 listed warnings do not name are checked one by one


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


def _sis_split(candidates: list[ObserverLink]) -> tuple[list[ObserverLink], list[ObserverLink]]:
    """(rows the import may carry, rows that go one by one). A "deleted" row removes the pair's link and with it every
    observer enrollment of the pair, whatever else wants them: a removal whose pair another active assignment still
    needs goes through the task, which moves the pair to its whole desired state (docs/canvas-rules.md, section 2)."""
    if not any(link.desired == Desired.ABSENT for link in candidates):
        return candidates, []
    wanted = pairs_desired_state()
    bulk: list[ObserverLink] = []
    single: list[ObserverLink] = []
    for link in candidates:
        pair = (link.observer_canvas_id, link.student_canvas_id)
        (single if link.desired == Desired.ABSENT and pair in wanted else bulk).append(link)
    return bulk, single


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
    if circuit_is_open():
        return None
    candidates, one_by_one = _sis_split(_sis_candidates())
    for link in one_by_one:
        publishing._publish(link.pk, link.generation)
    if len(candidates) <= settings.SIS_BULK_THRESHOLD:
        for link in candidates:
            publishing._publish(link.pk, link.generation)
        return None
    claimed = _sis_claim(candidates)
    if claimed is None:
        return None
    batch, claim, links = claimed
    own = client is None
    client = client or canvas.portal_client()
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
            publishing._publish(link.pk, link.generation)
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
    _sis_poll_again(batch.pk, countdown=1)
    batch.refresh_from_db()
    return batch


def _sis_claim(candidates: list[ObserverLink]) -> tuple[SisBatch, str, list[ObserverLink]] | None:
    """A new batch and the candidates still pending, claimed for it (working state, the batch's claim)."""
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
    return batch, claim, links


def _sis_release(batch: SisBatch, claim: str, message: str) -> None:
    now = timezone.now()
    ObserverLink.objects.filter(claim=claim).update(state=State.PENDING, claim="", sis_batch=None, updated_at=now)
    SisBatch.objects.filter(pk=batch.pk).update(workflow_state="not_sent", errors=[message], finished_at=now)


def sis_poll(*, batch_id: int, client: CanvasClient | None = None) -> bool:
    """Poll one import; when Canvas finished it, record each link's outcome (row warnings mapped back to links).
    Returns True when the batch is finished."""
    batch = SisBatch.objects.filter(pk=batch_id).first()
    if batch is None or batch.finished_at is not None or batch.canvas_import_id is None:
        return True
    if circuit_is_open():
        return False
    own = client is None
    client = client or canvas.portal_client()
    try:
        return _sis_poll(batch, client)
    except CanvasAuthError as exc:
        circuit_open(error=exc)
        return False
    finally:
        if own:
            client.close()


def _sis_poll(batch: SisBatch, client: CanvasClient) -> bool:
    assert batch.canvas_import_id is not None
    canvas_import = _sis_fetch(batch, batch.canvas_import_id, client)
    if canvas_import is None:
        return False
    claim = f"sis{batch.pk}"
    now = timezone.now()
    # Touch the rows so the sweeper leaves them to the batch while Canvas works.
    ObserverLink.objects.filter(claim=claim).update(updated_at=now)
    if not canvas_import.finished:
        SisBatch.objects.filter(pk=batch.pk).update(
            workflow_state=canvas_import.workflow_state, progress=canvas_import.progress, updated_at=now
        )
        _sis_poll_again(batch.pk, countdown=2)
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
            publishing._publish(link.pk, link.generation)
        return True
    by_link = _sis_messages_by_link(batch, links, canvas_import, client)
    if by_link is None:
        return False  # the errors file is not written yet: polled again
    taken = [link for link in links if _sis_taken(link, by_link[link.pk])]
    rest = [link for link in links if not _sis_taken(link, by_link[link.pk])]
    for link in _sis_record_taken(taken, batch=batch, claim=claim, now=now) + rest:
        _sis_record(link, by_link[link.pk], batch=batch, claim=claim, now=now)
    SisBatch.objects.filter(pk=batch.pk).update(
        workflow_state=canvas_import.workflow_state, progress=canvas_import.progress, errors=errors, finished_at=now
    )
    return True


def _sis_poll_again(batch_id: int, *, countdown: int) -> None:
    sis_poll_task = task_named("sync.sis_poll")
    transaction.on_commit(lambda: sis_poll_task.apply_async((batch_id,), countdown=countdown, retry=False))


def _sis_fetch(batch: SisBatch, import_id: int, client: CanvasClient) -> Any:
    """Canvas's view of the import, or None when Canvas cannot say now (polled again in a few seconds). A rejected
    token raises CanvasAuthError to the caller, which opens the circuit."""
    try:
        return client.get_sis_import(str(settings.CANVAS_ROOT_ACCOUNT_ID), import_id)
    except CanvasAuthError:
        raise
    except CanvasError:
        SisBatch.objects.filter(pk=batch.pk).update(updated_at=timezone.now())
        _sis_poll_again(batch.pk, countdown=5)
        return None


def _sis_rows(links: list[ObserverLink]) -> dict[int, UserObserverRow]:
    rows = {}
    for link in links:
        status = "active" if link.desired == Desired.PRESENT else "deleted"
        rows[link.pk] = UserObserverRow(link.assignment.mentor.sis_user_id, link.assignment.student.sis_user_id, status)  # type: ignore[arg-type]
    return rows


def _sis_messages_by_link(
    batch: SisBatch, links: list[ObserverLink], canvas_import: SisImport, client: CanvasClient
) -> dict[int, list[str]] | None:
    """Canvas's row messages, put back on the links they are about (each link is one user_observers.csv row).

    Canvas lists at most 24 warnings and then an "and N more" entry (docs/canvas-rules.md, section 3): past that,
    every message comes from the errors file; while that file is not written, None (poll again), and once waiting
    is over, each row not named in the 24 is checked in Canvas. A row is never taken as linked unread.
    """
    rows = _sis_rows(links)
    shown = parse_processing_warnings(canvas_import.processing_warnings)
    if canvas_import.messages_complete:
        by_row = match_warnings(rows.values(), shown)
        return {pk: by_row.get(row, []) for pk, row in rows.items()}
    warnings = _sis_errors_file(client, canvas_import)
    if warnings is not None:
        by_row = match_warnings(rows.values(), warnings)
        return {pk: by_row.get(row, []) for pk, row in rows.items()}
    if _sis_wait_for_errors_file(batch):
        return None
    by_row = match_warnings(rows.values(), shown)
    try:
        return {link.pk: by_row.get(rows[link.pk]) or _sis_check_row(client, link) for link in links}
    except CanvasAuthError:
        raise
    except CanvasError:
        _sis_poll_again(batch.pk, countdown=5)  # nothing recorded yet: the next poll checks again
        return None


def _sis_errors_file(client: CanvasClient, canvas_import: SisImport) -> list[ObserverWarning] | None:
    if not canvas_import.errors_attachment_url:
        return None
    try:
        return parse_errors_file(client.download_sis_errors_file(canvas_import.errors_attachment_url))
    except CanvasAuthError:
        raise
    except (CanvasError, ValueError):
        logger.warning("SIS import %s: the errors file could not be read", canvas_import.id, exc_info=True)
        return None


def _sis_wait_for_errors_file(batch: SisBatch) -> bool:
    """Canvas writes the errors file in a job after the batch is marked finished: wait for it up to
    SIS_ERRORS_FILE_WAIT seconds (the first time marks the start of the wait), polling again meanwhile."""
    now = timezone.now()
    if batch.workflow_state != AWAITING_ERRORS_FILE:
        SisBatch.objects.filter(pk=batch.pk).update(workflow_state=AWAITING_ERRORS_FILE, updated_at=now)
    elif (now - batch.updated_at).total_seconds() >= SIS_ERRORS_FILE_WAIT:
        return False
    _sis_poll_again(batch.pk, countdown=2)
    return True


def _sis_check_row(client: CanvasClient, link: ObserverLink) -> list[str]:
    """Canvas's own answer for one row whose message may be among those it did not list: [] when Canvas holds what
    the row asked for, else the reason it is counted as refused."""
    try:
        client.get_observee(link.observer_canvas_id, link.student_canvas_id)
        linked = True
    except CanvasNotFound:
        linked = False
    if linked == (link.desired == Desired.PRESENT):
        return []
    return ["the import reported more warnings than it lists, and Canvas does not show this row done"]


def _sis_taken(link: ObserverLink, messages: list[str]) -> bool:
    """Canvas did what the row asked: no message, or a removal of a link that was not there."""
    return not messages or (link.desired == Desired.ABSENT and all("non-existent observer" in m for m in messages))


SIS_RECORD_CHUNK = 500


def _sis_record_taken(links: list[ObserverLink], *, batch: SisBatch, claim: str, now: Any) -> list[ObserverLink]:
    """The links Canvas took, recorded SIS_RECORD_CHUNK at a time: the assignments' locks (in id order), one UPDATE
    per outcome, one audit event per link, the summaries together. 10,000 links one transaction each took minutes.
    Returns the links whose claim or generation moved meanwhile, for _sis_record to settle one by one."""
    left: list[ObserverLink] = []
    for start in range(0, len(links), SIS_RECORD_CHUNK):
        chunk = links[start : start + SIS_RECORD_CHUNK]
        with transaction.atomic():
            assignment_ids = sorted({link.assignment_id for link in chunk})
            list(
                MentorAssignment.objects.select_for_update()
                .filter(pk__in=assignment_ids)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            current = dict(
                ObserverLink.objects.filter(pk__in=[link.pk for link in chunk], claim=claim).values_list(
                    "pk", "generation"
                )
            )
            left.extend(link for link in chunk if current.get(link.pk) != link.generation)
            won = [link for link in chunk if current.get(link.pk) == link.generation]
            for desired, final, action in (
                (Desired.PRESENT, State.LINKED, Action.CANVAS_LINKED),
                (Desired.ABSENT, State.UNLINKED, Action.CANVAS_UNLINKED),
            ):
                group = [link for link in won if link.desired == desired]
                if not group:
                    continue
                ObserverLink.objects.filter(pk__in=[link.pk for link in group], claim=claim).update(
                    **_done_fields(final, now)
                )
                for link in group:
                    _audit_link(link, action, details=_sis_done_details(link, batch))
            assignment_link_states_refresh(assignment_ids=assignment_ids)
    return left


def _done_fields(final: str, now: Any) -> dict[str, Any]:
    """What a link that Canvas's import took is updated with, one at a time or a chunk at once."""
    return {
        "state": final,
        "claim": "",
        "attempts": F("attempts") + 1,
        "last_error": "",
        "last_error_status": None,
        "synced_at": now,
        "next_attempt_at": None,
        "updated_at": now,
        **({"linked_at": now} if final == State.LINKED else {}),
    }


def _sis_done_details(link: ObserverLink, batch: SisBatch) -> dict[str, Any]:
    return {"observer": link.observer_canvas_id, "student": link.student_canvas_id, "sis_batch": batch.pk}


def _sis_record(link: ObserverLink, messages: list[str], *, batch: SisBatch, claim: str, now: Any) -> None:
    """One link's outcome of a finished import, under the assignment's lock, with its audit event."""
    with transaction.atomic():
        _lock_assignment(link.assignment_id)
        if not _sis_taken(link, messages):
            _sis_record_refused(link, messages, batch=batch, claim=claim, now=now)
        else:
            _sis_record_done(link, batch=batch, claim=claim, now=now)
        assignment_link_state_refresh(assignment_id=link.assignment_id)


def _sis_record_refused(link: ObserverLink, messages: list[str], *, batch: SisBatch, claim: str, now: Any) -> None:
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
            link, Action.CANVAS_FAILED, outcome=Outcome.FAILED, details={"error": sentence, "sis_batch": batch.pk}
        )


def _sis_record_done(link: ObserverLink, *, batch: SisBatch, claim: str, now: Any) -> None:
    final = State.LINKED if link.desired == Desired.PRESENT else State.UNLINKED
    won = ObserverLink.objects.filter(pk=link.pk, claim=claim, generation=link.generation).update(
        **_done_fields(final, now)
    )
    if not won:
        _hand_over(link, claim)
        return
    action = Action.CANVAS_LINKED if final == State.LINKED else Action.CANVAS_UNLINKED
    _audit_link(link, action, details=_sis_done_details(link, batch))

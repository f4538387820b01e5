"""A confirmed CSV import, from the coordinator's click to every row created (or none).

Confirming is one service that locks the batch row and checks its state inside the lock, so any number of submits,
tabs or coordinators start the creation once; every later submit is told where the import stands. Creating stages
the rows in short transactions (each chunk with its audit events, hidden from every page by `staged_by`), then
shows them all in one quick switch, so a 10,000-row import never holds the database or the audit chain for the
whole file, and a failure part-way discards the staged rows: all or nothing (docs/decisions.md, "Big imports are
staged, then switched on at once").
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from canvas_client import CanvasError
from mentorship.accounts.models import User
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.celery import published

from . import csv_import
from .models import CsvImport, MentorAssignment
from .notifications import notify_coordinators_waiting
from .services import AssignmentError

State = CsvImport.State
# Rows per staging transaction: each holds the audit chain for about this many appends (1-2.5 ms each).
STAGE_CHUNK = 200
# SQLite has one write lock for the whole database, and a writer that finds it taken polls for it (sleeping up to
# 100 ms between tries): chunks there are smaller (each holds the lock ~0.2 s), and a pause between chunks lets the
# waiting writers in (a page saving its session, an approval); chunks committed back to back would starve them for
# the whole import. PostgreSQL locks rows and queues the chain head's waiters, so it needs neither.
SQLITE_STAGE_CHUNK = 50
SQLITE_STAGE_PAUSE = 0.12
QUEUED_GRACE = datetime.timedelta(minutes=10)
# Longer than the task's hard time limit (tasks.import_csv): a batch still "creating" after this lost its worker.
CREATING_GRACE = datetime.timedelta(minutes=35)


@dataclass
class Confirmed:
    """What a confirm did: `started` when this submit started the creation; `preview` when rows went bad."""

    batch: CsvImport
    started: bool
    message: str
    preview: csv_import.Preview | None = None


def already_message(batch: CsvImport) -> str:
    """The answer to a second submit, by where the import stands."""
    if batch.state == State.DONE:
        n = batch.created_count
        return (
            f"This import was already confirmed: its {n} proposal{' exists' if n == 1 else 's exist'}. "
            "Nothing was added."
        )
    if batch.state == State.FAILED:
        return "This import was already confirmed and nothing was created (see why below). Upload the file again."
    return "This import was already confirmed and its rows are being created. Nothing was added; this page follows it."


def import_confirm(*, batch_id: int, actor: User, request: HttpRequest | None = None) -> Confirmed:
    """Start creating a previewed batch, once. Small files are created here, big ones by a worker.

    The caller has checked the batch is the actor's. Never raises for a second submit: `started` is False.
    """
    with transaction.atomic():
        batch = CsvImport.objects.select_for_update().select_related("program").get(pk=batch_id)
        if batch.state != State.PREVIEWED:
            return Confirmed(batch=batch, started=False, message=already_message(batch))
        inline = batch.row_count <= csv_import.INLINE_MAX_ROWS
        batch.state = State.CREATING if inline else State.QUEUED
        batch.queued_at = timezone.now()
        batch.started_at = batch.queued_at if inline else None
        batch.save(update_fields=["state", "queued_at", "started_at"])
    if not inline:
        if import_enqueue(batch=batch):
            return Confirmed(batch=batch, started=True, message="")
        CsvImport.objects.filter(pk=batch.pk, state=State.QUEUED).update(state=State.PREVIEWED, queued_at=None)
        batch.state = State.PREVIEWED
        return Confirmed(
            batch=batch,
            started=False,
            message="The background workers cannot take the import right now (their queue is not answering). "
            "Nothing was created; confirm again in a minute.",
        )
    preview = import_create(batch=batch, request=request, inline=True)
    batch.refresh_from_db()
    return Confirmed(batch=batch, started=True, message=batch.problem, preview=preview)


def import_queued(*, batch_id: int) -> str:
    """A worker creates a confirmed big import. Safe to run twice: the claim is a locked state check.

    Returns the batch's final state ("done", "failed") or "skipped" when there was nothing to do.
    """
    with transaction.atomic():
        batch = CsvImport.objects.select_for_update().select_related("program", "uploaded_by").filter(pk=batch_id)
        claimed = batch.first()
        if claimed is None or claimed.state != State.QUEUED:
            return "skipped"
        claimed.state, claimed.started_at = State.CREATING, timezone.now()
        claimed.save(update_fields=["state", "started_at"])
    import_create(batch=claimed)
    return str(CsvImport.objects.values_list("state", flat=True).get(pk=batch_id))


def import_create(
    *, batch: CsvImport, request: HttpRequest | None = None, inline: bool = False
) -> csv_import.Preview | None:
    """Validate the claimed batch again, stage its rows, switch them on. Returns the preview when rows went bad.

    Inline (the confirming request), rows gone bad put the batch back to "previewed" so the page shows them; on a
    worker the batch fails with the first error named.
    """
    preview = csv_import.validate(program=batch.program, records=csv_import.read_csv(batch.content.encode()))
    if not preview.ok:
        if inline:
            CsvImport.objects.filter(pk=batch.pk, state=State.CREATING).update(state=State.PREVIEWED, started_at=None)
            return preview
        first = preview.error_rows[0]
        _discard(
            batch,
            f"Something changed since the preview: {len(preview.error_rows)} row(s) now have errors (line "
            f"{first.line}: {first.errors[0]}). Nothing was created; upload the file again to see them all.",
        )
        return None
    try:
        staged, people_added = _stage(batch=batch, preview=preview, request=request)
        _switch(batch=batch, rows=staged, people_added=people_added, request=request)
    except AssignmentError as exc:
        _discard(batch, f"{exc} Nothing was created.")
    except CanvasError as exc:
        _discard(batch, f"{exc.user_message} Nothing was created; confirm the file again once Canvas answers.")
    except DatabaseError:
        _discard(batch, "The database refused part of the import. Nothing was created; confirm the file again.")
        raise
    return None


def _stage(*, batch: CsvImport, preview: csv_import.Preview, request: HttpRequest | None) -> tuple[int, int]:
    """Add the new people, then insert the rows hidden, a chunk per transaction with their audit events."""
    actor = batch.uploaded_by
    pairs, added = csv_import.people_for_rows(preview=preview, actor=actor, request=request)
    source = f"upload:{batch.filename}"
    sqlite = connection.vendor == "sqlite"
    chunk = SQLITE_STAGE_CHUNK if sqlite else STAGE_CHUNK
    for start in range(0, len(pairs), chunk):
        with transaction.atomic():
            if not CsvImport.objects.select_for_update().filter(pk=batch.pk, state=State.CREATING).exists():
                raise AssignmentError("The import was stopped while its rows were being created.")
            csv_import.create_in_bulk(
                pairs[start : start + chunk], batch.program, actor, request, source, staged_by=batch
            )
        if sqlite and start + chunk < len(pairs):
            time.sleep(SQLITE_STAGE_PAUSE)
    return len(pairs), len(added)


def _switch(*, batch: CsvImport, rows: int, people_added: int, request: HttpRequest | None) -> None:
    """One short transaction: every staged row becomes a proposal, the batch is done, the import is audited."""
    with transaction.atomic():
        locked = CsvImport.objects.select_for_update().filter(pk=batch.pk, state=State.CREATING).first()
        if locked is None:
            raise AssignmentError("The import was stopped while its rows were being created.")
        shown = MentorAssignment.with_staged.filter(staged_by=batch).update(staged_by=None)
        now = timezone.now()
        CsvImport.objects.filter(pk=batch.pk).update(
            state=State.DONE, confirmed_at=now, finished_at=now, created_count=shown, people_added=people_added
        )
        audit_record(
            action=Action.ASSIGNMENTS_IMPORTED,
            actor=batch.uploaded_by,
            program=batch.program,
            request=request,
            details={"rows": shown, "people_added": people_added, "approved": 0, "source": f"upload:{batch.filename}"},
        )
        if shown and batch.program.requires_second_approver:
            transaction.on_commit(lambda: _notify_imported(batch, shown))


def _notify_imported(batch: CsvImport, shown: int) -> None:
    """The imported proposals wait for a second coordinator: one mail for the file, not one per row."""
    program = batch.program
    notify_coordinators_waiting(
        program=program,
        subject=f"Waiting for your approval: {shown} imported proposals in {program.name}",
        what=f"{shown} proposals were imported from {batch.filename or 'a CSV file'} into {program.name}; the "
        "program needs a second coordinator to approve them.",
        path=f"{reverse('assignments:list')}?status=proposed&program={program.pk}",
        exclude_user_id=batch.uploaded_by_id,
    )


def _discard(batch: CsvImport, problem: str) -> None:
    """Nothing created: staged rows are deleted (their proposed events stay in the log, with this one saying so)."""
    with transaction.atomic():
        discarded, _ = MentorAssignment.with_staged.filter(staged_by=batch).delete()
        CsvImport.objects.filter(pk=batch.pk).update(state=State.FAILED, problem=problem, finished_at=timezone.now())
        audit_record(
            action=Action.ASSIGNMENTS_IMPORTED,
            actor=batch.uploaded_by,
            program=batch.program,
            outcome=Outcome.FAILED,
            details={"rows": 0, "discarded_staged_rows": discarded, "problem": problem, "batch": batch.pk},
        )


def import_enqueue(*, batch: CsvImport) -> bool:
    """Publish the worker's job for a queued batch; False when the broker cannot take it now."""
    return published("assignments.import_csv", batch.pk)


def imports_requeue(*, now: datetime.datetime | None = None) -> int:
    """Beat: publish again the batches still queued after QUEUED_GRACE (the first message was lost), and queue again
    those whose worker died while creating (their staged rows are discarded first)."""
    now = now or timezone.now()
    for stale in CsvImport.objects.filter(state=State.CREATING, started_at__lt=now - CREATING_GRACE):
        with transaction.atomic():
            MentorAssignment.with_staged.filter(staged_by=stale).delete()
            CsvImport.objects.filter(pk=stale.pk, state=State.CREATING).update(state=State.QUEUED, queued_at=None)
    sent = 0
    waiting = CsvImport.objects.filter(state=State.QUEUED).exclude(queued_at__gte=now - QUEUED_GRACE)
    for batch in waiting:
        if import_enqueue(batch=batch):
            sent += 1
    return sent

"""Bulk approval: many proposals approved in one transaction, every link planned in it and published once.

docs/decisions.md, "Bulk approve: one transaction, one publish". Approving row by row published one link at a
time, so the SIS import (chosen above SIS_BULK_THRESHOLD links handed over at once) was never used, and every row
asked Canvas about its mentor again. Here Canvas is asked first, once per person of the batch and before any lock;
then one transaction locks the mentors and the rows, checks each row's state, rules and warnings under the lock,
approves, audits and plans its links; after commit all the links are handed to sync in one call.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.audit.actions import Action, Outcome
from mentorship.celery import published
from mentorship.people.models import Person

from ..hooks import canvas_links
from ..models import BulkApproval, MentorAssignment
from ..notifications import notify_assignments_approved
from .errors import AlreadyDecided, ApprovalWarning, Status, audit_assignment
from .rules import StudentChecks, approval_refusal, approval_warnings

logger = logging.getLogger(__name__)


@dataclass
class BulkRow:
    assignment_id: int
    label: str
    ok: bool
    message: str


@dataclass
class BulkApproveResult:
    rows: list[BulkRow] = field(default_factory=list)
    links: int = 0

    @property
    def approved(self) -> list[BulkRow]:
        return [r for r in self.rows if r.ok]

    @property
    def skipped(self) -> list[BulkRow]:
        return [r for r in self.rows if not r.ok]


def _label(assignment: MentorAssignment) -> str:
    return f"{assignment.mentor.name} → {assignment.student.name}"


def bulk_warnings(*, assignment_ids: Sequence[int], client: Any = None) -> dict[int, list[ApprovalWarning]]:
    """The approval warnings of every proposal among the ids, Canvas asked once per person (before any lock)."""
    checks = StudentChecks(client=client)
    rows = list(
        MentorAssignment.objects.filter(pk__in=list(assignment_ids), status=Status.PROPOSED)
        .select_related("mentor", "student")
        .prefetch_related("courses")
        .order_by("pk")
    )
    checks.prefetch(a.mentor for a in rows)
    # A mentor who studies: their all-courses rows compare with the student's courses, so those students too.
    checks.prefetch(
        a.student for a in rows if a.scope != MentorAssignment.Scope.COURSES and checks.check(a.mentor)[1].is_student
    )
    return {a.pk: approval_warnings(assignment=a, checks=checks) for a in rows}


def bulk_checks_needed(*, assignment_ids: Sequence[int]) -> int:
    """How many of these rows' mentors Canvas would be asked about (no fresh answer on their Person row)."""
    from mentorship.people.services import STUDENT_STATUS_MAX_AGE

    fresh = timezone.now() - STUDENT_STATUS_MAX_AGE
    mentors = MentorAssignment.objects.filter(pk__in=list(assignment_ids), status=Status.PROPOSED).values("mentor_id")
    return (
        Person.objects.filter(pk__in=mentors)
        .exclude(student_checked_at__gte=fresh, is_canvas_student__isnull=False)
        .count()
    )


def assignments_bulk_approve(
    *,
    assignment_ids: Iterable[int],
    actor: User,
    note: str = "",
    acknowledged: Iterable[str] = (),
    request: HttpRequest | None = None,
    client: Any = None,
) -> BulkApproveResult:
    """Approve every proposal among the ids that the rules allow and whose warnings were confirmed; one line per row.

    Rows already decided (a double submit, another coordinator) are skipped with "already approved: ... decided it
    first", and nothing changes twice. Canvas is asked before the transaction opens: no network wait under locks.
    """
    ids = sorted(set(assignment_ids))
    warnings = bulk_warnings(assignment_ids=ids, client=client)
    with transaction.atomic():
        return approve_locked(
            assignment_ids=ids, warnings=warnings, actor=actor, note=note, acknowledged=acknowledged, request=request
        )


def approve_locked(
    *,
    assignment_ids: Sequence[int],
    warnings: dict[int, list[ApprovalWarning]],
    actor: User,
    note: str,
    acknowledged: Iterable[str],
    request: HttpRequest | None,
) -> BulkApproveResult:
    """The transaction's body (call inside transaction.atomic): lock, check, approve, audit, plan; publish on commit.

    Locks in the order single approvals take them (the mentor's Person row, then the assignment), so a bulk approval
    and a single one never wait on each other in a cycle. Under the mentors' locks their approved assignments are
    read once and the rules are counted against them, growing as rows are approved (capacity within the batch).
    """
    ids = sorted(set(assignment_ids))
    mentor_ids = sorted(set(MentorAssignment.objects.filter(pk__in=ids).values_list("mentor_id", flat=True)))
    list(Person.objects.select_for_update().filter(pk__in=mentor_ids).order_by("pk").values_list("pk", flat=True))
    locked = {
        a.pk: a
        for a in MentorAssignment.objects.select_for_update(of=("self",))
        .select_related("program", "mentor", "student", "decided_by", "ended_by")
        .prefetch_related("courses")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    held: dict[int, list[MentorAssignment]] = {pk: [] for pk in mentor_ids}
    for other in MentorAssignment.objects.filter(mentor_id__in=mentor_ids, status=Status.APPROVED).only(
        "pk", "program_id", "mentor_id", "student_id", "starts_on", "ends_on", "status"
    ):
        held[other.mentor_id].append(other)
    confirmed = set(acknowledged)
    result = BulkApproveResult()
    approved: list[MentorAssignment] = []
    for pk in ids:
        assignment = locked.get(pk)
        if assignment is None:
            result.rows.append(BulkRow(pk, f"Assignment {pk}", False, "not changed: it no longer exists."))
            continue
        row = _check_row(assignment, actor, warnings.get(pk), confirmed, request, held[assignment.mentor_id])
        if row is None:
            row = BulkRow(pk, _label(assignment), True, "approved.")
            _approve(assignment, actor, note, warnings[pk], request)
            held[assignment.mentor_id].append(assignment)
            approved.append(assignment)
        result.rows.append(row)
    _save_approved(approved, actor, note)
    links = list(canvas_links().plan_many(assignments=[a for a in approved if a.is_active]))
    result.links = len(links)
    # One hand-over for the whole batch: above SIS_BULK_THRESHOLD eligible links, sync sends one SIS import.
    transaction.on_commit(lambda: canvas_links().enqueue(links=links))
    approved_ids = [a.pk for a in approved]
    transaction.on_commit(lambda: notify_assignments_approved(assignment_ids=approved_ids))
    return result


def _check_row(
    assignment: MentorAssignment,
    actor: User,
    warnings: list[ApprovalWarning] | None,
    confirmed: set[str],
    request: HttpRequest | None,
    held: list[MentorAssignment],
) -> BulkRow | None:
    """Why this locked row is not approved (a line for the summary), or None when it may be."""
    label = _label(assignment)
    if assignment.status != Status.PROPOSED:
        return BulkRow(assignment.pk, label, False, f"not changed. {AlreadyDecided(assignment)}")
    refusal = approval_refusal(assignment=assignment, actor=actor, approved=held)
    if refusal:
        audit_approval(assignment, actor=actor, request=request, refused=refusal, bulk=True)
        return BulkRow(assignment.pk, label, False, f"not changed. {refusal}")
    if warnings is None:  # proposed now but not when Canvas was asked: it cannot be, but never approve unchecked
        return BulkRow(assignment.pk, label, False, "not changed: it changed while the checks ran. Try again.")
    unconfirmed = [w for w in warnings if w.needs_confirmation and w.code not in confirmed]
    if unconfirmed:
        return BulkRow(
            assignment.pk,
            label,
            False,
            "not changed: please confirm first. " + " ".join(w.message for w in unconfirmed),
        )
    return None


def _approve(
    assignment: MentorAssignment,
    actor: User,
    note: str,
    warnings: list[ApprovalWarning],
    request: HttpRequest | None,
) -> None:
    """The row approved in memory and audited; `_save_approved` writes the rows together."""
    now = timezone.now()
    assignment.status = Status.APPROVED
    assignment.decided_by, assignment.decided_at, assignment.updated_at = actor, now, now
    assignment.decision_note = note
    assignment.warnings_acknowledged = [{"code": w.code, "message": w.message} for w in warnings]
    assignment.generation += 1  # the row is locked: no one else can bump it meanwhile
    audit_approval(assignment, actor=actor, request=request, note=note, warnings=warnings, bulk=True)


def _save_approved(approved: list[MentorAssignment], actor: User, note: str) -> None:
    """One UPDATE per set of confirmed warnings (most rows share none); the rows are locked and were proposed
    under the lock, and each one's generation was bumped by one in memory as here."""
    groups: dict[str, list[MentorAssignment]] = {}
    for assignment in approved:
        groups.setdefault(json.dumps(assignment.warnings_acknowledged, sort_keys=True), []).append(assignment)
    now = timezone.now()
    for rows in groups.values():
        for start in range(0, len(rows), 2000):
            chunk = rows[start : start + 2000]
            MentorAssignment.objects.filter(pk__in=[a.pk for a in chunk], status=Status.PROPOSED).update(
                status=Status.APPROVED,
                decided_by=actor,
                decided_at=now,
                decision_note=note,
                warnings_acknowledged=chunk[0].warnings_acknowledged,
                generation=F("generation") + 1,
                updated_at=now,
            )


def audit_approval(
    assignment: MentorAssignment,
    *,
    actor: User,
    request: HttpRequest | None,
    program: Any = None,
    note: str = "",
    warnings: Sequence[ApprovalWarning] = (),
    refused: str = "",
    bulk: bool = False,
) -> None:
    """The assignment.approved event of one row, approved (with the warnings confirmed) or refused (the reason)."""
    details: dict[str, Any]
    if refused:
        outcome, details = Outcome.REFUSED, {"reason": refused}
    else:
        outcome = Outcome.WARNING if warnings else Outcome.OK
        details = {
            "note": note,
            "generation": assignment.generation,
            "warnings_acknowledged": [w.code for w in warnings],
            "warnings": [w.message for w in warnings],
        }
    audit_assignment(
        assignment,
        action=Action.ASSIGNMENT_APPROVED,
        actor=actor,
        program=program or assignment.program,
        request=request,
        outcome=outcome,
        details=details | ({"bulk": True} if bulk else {}),
    )


# --- in the background ---------------------------------------------------------------------------------------


def bulk_approval_run(*, job_id: int, client: Any = None) -> str:
    """A worker runs a queued bulk approval. Safe to run twice: the job row is locked in the approval's own
    transaction and marked done in it, so a second delivery waits, then finds it done. Returns the final state or
    "skipped"."""
    job = BulkApproval.objects.select_related("requested_by").filter(pk=job_id).first()
    if job is None or job.state != BulkApproval.State.QUEUED:
        return "skipped"
    if job.started_at is None:
        BulkApproval.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=timezone.now())
    try:
        return _run(job, client)
    except Exception:
        # Nothing was approved (the transaction rolled back); say so rather than leave the page waiting for ever.
        logger.exception("bulk approval %s failed", job_id)
        BulkApproval.objects.filter(pk=job_id, state=BulkApproval.State.QUEUED).update(
            state=BulkApproval.State.FAILED,
            problem="The approval stopped on an unexpected error; nothing was approved. Try again, or ask an "
            "administrator to look at the worker's log.",
            finished_at=timezone.now(),
        )
        return str(BulkApproval.State.FAILED)


def _run(job: BulkApproval, client: Any) -> str:
    from mentorship.core.canvas import portal_client

    job_id = job.pk
    # A worker can wait: the portal's usual client (retries, throttling handled), not the request's quick look-up.
    own = client is None
    client = client or portal_client()
    try:
        warnings = bulk_warnings(assignment_ids=job.assignment_ids, client=client)
    finally:
        if own:
            client.close()
    with transaction.atomic():
        locked = BulkApproval.objects.select_for_update().filter(pk=job_id, state=BulkApproval.State.QUEUED).first()
        if locked is None:
            return "skipped"
        # The coordinator may have lost a program's role since they asked: its rows are not theirs to approve now.
        allowed = set(
            MentorAssignment.objects.filter(
                pk__in=job.assignment_ids,
                program__roles__user=job.requested_by,
                program__roles__role=ProgramRole.Role.COORDINATOR,
            ).values_list("pk", flat=True)
        )
        result = approve_locked(
            assignment_ids=sorted(allowed),
            warnings=warnings,
            actor=job.requested_by,
            note=job.note,
            acknowledged=job.acknowledged,
            request=None,
        )
        result.rows.extend(
            BulkRow(pk, f"Assignment {pk}", False, "not changed: you no longer coordinate its program.")
            for pk in sorted(set(job.assignment_ids) - allowed)
        )
        BulkApproval.objects.filter(pk=job_id).update(
            state=BulkApproval.State.DONE,
            approved_count=len(result.approved),
            links_count=result.links,
            skipped=[{"id": r.assignment_id, "label": r.label, "reason": r.message} for r in result.skipped],
            finished_at=timezone.now(),
        )
    return str(BulkApproval.State.DONE)


QUEUED_GRACE = datetime.timedelta(minutes=10)


def bulk_approval_enqueue(*, job: BulkApproval) -> bool:
    """Publish the worker's job; False when the broker cannot take it now."""
    return published("assignments.bulk_approve", job.pk)


def bulk_approvals_requeue(*, now: datetime.datetime | None = None) -> int:
    """Beat: publish again the jobs still queued after QUEUED_GRACE (the first message was lost, a worker died)."""
    cutoff = (now or timezone.now()) - QUEUED_GRACE
    return sum(
        1
        for job in BulkApproval.objects.filter(state=BulkApproval.State.QUEUED, created_at__lt=cutoff)
        if bulk_approval_enqueue(job=job)
    )

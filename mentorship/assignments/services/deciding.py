"""Deciding: approve (links planned when active), reject, cancel, end (links retired), many at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from mentorship.accounts.models import User
from mentorship.audit.actions import Action, Outcome
from mentorship.people.models import Person

from ..hooks import canvas_links
from ..models import MentorAssignment
from ..notifications import notify_assignment_approved, notify_mentor_ended
from .bulk import assignments_bulk_approve, audit_approval
from .errors import (
    AlreadyDecided,
    ApprovalWarning,
    AssignmentError,
    NeedsConfirmation,
    Status,
    audit_assignment,
)
from .rules import approval_refusal, approval_warnings, approved_rule_errors


def _refuse(assignment: MentorAssignment, actor: User, action: str, message: str, request: HttpRequest | None) -> None:
    """Record a refused decision (separate transaction: the refusal itself must stay on record) and raise."""
    with transaction.atomic():
        audit_assignment(
            assignment,
            action=action,
            actor=actor,
            outcome=Outcome.REFUSED,
            request=request,
            details={"reason": message},
        )
    raise AssignmentError(message)


def assignment_approve(
    *,
    assignment: MentorAssignment,
    actor: User,
    note: str = "",
    acknowledged: Iterable[str] | None = None,
    request: HttpRequest | None = None,
    client: Any = None,
) -> MentorAssignment:
    """Approve a proposal (compare-and-set on `proposed`) and, if it is active today, plan its Canvas links.

    `acknowledged` lists the warning codes the approver confirmed. Raises NeedsConfirmation when a warning is not
    confirmed yet, AlreadyDecided when another coordinator decided first, AssignmentError when a rule refuses.
    """
    if assignment.status != Status.PROPOSED:
        raise AlreadyDecided(assignment, actor=actor)
    _refuse_unless_approvable(assignment=assignment, actor=actor, request=request)
    # Canvas is asked before the transaction opens: no network wait while holding row locks.
    warnings = approval_warnings(assignment=assignment, client=client)
    confirmed = set(acknowledged or ())
    unconfirmed = [w for w in warnings if w.needs_confirmation and w.code not in confirmed]
    if unconfirmed:
        raise NeedsConfirmation(warnings)
    return _approve_in_transaction(assignment=assignment, actor=actor, note=note, warnings=warnings, request=request)


def _refuse_unless_approvable(*, assignment: MentorAssignment, actor: User, request: HttpRequest | None) -> None:
    """The refusals an approver gets before Canvas is asked: second coordinator, rules, an end date in the past."""
    refusal = approval_refusal(assignment=assignment, actor=actor)
    if refusal:
        _refuse(assignment, actor, Action.ASSIGNMENT_APPROVED, refusal, request)


def _approve_in_transaction(
    *,
    assignment: MentorAssignment,
    actor: User,
    note: str,
    warnings: list[ApprovalWarning],
    request: HttpRequest | None,
) -> MentorAssignment:
    program = assignment.program  # read before refresh_from_db() below drops the cached relation
    links: list[Any] = []
    with transaction.atomic():
        # Capacity and duplicates again under the mentor's lock: two approvals for one mentor must not both pass.
        Person.objects.select_for_update().filter(pk=assignment.mentor_id).first()
        _lock_in_status(assignment, Status.PROPOSED, actor)
        errors = approved_rule_errors(assignment)
        if errors:
            raise AssignmentError(" ".join(errors))
        now = timezone.now()
        won = MentorAssignment.objects.filter(pk=assignment.pk, status=Status.PROPOSED).update(
            status=Status.APPROVED,
            decided_by=actor,
            decided_at=now,
            decision_note=note,
            warnings_acknowledged=[{"code": w.code, "message": w.message} for w in warnings],
            generation=F("generation") + 1,
            updated_at=now,
        )
        assignment.refresh_from_db()
        if not won:  # pragma: no cover - the row is locked in `proposed` above
            raise AlreadyDecided(assignment, actor=actor)
        audit_approval(assignment, actor=actor, program=program, request=request, note=note, warnings=warnings)
        if assignment.is_active:
            links = list(canvas_links().plan(assignment=assignment))
        transaction.on_commit(lambda: canvas_links().enqueue(links=links))
        transaction.on_commit(lambda: _notify_approved(assignment.pk))
    return assignment


def _lock_in_status(assignment: MentorAssignment, status: str, actor: User | None) -> None:
    """Lock the assignment's row and check its status under the lock (a double submit, a second tab, a colleague):
    raises AlreadyDecided, naming who decided, when it is no longer `status`. The compare-and-set that follows then
    always wins; it stays as the guard the architecture describes ("Rules of an assignment")."""
    current = MentorAssignment.objects.select_for_update().filter(pk=assignment.pk).first()
    if current is None or current.status != status:
        assignment.refresh_from_db()
        raise AlreadyDecided(assignment, actor=actor)


def _notify_approved(assignment_id: int) -> None:
    notify_assignment_approved(assignment_id=assignment_id)


def _decide(
    *,
    assignment: MentorAssignment,
    actor: User,
    to_status: str,
    action: str,
    reason: str,
    request: HttpRequest | None,
) -> MentorAssignment:
    with transaction.atomic():
        _lock_in_status(assignment, Status.PROPOSED, actor)
        now = timezone.now()
        won = MentorAssignment.objects.filter(pk=assignment.pk, status=Status.PROPOSED).update(
            status=to_status, decided_by=actor, decided_at=now, decision_note=reason, updated_at=now
        )
        assignment.refresh_from_db()
        if not won:  # pragma: no cover - the row is locked in `proposed` above
            raise AlreadyDecided(assignment, actor=actor)
        audit_assignment(assignment, action=action, actor=actor, request=request, details={"reason": reason})
    return assignment


def assignment_reject(
    *, assignment: MentorAssignment, actor: User, reason: str, request: HttpRequest | None = None
) -> MentorAssignment:
    """Reject a proposal; a reason is required. Raises AssignmentError / AlreadyDecided."""
    if not reason or not reason.strip():
        raise AssignmentError("Say why the assignment is rejected: the reason is required.")
    return _decide(
        assignment=assignment,
        actor=actor,
        to_status=Status.REJECTED,
        action=Action.ASSIGNMENT_REJECTED,
        reason=reason.strip(),
        request=request,
    )


def assignment_cancel(
    *, assignment: MentorAssignment, actor: User, reason: str = "", request: HttpRequest | None = None
) -> MentorAssignment:
    """Withdraw a proposal before anyone decided it. Raises AlreadyDecided."""
    return _decide(
        assignment=assignment,
        actor=actor,
        to_status=Status.CANCELLED,
        action=Action.ASSIGNMENT_CANCELLED,
        reason=(reason or "").strip(),
        request=request,
    )


def assignment_end(
    *,
    assignment: MentorAssignment,
    actor: User | None = None,
    system_actor: str = "",
    reason: str,
    request: HttpRequest | None = None,
) -> MentorAssignment:
    """End an approved assignment (early, or because its end date passed) and take its links out of Canvas.

    Raises AssignmentError without a reason, AlreadyDecided when it is not approved (any more).
    """
    if not reason or not reason.strip():
        raise AssignmentError("Say why the assignment ends early: the reason is required.")
    if actor is None and not system_actor:
        raise ValueError("assignment_end needs an actor or a system_actor")
    with transaction.atomic():
        _lock_in_status(assignment, Status.APPROVED, actor)
        now = timezone.now()
        won = MentorAssignment.objects.filter(pk=assignment.pk, status=Status.APPROVED).update(
            status=Status.ENDED,
            ended_at=now,
            ended_by=actor,
            end_reason=reason.strip(),
            generation=F("generation") + 1,
            updated_at=now,
        )
        assignment.refresh_from_db()
        if not won:  # pragma: no cover - the row is locked in `approved` above
            raise AlreadyDecided(assignment, actor=actor)
        links = canvas_links().retire(assignment=assignment)
        audit_assignment(
            assignment,
            action=Action.ASSIGNMENT_ENDED,
            actor=actor,
            system_actor=system_actor,
            request=request,
            details={"reason": assignment.end_reason, "generation": assignment.generation, "links": len(links)},
        )
        transaction.on_commit(lambda: canvas_links().enqueue(links=links))
        transaction.on_commit(lambda: notify_mentor_ended(assignment_id=assignment.pk))
    return assignment


@dataclass
class BulkResult:
    assignment: MentorAssignment
    ok: bool
    message: str


class DecisionContext(TypedDict, total=False):
    """What a bulk decision passes through to the approval: the warnings confirmed, the request, a Canvas client."""

    acknowledged: Iterable[str] | None
    request: HttpRequest | None
    client: Any


def assignments_bulk_decide(
    *,
    assignments: Iterable[MentorAssignment],
    decision: str,
    actor: User,
    reason: str = "",
    **context: Unpack[DecisionContext],
) -> list[BulkResult]:
    """Approve or reject many, one line per row in the summary. Approval is one transaction for all the rows
    (assignments_bulk_approve); each rejection is its own."""
    if decision == "reject" and not reason.strip():
        raise AssignmentError("Say why the assignments are rejected: the reason is required.")
    assignments = list(assignments)
    if decision == "approve":
        by_id = {a.pk: a for a in assignments}
        outcome = assignments_bulk_approve(
            assignment_ids=list(by_id),
            actor=actor,
            note=reason,
            acknowledged=context.get("acknowledged") or (),
            request=context.get("request"),
            client=context.get("client"),
        )
        return [BulkResult(by_id[r.assignment_id], r.ok, f"{r.label}: {r.message}") for r in outcome.rows]
    if decision != "reject":
        raise AssignmentError(f"Unknown decision {decision!r}.")
    results = []
    for assignment in assignments:
        label = f"{assignment.mentor.name} → {assignment.student.name}"
        try:
            assignment_reject(assignment=assignment, actor=actor, reason=reason, request=context.get("request"))
            results.append(BulkResult(assignment, True, f"{label}: rejected."))
        except AssignmentError as exc:
            results.append(BulkResult(assignment, False, f"{label}: not changed. {exc}"))
    return results

"""Every write to programs and assignments. Each service is one transaction and writes its audit event.

Decisions are compare-and-set on the status (docs/architecture.md, "Rules of an assignment"): of two coordinators
deciding the same assignment at once exactly one update matches a row; the other gets AlreadyDecided naming who
decided, and nothing changes twice. Services that change what Canvas should hold bump `generation`, plan or retire
the links inside the transaction and publish them after commit."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from mentorship.accounts.models import User
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.people.models import Person

from .hooks import canvas_links
from .models import AssignmentCourse, LinkMethod, MentorAssignment, Program

Status = MentorAssignment.Status
SYSTEM_BEAT = "system:beat"
# Statuses that hold (or will hold) a place: a new proposal overlapping one of these for the same pair is a duplicate.
LIVE_STATUSES = (Status.PROPOSED, Status.APPROVED)


class AssignmentError(Exception):
    """A rule refused the change; the message is a sentence for the coordinator."""


class AlreadyDecided(AssignmentError):
    """Someone else changed the assignment first (compare-and-set lost)."""

    def __init__(self, assignment: MentorAssignment) -> None:
        at: datetime.datetime | None
        if assignment.status == Status.ENDED and assignment.ended_at:
            who_user, at = assignment.ended_by, assignment.ended_at
        else:
            who_user, at = assignment.decided_by, assignment.decided_at
        who = _person_name(who_user) if who_user else "someone else"
        when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else ""
        super().__init__(
            f"This assignment is already {assignment.get_status_display().lower()}: {who} decided it first"
            + (f" at {when}." if when else ".")
            + " Nothing was changed."
        )
        self.assignment = assignment


@dataclass(frozen=True)
class ApprovalWarning:
    """Something the approver must see and confirm (code is recorded in warnings_acknowledged)."""

    code: str
    message: str
    needs_confirmation: bool = True


class NeedsConfirmation(AssignmentError):
    """The approval raises warnings the approver has not confirmed yet."""

    def __init__(self, warnings: Sequence[ApprovalWarning]) -> None:
        self.warnings = list(warnings)
        super().__init__("Please confirm: " + " ".join(w.message for w in warnings if w.needs_confirmation))


def _person_name(user: Any) -> str:
    return user.get_full_name() or user.get_username()


# --- the rules (docs/architecture.md, "Rules of an assignment") -------------------------------------------------------


def rule_errors(
    *,
    program: Program,
    mentor: Person | None,
    student: Person | None,
    starts_on: datetime.date | None,
    ends_on: datetime.date | None,
    exclude_pk: int | None = None,
    statuses: Sequence[str] = LIVE_STATUSES,
) -> list[str]:
    """Sentences for every hard rule the (proposed) assignment breaks. Empty means it may go ahead.

    `statuses` are the statuses that count as a clash: proposals clash with proposed and approved assignments,
    approvals only with approved ones.
    """
    errors: list[str] = []
    if not program.is_active:
        errors.append(f"{program.name} is closed: an administrator must reopen it before assignments change.")
    if mentor is None or not mentor.canvas_user_id:
        errors.append("The mentor is not a known Canvas user.")
    if student is None or not student.canvas_user_id:
        errors.append("The student is not a known Canvas user.")
    if mentor is not None and student is not None and mentor.pk == student.pk:
        errors.append("A mentor cannot be assigned to themself: the mentor and the student are the same person.")
    if starts_on is None or ends_on is None:
        errors.append("Both a start date and an end date are needed.")
    elif ends_on < starts_on:
        errors.append("The end date is before the start date.")
    elif (ends_on - starts_on).days + 1 > program.max_assignment_days:
        errors.append(
            f"The assignment lasts {(ends_on - starts_on).days + 1} days; "
            f"{program.name} allows at most {program.max_assignment_days}."
        )
    if errors or mentor is None or student is None or starts_on is None or ends_on is None:
        return errors
    overlapping = MentorAssignment.objects.filter(
        program=program, status__in=statuses, starts_on__lte=ends_on, ends_on__gte=starts_on
    )
    if exclude_pk:
        overlapping = overlapping.exclude(pk=exclude_pk)
    clash = overlapping.filter(mentor=mentor, student=student).order_by("pk").first()
    if clash:
        errors.append(
            f"{mentor.name} already has an assignment ({clash.get_status_display().lower()}) to {student.name} "
            f"from {clash.starts_on:%Y-%m-%d} to {clash.ends_on:%Y-%m-%d} (number {clash.pk})."
        )
    load = overlapping.filter(mentor=mentor, status=Status.APPROVED).count()
    if load >= program.mentor_capacity:
        errors.append(
            f"{mentor.name} already has {load} approved assignments at that time; "
            f"{program.name} allows {program.mentor_capacity} per mentor."
        )
    return errors


def approval_warnings(*, assignment: MentorAssignment, client: Any = None) -> list[ApprovalWarning]:
    """Warnings shown before approval: a student linked to another student, a mentor who studies in a course in
    scope. Canvas is asked (briefly, cached on the Person); when it cannot be reached that is a warning too."""
    from mentorship.people.services import person_student_status

    mentor, student = assignment.mentor, assignment.student
    mentor_is_student = person_student_status(person=mentor, client=client)
    if mentor_is_student is None:
        return [
            ApprovalWarning(
                "canvas_unreachable",
                "Canvas could not be reached to check whether the mentor is also a student; "
                "the approval goes ahead without that check.",
                needs_confirmation=False,
            )
        ]
    warnings: list[ApprovalWarning] = []
    if not mentor_is_student:
        return warnings
    warnings.append(
        ApprovalWarning(
            "student_to_student",
            f"{mentor.name} is a student in Canvas: this links a student to another student's work.",
        )
    )
    if assignment.scope == MentorAssignment.Scope.COURSES:
        scope_ids = set(assignment.courses.values_list("canvas_course_id", flat=True))
    else:
        person_student_status(person=student, client=client)
        scope_ids = set(student.canvas_student_course_ids or [])
    shared = scope_ids & set(mentor.canvas_student_course_ids or [])
    if shared:
        warnings.append(
            ApprovalWarning(
                "mentor_student_in_scope",
                f"{mentor.name} is a student in {len(shared)} of the courses in scope, "
                "so they would observe classmates' course work.",
            )
        )
    return warnings


# --- proposing -------------------------------------------------------------------------------------------------


def assignment_propose(
    *,
    program: Program,
    mentor: Person,
    student: Person,
    starts_on: datetime.date,
    ends_on: datetime.date,
    reason: str,
    actor: User,
    link_method: str | None = None,
    courses: Iterable[AssignmentCourse] = (),
    request: HttpRequest | None = None,
    audit_details: dict[str, Any] | None = None,
) -> MentorAssignment:
    """Record a proposal. Raises AssignmentError (one sentence per broken rule) when a rule refuses it."""
    if not reason or not reason.strip():
        raise AssignmentError("A reason is required: say why this mentor needs to see this student's work.")
    method = link_method or program.default_link_method
    if method not in LinkMethod.values:
        raise AssignmentError(f"{method!r} is not a link method; use observee, courses or pairing_code.")
    course_list = list(courses)
    if method == LinkMethod.COURSES and not course_list:
        raise AssignmentError("The 'courses' link method needs at least one course in scope.")
    with transaction.atomic():
        # Lock the mentor row so two proposals for the same mentor cannot both pass the duplicate check.
        Person.objects.select_for_update().filter(pk=mentor.pk).first()
        errors = rule_errors(program=program, mentor=mentor, student=student, starts_on=starts_on, ends_on=ends_on)
        if errors:
            raise AssignmentError(" ".join(errors))
        assignment = MentorAssignment.objects.create(
            program=program,
            mentor=mentor,
            student=student,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason.strip(),
            link_method=method,
            scope=MentorAssignment.Scope.COURSES if course_list else MentorAssignment.Scope.ALL_COURSES,
            proposed_by=actor,
        )
        for course in course_list:
            course.pk = None
            course.assignment = assignment
        AssignmentCourse.objects.bulk_create(course_list)
        audit_record(
            action=Action.ASSIGNMENT_PROPOSED,
            actor=actor,
            program=program,
            student=student,
            obj=assignment,
            request=request,
            details={
                "mentor": mentor.canvas_user_id,
                "student": student.canvas_user_id,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
                "method": assignment.link_method,
                "courses": [c.canvas_course_id for c in course_list],
                "reason": assignment.reason,
                **(audit_details or {}),
            },
        )
    return assignment


# --- deciding --------------------------------------------------------------------------------------------------


def _refuse(assignment: MentorAssignment, actor: User, action: str, message: str, request: HttpRequest | None) -> None:
    """Record a refused decision (separate transaction: the refusal itself must stay on record) and raise."""
    with transaction.atomic():
        audit_record(
            action=action,
            actor=actor,
            program=assignment.program,
            student=assignment.student,
            obj=assignment,
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
    program = assignment.program
    if assignment.status != Status.PROPOSED:
        raise AlreadyDecided(assignment)
    if program.requires_second_approver and assignment.proposed_by_id == actor.pk:
        _refuse(
            assignment,
            actor,
            Action.ASSIGNMENT_APPROVED,
            "This program needs a second coordinator: you proposed this assignment, so someone else must approve it.",
            request,
        )

    def approved_rule_errors() -> list[str]:
        return rule_errors(
            program=program,
            mentor=assignment.mentor,
            student=assignment.student,
            starts_on=assignment.starts_on,
            ends_on=assignment.ends_on,
            exclude_pk=assignment.pk,
            statuses=(Status.APPROVED,),
        )

    errors = approved_rule_errors()
    if assignment.ends_on < timezone.localdate():
        errors.append("The end date has already passed; propose new dates instead.")
    if errors:
        _refuse(assignment, actor, Action.ASSIGNMENT_APPROVED, " ".join(errors), request)
    # Canvas is asked before the transaction opens: no network wait while holding row locks.
    warnings = approval_warnings(assignment=assignment, client=client)
    confirmed = set(acknowledged or ())
    unconfirmed = [w for w in warnings if w.needs_confirmation and w.code not in confirmed]
    if unconfirmed:
        raise NeedsConfirmation(warnings)
    links: list[Any] = []
    with transaction.atomic():
        # Capacity and duplicates again under the mentor's lock: two approvals for one mentor must not both pass.
        Person.objects.select_for_update().filter(pk=assignment.mentor_id).first()
        errors = approved_rule_errors()
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
        if not won:
            raise AlreadyDecided(assignment)
        audit_record(
            action=Action.ASSIGNMENT_APPROVED,
            actor=actor,
            program=program,
            student=assignment.student,
            obj=assignment,
            request=request,
            outcome=Outcome.WARNING if warnings else Outcome.OK,
            details={
                "note": note,
                "generation": assignment.generation,
                "warnings_acknowledged": [w.code for w in warnings],
                "warnings": [w.message for w in warnings],
            },
        )
        if assignment.is_active:
            links = list(canvas_links().plan(assignment=assignment))
        transaction.on_commit(lambda: canvas_links().enqueue(links=links))
        transaction.on_commit(lambda: _notify_approved(assignment.pk))
    return assignment


def _notify_approved(assignment_id: int) -> None:
    from .notifications import notify_assignment_approved

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
        now = timezone.now()
        won = MentorAssignment.objects.filter(pk=assignment.pk, status=Status.PROPOSED).update(
            status=to_status, decided_by=actor, decided_at=now, decision_note=reason, updated_at=now
        )
        assignment.refresh_from_db()
        if not won:
            raise AlreadyDecided(assignment)
        audit_record(
            action=action,
            actor=actor,
            program=assignment.program,
            student=assignment.student,
            obj=assignment,
            request=request,
            details={"reason": reason},
        )
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
        if not won:
            raise AlreadyDecided(assignment)
        links = canvas_links().retire(assignment=assignment)
        audit_record(
            action=Action.ASSIGNMENT_ENDED,
            actor=actor,
            system_actor=system_actor,
            program=assignment.program,
            student=assignment.student,
            obj=assignment,
            request=request,
            details={"reason": assignment.end_reason, "generation": assignment.generation, "links": len(links)},
        )
        transaction.on_commit(lambda: canvas_links().enqueue(links=links))
    return assignment


@dataclass
class BulkResult:
    assignment: MentorAssignment
    ok: bool
    message: str


def assignments_bulk_decide(
    *,
    assignments: Iterable[MentorAssignment],
    decision: str,
    actor: User,
    reason: str = "",
    acknowledged: Iterable[str] | None = None,
    request: HttpRequest | None = None,
) -> list[BulkResult]:
    """Approve or reject many; each row is its own transaction and gets its own line in the summary."""
    if decision == "reject" and not reason.strip():
        raise AssignmentError("Say why the assignments are rejected: the reason is required.")
    ack = list(acknowledged or ())
    results = []
    for assignment in assignments:
        label = f"{assignment.mentor.name} → {assignment.student.name}"
        try:
            if decision == "approve":
                assignment_approve(assignment=assignment, actor=actor, note=reason, acknowledged=ack, request=request)
                results.append(BulkResult(assignment, True, f"{label}: approved."))
            elif decision == "reject":
                assignment_reject(assignment=assignment, actor=actor, reason=reason, request=request)
                results.append(BulkResult(assignment, True, f"{label}: rejected."))
            else:
                raise AssignmentError(f"Unknown decision {decision!r}.")
        except AssignmentError as exc:
            results.append(BulkResult(assignment, False, f"{label}: not changed. {exc}"))
    return results


# --- dates (called by the beat) --------------------------------------------------------------------------------


def assignments_activate_due(*, today: datetime.date) -> list[int]:
    """Plan links for approved assignments whose start date arrived and that have no links yet. Returns their ids."""
    due = list(
        MentorAssignment.objects.filter(status=Status.APPROVED, starts_on__lte=today, ends_on__gte=today)
        .filter(links__isnull=True)
        .values_list("pk", flat=True)
    )
    activated = []
    for pk in due:
        with transaction.atomic():
            assignment = (
                MentorAssignment.objects.select_for_update()
                .filter(pk=pk, status=Status.APPROVED)
                .select_related("program", "mentor", "student")
                .first()
            )
            # Another beat run may have planned it between the query and the lock.
            if assignment is None or assignment.links.exists():
                continue
            links = canvas_links().plan(assignment=assignment)
            audit_record(
                action=Action.ASSIGNMENT_ACTIVATED,
                system_actor=SYSTEM_BEAT,
                program=assignment.program,
                student=assignment.student,
                obj=assignment,
                details={"starts_on": assignment.starts_on.isoformat(), "links": len(links)},
            )
            transaction.on_commit(lambda links=links: canvas_links().enqueue(links=links))  # type: ignore[misc]
            activated.append(pk)
    return activated


def assignments_end_due(*, today: datetime.date) -> list[int]:
    """End approved assignments whose end date passed (system:beat); their links are retired. Returns their ids."""
    due = list(
        MentorAssignment.objects.filter(status=Status.APPROVED, ends_on__lt=today)
        .select_related("program", "student")
        .order_by("pk")
    )
    ended = []
    for assignment in due:
        try:
            assignment_end(assignment=assignment, system_actor=SYSTEM_BEAT, reason="The end date passed.")
        except AlreadyDecided:
            continue
        ended.append(assignment.pk)
    return ended


# --- programs --------------------------------------------------------------------------------------------------

PROGRAM_FIELDS = (
    "name",
    "slug",
    "description",
    "default_link_method",
    "requires_second_approver",
    "max_assignment_days",
    "mentor_capacity",
    "is_active",
)


def program_create(*, actor: User, request: HttpRequest | None = None, **fields: Any) -> Program:
    """Create a program (admins). Unknown field names raise TypeError."""
    unknown = set(fields) - set(PROGRAM_FIELDS)
    if unknown:
        raise TypeError(f"unknown program fields: {sorted(unknown)}")
    if Program.objects.filter(slug=fields.get("slug", "")).exists():
        raise AssignmentError("Another program already uses this short name (slug).")
    with transaction.atomic():
        program = Program.objects.create(**fields)
        audit_record(
            action=Action.PROGRAM_CREATED,
            actor=actor,
            program=program,
            obj=program,
            request=request,
            details={k: getattr(program, k) for k in PROGRAM_FIELDS},
        )
    return program


def program_update(*, program: Program, actor: User, request: HttpRequest | None = None, **changes: Any) -> Program:
    """Change a program's settings; the audit event records old and new values of what changed."""
    unknown = set(changes) - set(PROGRAM_FIELDS)
    if unknown:
        raise TypeError(f"unknown program fields: {sorted(unknown)}")
    if "slug" in changes and Program.objects.filter(slug=changes["slug"]).exclude(pk=program.pk).exists():
        raise AssignmentError("Another program already uses this short name (slug).")
    diff = {k: [getattr(program, k), v] for k, v in changes.items() if getattr(program, k) != v}
    if not diff:
        return program
    with transaction.atomic():
        for key, (_old, new) in diff.items():
            setattr(program, key, new)
        program.save(update_fields=list(diff))
        audit_record(
            action=Action.PROGRAM_UPDATED,
            actor=actor,
            program=program,
            obj=program,
            request=request,
            details={"changes": diff},
        )
    return program


__all__ = [
    "AlreadyDecided",
    "ApprovalWarning",
    "AssignmentError",
    "BulkResult",
    "LinkMethod",
    "NeedsConfirmation",
    "assignment_approve",
    "assignment_cancel",
    "assignment_end",
    "assignment_propose",
    "assignment_reject",
    "assignments_activate_due",
    "assignments_bulk_decide",
    "assignments_end_due",
    "program_create",
    "program_update",
    "rule_errors",
]

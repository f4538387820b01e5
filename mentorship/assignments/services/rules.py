"""The rules checked on propose and approve, and the warnings an approver confirms (docs/architecture.md,
"Rules of an assignment")."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from mentorship.people.models import Person

from ..models import MentorAssignment, Program
from .errors import (
    LIVE_STATUSES,
    ApprovalWarning,
    Status,
)

# One rule for the length of a reason, wherever it is typed (the forms) or imported (a CSV file, the command).
REASON_MAX_LENGTH = 2000


def reason_length_message(length: int) -> str:
    return f"The reason is {length:,} characters long; keep it to {REASON_MAX_LENGTH:,} or fewer."


def past_end_message(ends_on: datetime.date) -> str:
    """Refused at proposal and import alike: a proposal that has ended before anyone could approve it."""
    return (
        f"The end date {ends_on.isoformat()} has already passed, so the assignment could never be approved. "
        "Give an end date from today on."
    )


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

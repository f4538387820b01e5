"""The rules checked on propose and approve, and the warnings an approver confirms (docs/architecture.md,
"Rules of an assignment")."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from django.utils import timezone

from mentorship.people.models import Person

from ..models import LinkMethod, MentorAssignment, Program
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


def form_refusal(*, reason: str, starts_on: datetime.date, ends_on: datetime.date, link_method: str) -> str | None:
    """What the form alone refuses, before any lock, the same when proposing and when editing: the first problem in
    a sentence, or None. `reason` is already stripped."""
    if not reason:
        return "A reason is required: say why this mentor needs to see this student's work."
    if len(reason) > REASON_MAX_LENGTH:
        return reason_length_message(len(reason))
    if starts_on <= ends_on < timezone.localdate():
        return past_end_message(ends_on)
    if link_method not in LinkMethod.values:
        return f"{link_method!r} is not a link method; use observee, courses or pairing_code."
    return None


def rule_errors(
    *,
    program: Program,
    mentor: Person | None,
    student: Person | None,
    starts_on: datetime.date | None,
    ends_on: datetime.date | None,
    exclude_pk: int | None = None,
    statuses: Sequence[str] = LIVE_STATUSES,
    approved: Sequence[MentorAssignment] | None = None,
) -> list[str]:
    """Sentences for every hard rule the (proposed) assignment breaks. Empty means it may go ahead.

    `statuses` are the statuses that count as a clash: proposals clash with proposed and approved assignments,
    approvals only with approved ones. `approved`: the mentor's approved assignments, read once under the mentor's
    lock by a bulk approval (and grown as it approves); the clash and the load are then counted from it, not queried.
    """
    errors = _input_errors(program=program, pair=(mentor, student), span=(starts_on, ends_on))
    if errors or mentor is None or student is None or starts_on is None or ends_on is None:
        return errors
    clash, load = _clash_and_load(
        program=program,
        mentor=mentor,
        student=student,
        span=(starts_on, ends_on),
        exclude_pk=exclude_pk,
        statuses=statuses,
        approved=approved,
    )
    if clash:
        errors.append(
            f"{mentor.name} already has an assignment ({clash.get_status_display().lower()}) to {student.name} "
            f"from {clash.starts_on:%Y-%m-%d} to {clash.ends_on:%Y-%m-%d} (number {clash.pk})."
        )
    if load >= program.mentor_capacity:
        errors.append(
            f"{mentor.name} already has {load} approved assignments at that time; "
            f"{program.name} allows {program.mentor_capacity} per mentor."
        )
    return errors


def _input_errors(
    *, program: Program, pair: tuple[Person | None, Person | None], span: tuple[datetime.date | None, ...]
) -> list[str]:
    """The rules the assignment's own fields break (the mentor and student, the start and end), before any other
    assignment is looked at."""
    (mentor, student), (starts_on, ends_on) = pair, span
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
    return errors


def _clash_and_load(
    *,
    program: Program,
    mentor: Person,
    student: Person,
    span: tuple[datetime.date, datetime.date],
    exclude_pk: int | None,
    statuses: Sequence[str],
    approved: Sequence[MentorAssignment] | None,
) -> tuple[MentorAssignment | None, int]:
    """The overlapping assignment of the same pair (the lowest number) and the mentor's approved load at that time:
    queried, or counted from `approved` when a bulk approval read them once under the mentor's lock."""
    starts_on, ends_on = span
    if approved is None:
        overlapping = MentorAssignment.objects.filter(
            program=program, status__in=statuses, starts_on__lte=ends_on, ends_on__gte=starts_on
        )
        if exclude_pk:
            overlapping = overlapping.exclude(pk=exclude_pk)
        clash = overlapping.filter(mentor=mentor, student=student).order_by("pk").first()
        load = overlapping.filter(mentor=mentor, status=Status.APPROVED).count()
    else:
        held = [
            o
            for o in approved
            if o.program_id == program.pk
            and o.mentor_id == mentor.pk
            and o.status in statuses
            and o.starts_on <= ends_on
            and o.ends_on >= starts_on
            and o.pk != exclude_pk
        ]
        clash = min((o for o in held if o.student_id == student.pk), key=lambda o: o.pk, default=None)
        load = sum(1 for o in held if o.status == Status.APPROVED)
    return clash, load


def approved_rule_errors(assignment: MentorAssignment, approved: Sequence[MentorAssignment] | None = None) -> list[str]:
    """The rules again at approval, against the other approved assignments only (proposals do not hold a place
    yet). Run under the mentor's lock, it also counts the rows an ongoing bulk approval approved a moment ago."""
    return rule_errors(
        program=assignment.program,
        mentor=assignment.mentor,
        student=assignment.student,
        starts_on=assignment.starts_on,
        ends_on=assignment.ends_on,
        exclude_pk=assignment.pk,
        statuses=(Status.APPROVED,),
        approved=approved,
    )


def approval_refusal(
    *, assignment: MentorAssignment, actor: Any, approved: Sequence[MentorAssignment] | None = None
) -> str:
    """Why this approver may not approve this assignment (second coordinator, rules, an end date in the past), as
    one sentence; empty when they may. Under the mentor's lock the capacity count is final."""
    if assignment.program.requires_second_approver and assignment.proposed_by_id == actor.pk:
        return "This program needs a second coordinator: you proposed this assignment, so someone else must approve it."
    errors = approved_rule_errors(assignment, approved)
    if assignment.ends_on < timezone.localdate():
        errors.append("The end date has already passed; propose new dates instead.")
    return " ".join(errors)


# The approver confirms this one to approve although the mentor-is-a-student check could not run.
CHECK_SKIPPED = "student_check_skipped"


class StudentChecks:
    """The mentor-is-a-student answers of one approval or one bulk approval: each person is asked once per batch
    (their Person row's cached answer counts when fresh), however many rows they appear in."""

    def __init__(self, *, client: Any = None) -> None:
        self._client = client
        self._answers: dict[int, tuple[Person, Any]] = {}

    def prefetch(self, people: Iterable[Person]) -> None:
        """Ask Canvas about these people together (a few at a time) before the rows are looked at one by one."""
        from mentorship.people.services import people_student_checks

        todo = {p.pk: p for p in people if p.pk not in self._answers}
        if todo:
            answers = people_student_checks(people=todo.values(), client=self._client)
            self._answers.update({pk: (todo[pk], answer) for pk, answer in answers.items()})

    def check(self, person: Person) -> tuple[Person, Any]:
        """(the Person holding the answer, its StudentCheck)."""
        from mentorship.people.services import person_student_check

        if person.pk not in self._answers:
            self._answers[person.pk] = (person, person_student_check(person=person, client=self._client))
        return self._answers[person.pk]


def _skipped(name: str, problem: str) -> ApprovalWarning:
    return ApprovalWarning(
        CHECK_SKIPPED,
        f"The mentor-is-a-student check could not read {name}'s enrollments in Canvas: {problem} "
        "Wait and approve again once Canvas answers, or confirm to approve without that check.",
    )


def approval_warnings(
    *, assignment: MentorAssignment, client: Any = None, checks: StudentChecks | None = None
) -> list[ApprovalWarning]:
    """Warnings shown before approval: a student linked to another student, a mentor who studies in a course in
    scope. Canvas is asked (once per person and batch, cached on the Person). When it cannot answer, the approval
    waits for the approver's explicit confirmation, naming the cause: the check is never skipped silently."""
    checks = checks or StudentChecks(client=client)
    mentor, answer = checks.check(assignment.mentor)
    if answer.is_student is None:
        return [_skipped(mentor.name, answer.problem)]
    warnings: list[ApprovalWarning] = []
    if not answer.is_student:
        return warnings
    warnings.append(
        ApprovalWarning(
            "student_to_student",
            f"{mentor.name} is a student in Canvas: this links a student to another student's work.",
        )
    )
    if assignment.scope == MentorAssignment.Scope.COURSES:
        scope_ids = {c.canvas_course_id for c in assignment.courses.all()}
    else:
        student, student_answer = checks.check(assignment.student)
        if student_answer.is_student is None:
            return [*warnings, _skipped(student.name, student_answer.problem)]
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

"""Every write to programs and assignments. Each service is one transaction and writes its audit event."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from mentorship.accounts.models import User
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record
from mentorship.people.models import Person

from .models import AssignmentCourse, LinkMethod, MentorAssignment, Program


class AssignmentError(Exception):
    """A rule refused the change; the message is a sentence for the coordinator."""


class AlreadyDecided(AssignmentError):
    """Someone else changed the assignment first (compare-and-set lost)."""

    def __init__(self, assignment: MentorAssignment) -> None:
        who = assignment.decided_by.get_username() if assignment.decided_by else "someone else"
        when = timezone.localtime(assignment.decided_at).strftime("%Y-%m-%d %H:%M") if assignment.decided_at else ""
        super().__init__(
            f"This assignment is already {assignment.get_status_display().lower()}: {who} decided it first"
            + (f" at {when}." if when else ".")
            + " Nothing was changed."
        )
        self.assignment = assignment


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
) -> MentorAssignment:
    """Record a proposal. Raises AssignmentError for a mentor equal to the student or dates out of order."""
    if mentor.pk == student.pk:
        raise AssignmentError("A mentor cannot be assigned to themself.")
    if ends_on < starts_on:
        raise AssignmentError("The end date is before the start date.")
    course_list = list(courses)
    with transaction.atomic():
        assignment = MentorAssignment.objects.create(
            program=program,
            mentor=mentor,
            student=student,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason,
            link_method=link_method or program.default_link_method,
            scope=MentorAssignment.Scope.COURSES if course_list else MentorAssignment.Scope.ALL_COURSES,
            proposed_by=actor,
        )
        for course in course_list:
            course.assignment = assignment
            course.save()
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
                "reason": reason,
            },
        )
    return assignment


def assignment_approve(
    *, assignment: MentorAssignment, actor: User, note: str = "", request: HttpRequest | None = None
) -> MentorAssignment:
    """Approve a proposal (compare-and-set on `proposed`) and, if it is active today, plan its Canvas links.

    Raises AlreadyDecided when another coordinator decided first, AssignmentError when a rule refuses.
    """
    from mentorship.sync.services import links_enqueue, links_plan

    program = assignment.program
    if program.requires_second_approver and assignment.proposed_by_id == actor.pk:
        raise AssignmentError("This program needs a second coordinator: you proposed this assignment.")
    links = []
    with transaction.atomic():
        now = timezone.now()
        won = MentorAssignment.objects.filter(pk=assignment.pk, status=MentorAssignment.Status.PROPOSED).update(
            status=MentorAssignment.Status.APPROVED,
            decided_by=actor,
            decided_at=now,
            decision_note=note,
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
            details={"note": note, "generation": assignment.generation},
        )
        if assignment.is_active:
            links = links_plan(assignment=assignment)
        transaction.on_commit(lambda: links_enqueue(links=links))
    return assignment


__all__ = ["AlreadyDecided", "AssignmentError", "LinkMethod", "assignment_approve", "assignment_propose"]

"""Proposing an assignment: the rules, the row and its courses, the audit event, one transaction."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from mentorship.accounts.models import User
from mentorship.audit.actions import Action
from mentorship.people.courses import courses_note
from mentorship.people.models import Person

from ..models import AssignmentCourse, LinkMethod, MentorAssignment, Program
from ..notifications import notify_waiting_approval
from .errors import (
    AssignmentError,
    audit_assignment,
)
from .rules import form_refusal, rule_errors


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
    reason = (reason or "").strip()
    method = link_method or program.default_link_method
    refusal = form_refusal(reason=reason, starts_on=starts_on, ends_on=ends_on, link_method=method)
    if refusal:
        raise AssignmentError(refusal)
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
            reason=reason,
            link_method=method,
            scope=MentorAssignment.Scope.COURSES if course_list else MentorAssignment.Scope.ALL_COURSES,
            proposed_by=actor,
        )
        _attach_courses(assignment=assignment, courses=course_list)
        audit_assignment(
            assignment,
            action=Action.ASSIGNMENT_PROPOSED,
            actor=actor,
            program=program,
            student=student,
            request=request,
            details=proposal_audit_details(
                assignment=assignment, course_ids=[c.canvas_course_id for c in course_list], **(audit_details or {})
            ),
        )
        if program.requires_second_approver:
            transaction.on_commit(lambda: notify_waiting_approval(assignment_id=assignment.pk))
    return assignment


def _attach_courses(*, assignment: MentorAssignment, courses: list[AssignmentCourse]) -> None:
    """Save the courses in scope (unsaved rows from the form) on the new assignment, and note their names."""
    for course in courses:
        course.pk = None
        course.assignment = assignment
    AssignmentCourse.objects.bulk_create(courses)
    courses_note(courses=[(c.canvas_course_id, c.sis_course_id, c.name) for c in courses])


def proposal_audit_details(*, assignment: MentorAssignment, course_ids: Iterable[int], **extra: Any) -> dict[str, Any]:
    """The details of an assignment.proposed event, the same whether a coordinator or a CSV import proposed it."""
    return {
        "mentor": assignment.mentor.canvas_user_id,
        "student": assignment.student.canvas_user_id,
        "starts_on": assignment.starts_on.isoformat(),
        "ends_on": assignment.ends_on.isoformat(),
        "method": assignment.link_method,
        "courses": list(course_ids),
        "reason": assignment.reason,
        **extra,
    }

"""Emails: the mentor on approval, coordinators when a link fails, the weekly digest."""

from __future__ import annotations

import datetime

from django.core import mail
from django.utils import timezone

from mentorship.assignments import notifications
from mentorship.assignments.models import MentorAssignment
from tests.factories import AssignmentFactory, PersonFactory, observee_link


def test_mentor_without_email_gets_no_mail(assignment):
    MentorAssignment.objects.filter(pk=assignment.pk)
    assignment.mentor.email = ""
    assignment.mentor.save()
    assert notifications.notify_assignment_approved(assignment_id=assignment.pk) is False
    assert mail.outbox == []


def test_link_failed_mails_the_programs_coordinators(program, coordinator, second_coordinator, other_coordinator):
    a = AssignmentFactory(program=program, status="approved")
    link = observee_link(a, state="failed", last_error="Canvas says this student no longer exists (404).")
    assert notifications.notify_link_failed(link=link) == 2
    (message,) = mail.outbox
    assert sorted(message.to) == sorted([coordinator.email, second_coordinator.email])
    assert "no longer exists" in str(message.body) and f"/assignments/{a.pk}/" in str(message.body)


def test_weekly_digest_lists_what_ends_in_14_days(program, coordinator, other_program, other_coordinator):
    today = timezone.localdate()
    soon = AssignmentFactory(
        program=program,
        status="approved",
        mentor=PersonFactory(name="Soon Mentor"),
        ends_on=today + datetime.timedelta(days=3),
    )
    AssignmentFactory(
        program=program,
        status="approved",
        mentor=PersonFactory(name="Later Mentor"),
        ends_on=today + datetime.timedelta(days=40),
    )
    AssignmentFactory(
        program=program,
        status="proposed",
        mentor=PersonFactory(name="Proposed Mentor"),
        ends_on=today + datetime.timedelta(days=3),
    )
    assert notifications.send_weekly_digest(today=today) == 1
    (message,) = mail.outbox
    assert message.to == [coordinator.email]
    body = str(message.body)
    assert "Soon Mentor" in body and "Later Mentor" not in body and "Proposed" not in body
    assert soon.ends_on.isoformat() in body

"""Email notifications (console backend in the demo). Called after commit; a mail failure never undoes a change.

No pairing codes or tokens ever go into these messages: the mentor reads a code on the portal's own page.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail, send_mass_mail
from django.urls import reverse
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User

from .models import MentorAssignment, Program

logger = logging.getLogger(__name__)
DIGEST_DAYS = 14


def _portal_url(path: str) -> str:
    base = str(settings.PORTAL_BASE_URL).rstrip("/")
    return f"{base}{path}"


def _coordinator_emails(program: Program) -> list[str]:
    emails = (
        User.objects.filter(program_roles__program=program, program_roles__role=ProgramRole.Role.COORDINATOR)
        .filter(is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    return sorted(emails)


def notify_assignment_approved(*, assignment_id: int) -> bool:
    """Tell the mentor their assignment was approved. Returns whether a mail was sent."""
    return bool(notify_assignments_approved(assignment_ids=[assignment_id]))


def notify_assignments_approved(*, assignment_ids: Iterable[int]) -> int:
    """Tell each mentor their assignment was approved (a bulk approval: one query for all). Returns mails sent."""
    rows = MentorAssignment.objects.select_related("program", "mentor", "mentor__user", "student").filter(
        pk__in=list(assignment_ids)
    )
    return sum(1 for assignment in rows.order_by("pk") if _mail_approved(assignment))


def _mail_approved(assignment: MentorAssignment) -> bool:
    return _mail_mentor(
        assignment,
        subject=f"Mentor assignment approved: {assignment.student.name}",
        text=(
            f"You have been approved as a mentor for {assignment.student.name} in {assignment.program.name}, "
            f"from {assignment.starts_on:%Y-%m-%d} to {assignment.ends_on:%Y-%m-%d}.\n"
            "Canvas will show you the student's courses once the link is made; sign in to the portal to see them."
        ),
    )


def notify_link_failed(*, link: Any) -> int:
    """Tell the program's coordinators a Canvas link failed (called by the sync engine). Returns mails sent."""
    assignment = link.assignment
    recipients = _coordinator_emails(assignment.program)
    if not recipients:
        return 0
    body = (
        f"The Canvas link for {assignment.mentor.name} → {assignment.student.name} ({assignment.program.name}) "
        f"failed.\n\nWhat Canvas said: {link.last_error or 'no details'}\n\n"
        f"Open the assignment to retry: {_portal_url(reverse('assignments:detail', args=[assignment.pk]))}\n"
    )
    send_mail(f"Canvas link failed: {assignment.student.name}", body, None, recipients)
    return len(recipients)


def send_weekly_digest(*, today: datetime.date | None = None) -> int:
    """Mail every coordinator the assignments of their programs that end in the next 14 days. Returns mails sent."""
    today = today or timezone.localdate()
    until = today + datetime.timedelta(days=DIGEST_DAYS)
    ending = list(
        MentorAssignment.objects.filter(status=MentorAssignment.Status.APPROVED, ends_on__gte=today, ends_on__lte=until)
        .select_related("program", "mentor", "student")
        .order_by("ends_on", "pk")
    )
    by_program: dict[int, list[MentorAssignment]] = {}
    for a in ending:
        by_program.setdefault(a.program_id, []).append(a)
    roles = (
        ProgramRole.objects.filter(role=ProgramRole.Role.COORDINATOR, program_id__in=by_program, user__is_active=True)
        .exclude(user__email="")
        .select_related("user", "program")
    )
    per_user: dict[str, list[MentorAssignment]] = {}
    for role in roles:
        per_user.setdefault(role.user.email, []).extend(by_program[role.program_id])
    messages = []
    for email, items in sorted(per_user.items()):
        lines = [
            f"- {a.ends_on:%Y-%m-%d}  {a.mentor.name} → {a.student.name} ({a.program.name})"
            for a in sorted(items, key=lambda a: (a.ends_on, a.pk))
        ]
        body = (
            f"{len(items)} mentor assignment(s) end in the next {DIGEST_DAYS} days:\n\n"
            + "\n".join(lines)
            + f"\n\nExtend them by proposing new dates: {_portal_url(reverse('assignments:list'))}\n"
        )
        messages.append((f"Mentor assignments ending soon ({len(items)})", body, settings.DEFAULT_FROM_EMAIL, [email]))
    if messages:
        send_mass_mail(messages)
    return len(messages)


# --- Waiting for you, and the mentor's changes ------------------------------------------------------------------
# Each mail names the item and links straight to it; what the item holds stays on the portal's page (no pairing
# code, no student work, no reason text a coordinator typed).
MENTOR_NOTICE_DAYS = 7


def notify_coordinators_waiting(
    *, program: Program, subject: str, what: str, path: str, exclude_user_id: int | None = None
) -> int:
    """Mail the program's coordinators (but `exclude_user_id`) that `what` waits for their decision at `path`, the
    item's own page. Returns mails sent; a mail failure is logged, never raised (the change stands)."""
    recipients = [
        email
        for user_id, email in User.objects.filter(
            program_roles__program=program, program_roles__role=ProgramRole.Role.COORDINATOR, is_active=True
        )
        .exclude(email="")
        .values_list("pk", "email")
        .distinct()
        if user_id != exclude_user_id
    ]
    if not recipients:
        return 0
    body = (
        f"{what}\n\nIt is in “Waiting for you” on your dashboard. Open it here:\n{_portal_url(path)}\n\n"
        f"You get this mail as a coordinator of {program.name}.\n"
    )
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in sorted(set(recipients))]
    try:
        send_mass_mail(messages)
    except Exception:
        logger.warning("could not mail the coordinators of program %s", program.pk, exc_info=True)
        return 0
    return len(messages)


def notify_waiting_approval(*, assignment_id: int) -> int:
    """A proposal in a program that needs a second approver: mail the coordinators who may approve it."""
    assignment = (
        MentorAssignment.objects.select_related("program", "mentor", "student", "proposed_by")
        .filter(pk=assignment_id, status=MentorAssignment.Status.PROPOSED, program__requires_second_approver=True)
        .first()
    )
    if assignment is None:  # decided already (a CSV import approves at once), or no second approver needed
        return 0
    proposer = assignment.proposed_by
    by = f" by {proposer.get_full_name() or proposer.get_username()}" if proposer else ""
    return notify_coordinators_waiting(
        program=assignment.program,
        subject=f"Waiting for your approval: {assignment.mentor.name} → {assignment.student.name}",
        what=(
            f"{assignment.mentor.name} was proposed{by} as mentor of {assignment.student.name} in "
            f"{assignment.program.name}. The program needs a second coordinator to approve it."
        ),
        path=reverse("assignments:detail", args=[assignment.pk]),
        exclude_user_id=assignment.proposed_by_id,
    )


def _mail_mentor(assignment: MentorAssignment, *, subject: str, text: str) -> bool:
    mentor = assignment.mentor
    user = getattr(mentor, "user", None)
    email = mentor.email or (user.email if user is not None else "")
    if not email:
        return False
    body = f"Hello {mentor.name},\n\n{text}\n\n{_portal_url(reverse('mentors:students'))}\n"
    try:
        send_mail(subject, body, None, [email])
    except Exception:
        logger.warning("could not mail the mentor of assignment %s", assignment.pk, exc_info=True)
        return False
    return True


def notify_mentor_ended(*, assignment_id: int) -> bool:
    """Tell the mentor their assignment ended (early, or on its end date) and Canvas access goes with it."""
    assignment = (
        MentorAssignment.objects.select_related("program", "mentor", "mentor__user", "student")
        .filter(pk=assignment_id, status=MentorAssignment.Status.ENDED)
        .first()
    )
    if assignment is None:
        return False
    ended_on = timezone.localtime(assignment.ended_at).date() if assignment.ended_at else timezone.localdate()
    early = ended_on < assignment.ends_on
    when = f"early, on {ended_on:%Y-%m-%d} (it was to end on {assignment.ends_on:%Y-%m-%d})" if early else "today"
    return _mail_mentor(
        assignment,
        subject=f"Mentor assignment ended: {assignment.student.name}",
        text=(
            f"Your assignment as mentor of {assignment.student.name} in {assignment.program.name} ended {when}. "
            "Canvas no longer shows you the student's courses. Your program coordinator can tell you more."
        ),
    )


def send_mentor_ending_notices(*, today: datetime.date | None = None) -> int:
    """Mail each mentor whose approved assignment ends in exactly MENTOR_NOTICE_DAYS days (a daily job, so each
    assignment gets one notice; docs/decisions.md, "Mentors' e-mails"). Returns mails sent."""
    today = today or timezone.localdate()
    due = today + datetime.timedelta(days=MENTOR_NOTICE_DAYS)
    rows = MentorAssignment.objects.filter(status=MentorAssignment.Status.APPROVED, ends_on=due).select_related(
        "program", "mentor", "mentor__user", "student"
    )
    sent = 0
    for assignment in rows.order_by("pk"):
        sent += _mail_mentor(
            assignment,
            subject=f"Mentor assignment ending soon: {assignment.student.name}",
            text=(
                f"Your assignment as mentor of {assignment.student.name} in {assignment.program.name} ends on "
                f"{assignment.ends_on:%Y-%m-%d}. If it should go on, ask your program coordinator to extend it."
            ),
        )
    return sent

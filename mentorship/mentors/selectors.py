"""What a mentor may see: their own assignments only. Anything else is a 404 (docs/architecture.md, "Who sees what")."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.sync.models import PairingCode

# "Recently ended" on the mentor's list: long enough to find a student they just stopped mentoring, short enough that
# the list does not grow forever.
RECENTLY_ENDED_DAYS = 30

STATE_LINKED = "Linked"
STATE_WAITING_FOR_CODE = "Waiting for you to enter your pairing code"
STATE_ENDED = "Ended"
STATE_SETTING_UP = "Being set up in Canvas"
STATE_NOT_STARTED = "Starts soon"
STATE_PROBLEM = "Not linked yet: your coordinator has been told"


@dataclass
class MentorAssignments:
    active: list[MentorAssignment] = field(default_factory=list)
    upcoming: list[MentorAssignment] = field(default_factory=list)
    recently_ended: list[MentorAssignment] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.active or self.upcoming or self.recently_ended)


def _mentor_person_id(user: Any) -> int:
    if not isinstance(user, User) or not user.is_authenticated or user.person_id is None:
        raise Http404("No such page.")
    return user.person_id


def is_ended(assignment: MentorAssignment, today: datetime.date) -> bool:
    return assignment.status == MentorAssignment.Status.ENDED or (
        assignment.status == MentorAssignment.Status.APPROVED and assignment.ends_on < today
    )


def assignments_for_mentor(*, user: Any) -> MentorAssignments:
    """The mentor's approved assignments that are active or upcoming, and those ended in the last 30 days.

    Proposed, rejected and cancelled assignments are not shown: nothing was granted (yet).
    """
    person_id = _mentor_person_id(user)
    today = timezone.localdate()
    since = today - datetime.timedelta(days=RECENTLY_ENDED_DAYS)
    rows = (
        MentorAssignment.objects.filter(mentor_id=person_id)
        .filter(
            Q(status=MentorAssignment.Status.APPROVED, ends_on__gte=since)
            | Q(status=MentorAssignment.Status.ENDED, ends_on__gte=since)
            | Q(status=MentorAssignment.Status.ENDED, ended_at__date__gte=since)
        )
        .select_related("program", "student")
        .prefetch_related("courses")
        .order_by("starts_on", "student__sortable_name", "pk")
    )
    grouped = MentorAssignments()
    for assignment in rows:
        if is_ended(assignment, today):
            grouped.recently_ended.append(assignment)
        elif assignment.starts_on > today:
            grouped.upcoming.append(assignment)
        else:
            grouped.active.append(assignment)
    grouped.recently_ended.sort(key=lambda a: a.ends_on, reverse=True)
    return grouped


def assignment_for_mentor(*, user: Any, assignment_id: int, active_only: bool = True) -> MentorAssignment:
    """One of the mentor's own assignments (active today unless `active_only` is False), or 404."""
    person_id = _mentor_person_id(user)
    assignment = (
        MentorAssignment.objects.filter(pk=assignment_id, mentor_id=person_id)
        .select_related("program", "student", "mentor")
        .prefetch_related("courses")
        .first()
    )
    if assignment is None:
        raise Http404("No such student.")
    if active_only and not assignment.is_active:
        raise Http404("No such student.")
    if not active_only and assignment.status not in (
        MentorAssignment.Status.APPROVED,
        MentorAssignment.Status.ENDED,
    ):
        raise Http404("No such student.")
    return assignment


def pairing_code_for_mentor(*, user: Any, assignment: MentorAssignment) -> PairingCode | None:
    """The code issued for this mentor on this assignment that can still be used (and only theirs)."""
    person_id = _mentor_person_id(user)
    if assignment.mentor_id != person_id or not assignment.is_active:
        return None
    return (
        PairingCode.objects.filter(
            assignment=assignment,
            assignment__mentor_id=person_id,
            status=PairingCode.Status.ISSUED,
            expires_at__gt=timezone.now(),
        )
        .order_by("-issued_at", "-pk")
        .first()
    )


def pairing_codes_for_mentor(*, user: Any, assignments: list[MentorAssignment]) -> dict[int, PairingCode]:
    """`pairing_code_for_mentor` for a whole list of assignments in one query: {assignment id: usable code}."""
    person_id = _mentor_person_id(user)
    wanted = [
        a.pk
        for a in assignments
        if a.mentor_id == person_id and a.link_method == LinkMethod.PAIRING_CODE and a.is_active
    ]
    if not wanted:
        return {}
    codes: dict[int, PairingCode] = {}
    for code in PairingCode.objects.filter(
        assignment_id__in=wanted,
        assignment__mentor_id=person_id,
        status=PairingCode.Status.ISSUED,
        expires_at__gt=timezone.now(),
    ).order_by("assignment_id", "-issued_at", "-pk"):
        codes.setdefault(code.assignment_id, code)  # the newest per assignment, as pairing_code_for_mentor picks
    return codes


def link_state_label(assignment: MentorAssignment) -> str:
    """The Canvas link state in the mentor's words."""
    today = timezone.localdate()
    if is_ended(assignment, today):
        return STATE_ENDED
    if assignment.starts_on > today:
        return STATE_NOT_STARTED
    state = assignment.link_state
    if state == MentorAssignment.LinkState.LINKED:
        return STATE_LINKED
    if state == MentorAssignment.LinkState.AWAITING_REDEMPTION:
        return STATE_WAITING_FOR_CODE
    if state == MentorAssignment.LinkState.FAILED:
        return STATE_PROBLEM
    if state == MentorAssignment.LinkState.UNLINKED:
        return STATE_ENDED
    return STATE_SETTING_UP


def coordinator_contacts(*, assignment: MentorAssignment) -> list[dict[str, str]]:
    """Who to ask about this assignment: the coordinator who approved it first, then the program's others."""
    return coordinator_contacts_for(assignments=[assignment])[(assignment.program_id, assignment.decided_by_id)]


def coordinator_contacts_for(
    *, assignments: list[MentorAssignment]
) -> dict[tuple[int, int | None], list[dict[str, str]]]:
    """`coordinator_contacts` for many assignments in one query, keyed by (program id, approver id)."""
    roles = (
        ProgramRole.objects.filter(
            program_id__in={a.program_id for a in assignments}, role=ProgramRole.Role.COORDINATOR
        )
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "user_id")
    )
    by_program: dict[int, list[User]] = {}
    for role in roles:
        if role.user.is_active:
            by_program.setdefault(role.program_id, []).append(role.user)
    contacts: dict[tuple[int, int | None], list[dict[str, str]]] = {}
    for a in assignments:
        key = (a.program_id, a.decided_by_id)
        if key in contacts:
            continue
        approver = a.decided_by_id
        users = sorted(by_program.get(a.program_id, []), key=lambda u: 0 if u.pk == approver else 1)
        contacts[key] = [{"name": u.get_full_name() or u.get_username(), "email": u.email} for u in users[:3]]
    return contacts

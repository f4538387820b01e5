"""Who may open a portal account by signing in with Canvas: a person who mentors in some assignment.

Registered with accounts (mentorship.accounts.hooks) by AssignmentsConfig.ready().
"""

from __future__ import annotations

from mentorship.people.models import Person

from .models import MentorAssignment

# Assignments that make a person a mentor for the purpose of creating their account: proposed (so they can sign in
# on the day it is approved), approved (upcoming or active) and ended (their recent list stays reachable).
# Rejected and cancelled assignments never granted anything, so they do not open an account (docs/decisions.md).
SIGN_IN_STATUSES = (
    MentorAssignment.Status.PROPOSED,
    MentorAssignment.Status.APPROVED,
    MentorAssignment.Status.ENDED,
)


class MentorSignInRule:
    def person_for_canvas_user(self, canvas_user_id: int) -> Person | None:
        return Person.objects.filter(canvas_user_id=canvas_user_id).first()

    def may_open_account(self, person: Person) -> bool:
        return MentorAssignment.objects.filter(mentor=person, status__in=SIGN_IN_STATUSES).exists()

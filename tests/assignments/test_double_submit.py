"""A second submit of a decision (double click, second tab, a colleague at the same moment) changes nothing and says
so: the assignment row is locked and its status checked inside the lock (PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mentorship.assignments import services
from mentorship.assignments.models import MentorAssignment
from mentorship.audit.models import AuditEvent
from tests.assignments.test_views import msgs
from tests.conftest import login
from tests.factories import AssignmentFactory
from tests.helpers import race

Status = MentorAssignment.Status


@pytest.mark.parametrize(
    ("url", "data", "action", "verb"),
    [
        ("assignments:approve", {"note": "ok"}, "assignment.approved", "approved"),
        ("assignments:reject", {"reason": "Not needed"}, "assignment.rejected", "rejected"),
        ("assignments:cancel", {"reason": "Typo"}, "assignment.cancelled", "cancelled"),
    ],
)
def test_a_double_click_on_a_decision_is_a_no_op_that_says_so(client, coordinator, assignment, url, data, action, verb):
    login(client, coordinator)
    client.post(reverse(url, args=[assignment.pk]), data)
    again = client.post(reverse(url, args=[assignment.pk]), data)
    assert again.status_code == 302
    last = msgs(again)[-1]
    assert last.startswith(f"You already {verb} this assignment at ") and last.endswith(" Nothing else was changed.")
    assert AuditEvent.objects.filter(action=action).count() == 1


def test_a_double_click_on_end_early_is_a_no_op_that_says_so(client, coordinator, program):
    approved = AssignmentFactory(program=program, status=Status.APPROVED)
    login(client, coordinator)
    client.post(reverse("assignments:end", args=[approved.pk]), {"reason": "Left school"})
    again = client.post(reverse("assignments:end", args=[approved.pk]), {"reason": "Left school"})
    assert msgs(again)[-1].startswith("You already ended this assignment at ")
    assert AuditEvent.objects.filter(action="assignment.ended").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_coordinators_rejecting_at_once_decide_once(coordinator, second_coordinator, program):
    """Threads with their own connections: one decision wins, the other is told who decided first."""
    proposal = AssignmentFactory(program=program)

    def reject(actor: object) -> str:
        try:
            fresh = MentorAssignment.objects.get(pk=proposal.pk)
            services.assignment_reject(assignment=fresh, actor=actor, reason="No longer needed")
        except services.AlreadyDecided as exc:
            return str(exc)
        return "won"

    outcomes = race(lambda: reject(coordinator), lambda: reject(second_coordinator))
    assert all(isinstance(o, str) for o in outcomes), outcomes
    assert sorted(outcomes, key=len)[0] == "won" and len(outcomes) == 2
    assert "decided it first" in sorted(outcomes, key=len)[1]
    assert AuditEvent.objects.filter(action="assignment.rejected").count() == 1

"""Posted fields a form does not offer (status, approver, program, generation) are ignored or refused."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments.models import MentorAssignment
from tests.conftest import login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _proposal(program, mentor_person, student_person, **extra):
    today = timezone.localdate()
    return {
        "program": program.pk,
        "mentor": mentor_person.pk,
        "student": student_person.pk,
        "starts_on": today.isoformat(),
        "ends_on": (today + datetime.timedelta(days=30)).isoformat(),
        "reason": "Reading support",
        **extra,
    }


def test_posted_status_and_approver_are_ignored(client, coordinator, program, mentor_person, student_person):
    smuggled = {
        "status": "approved",
        "decided_by": str(coordinator.pk),
        "approved_by": str(coordinator.pk),
        "decided_at": "2026-01-01T00:00:00Z",
        "generation": "42",
        "link_state": "linked",
        "proposed_by": "1",
    }
    response = login(client, coordinator).post(
        reverse("assignments:create"), _proposal(program, mentor_person, student_person, **smuggled)
    )
    assert response.status_code == 302, response.content.decode()[:500]
    assignment = MentorAssignment.objects.get(student=student_person)
    assert assignment.status == MentorAssignment.Status.PROPOSED
    assert assignment.decided_by is None
    assert assignment.decided_at is None
    assert assignment.link_state == MentorAssignment.LinkState.NONE
    assert assignment.proposed_by == coordinator
    assert assignment.generation != 42


def test_proposing_into_another_program_is_refused(
    client, coordinator, program, other_program, mentor_person, student_person
):
    response = login(client, coordinator).post(
        reverse("assignments:create"), _proposal(other_program, mentor_person, student_person)
    )
    assert response.status_code in {200, 400}
    assert not MentorAssignment.objects.exists()


def test_approving_ignores_posted_program_and_status(client, second_coordinator, assignment, other_program):
    response = login(client, second_coordinator).post(
        reverse("assignments:approve", args=[assignment.pk]),
        {"note": "ok", "program": other_program.pk, "status": "ended", "ends_on": "2099-01-01"},
    )
    assert response.status_code in {200, 302}
    assignment.refresh_from_db()
    assert assignment.program_id != other_program.pk
    assert assignment.status in {MentorAssignment.Status.APPROVED, MentorAssignment.Status.PROPOSED}
    assert assignment.ends_on.year != 2099


def test_role_grant_ignores_a_posted_program(client, admin_user, program, other_program):
    newcomer: User = UserFactory(username="newcomer")  # type: ignore[assignment]  # factory_boy returns the model instance
    response = login(client, admin_user).post(
        reverse("assignments:role_grant", args=[program.pk]),
        {"user": newcomer.pk, "role": "auditor", "program": other_program.pk, "granted_by": newcomer.pk},
    )
    assert response.status_code == 302
    role = ProgramRole.objects.get(user=newcomer)
    assert role.program == program
    assert role.granted_by == admin_user


def test_huge_ids_in_forms_are_refused_with_a_sentence(client, coordinator, program, mentor_person):
    """A number beyond 64 bits would make the database driver raise in any lookup: 400 before any view runs."""
    login(client, coordinator)
    huge = "9" * 30
    response = client.get(reverse("assignments:create"), {"student": huge, "mentor": huge})
    assert response.status_code == 400
    assert "far larger than any id" in response.content.decode()
    proposal = _proposal(program, mentor_person, mentor_person, student=huge)
    assert client.post(reverse("assignments:create"), proposal).status_code == 400
    assert not MentorAssignment.objects.exists()
    # 64-bit ids themselves are fine (they simply match nothing).
    assert client.get(reverse("assignments:create"), {"student": str(2**63 - 1)}).status_code == 200

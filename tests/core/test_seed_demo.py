"""`make run` seeds the demo school; running it again duplicates nothing."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from fake_canvas.seed import demo_people
from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments.models import MentorAssignment, Program
from mentorship.audit.models import AuditEvent
from mentorship.people.models import Person


def _row_counts() -> dict[str, int]:
    models = (User, Program, ProgramRole, Person, MentorAssignment, AuditEvent)
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.django_db
def test_seed_demo_is_idempotent() -> None:
    call_command("seed_demo")
    counts = _row_counts()
    call_command("seed_demo")
    assert counts == _row_counts()


@pytest.mark.django_db
def test_seed_demo_matches_the_fake_canvas_people() -> None:
    call_command("seed_demo")
    canvas_ids = {p["id"] for p in demo_people() if p.get("kind") != "admin"}
    assert set(Person.objects.values_list("canvas_user_id", flat=True)) == canvas_ids
    assert User.objects.filter(username="coordinator").exists()
    assert ProgramRole.objects.filter(user__username="auditor", role="auditor").count() == 2
    assert MentorAssignment.objects.filter(status="approved").count() >= 2
    # Every seeded decision went through the services, so it is on the audit log.
    assert (
        AuditEvent.objects.filter(action="assignment.approved").count()
        == MentorAssignment.objects.filter(status="approved").count()
    )

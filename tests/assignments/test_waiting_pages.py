"""Pages that wait on the worker refresh themselves until the state they wait for: htmx polls the links and reloads
the page once they settle; without JavaScript a meta refresh does the same."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mentorship.sync.models import ObserverLink
from tests.conftest import login

pytestmark = pytest.mark.django_db

NOSCRIPT_REFRESH = '<noscript><meta http-equiv="refresh" content="5"></noscript>'


def _link(assignment, state: str) -> ObserverLink:
    return ObserverLink.objects.create(
        assignment=assignment,
        kind=ObserverLink.Kind.OBSERVEE,
        observer_canvas_id=assignment.mentor.canvas_user_id,
        student_canvas_id=assignment.student.canvas_user_id,
        state=state,
    )


def test_a_page_waiting_on_the_worker_refreshes_itself_without_javascript(client, coordinator, approved_assignment):
    link = _link(approved_assignment, ObserverLink.State.PENDING)
    url = reverse("assignments:detail", args=[approved_assignment.pk])
    body = login(client, coordinator).get(url).content.decode()
    assert NOSCRIPT_REFRESH in body
    assert "updates by itself" in body
    link.state = ObserverLink.State.LINKED
    link.save()
    body = client.get(url).content.decode()
    assert NOSCRIPT_REFRESH not in body
    assert "updates by itself" not in body


def test_the_poll_reloads_the_page_once_the_links_settle(client, coordinator, approved_assignment):
    link = _link(approved_assignment, ObserverLink.State.UNLINKING)
    url = reverse("sync:assignment_links", args=[approved_assignment.pk])
    headers = {"HX-Request": "true", "HX-Trigger": "sync-links"}
    still = login(client, coordinator).get(url, headers=headers)
    assert "HX-Refresh" not in still.headers
    link.state = ObserverLink.State.UNLINKED
    link.save()
    done = client.get(url, headers=headers)
    assert done.headers["HX-Refresh"] == "true"
    assert "Removed from Canvas" in done.content.decode()


def test_the_timeline_reads_without_codes_and_with_time_zones(
    client, coordinator, second_coordinator, approved_assignment
):
    from mentorship.audit.actions import Action
    from mentorship.audit.services import audit_record

    audit_record(
        action=Action.ASSIGNMENT_APPROVED,
        actor=second_coordinator,
        program=approved_assignment.program,
        obj=approved_assignment,
        outcome="warning",
        details={"note": "ok"},
    )
    body = login(client, coordinator).get(reverse("assignments:detail", args=[approved_assignment.pk])).content
    text = body.decode()
    assert "warning: ok" not in text
    assert "warnings confirmed</span> · Note: ok" in text
    assert ">Sam Second</span>" in text
    assert " UTC</time>" in text


def test_an_ended_assignment_says_who_approved_it(client, coordinator, second_coordinator, approved_assignment):
    from mentorship.assignments import services

    services.assignment_end(assignment=approved_assignment, actor=coordinator, reason="Moved away")
    body = login(client, coordinator).get(reverse("assignments:detail", args=[approved_assignment.pk])).content
    assert "Approved by Sam Second" in body.decode()
    assert "Ended by Sam Second" not in body.decode()

"""A proposal can be edited until it is decided (locked, audited with what changed); a rejected or ended one can be
proposed again from a prefilled form."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments import services
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _form(assignment, **changes):
    data = {
        "starts_on": assignment.starts_on.isoformat(),
        "ends_on": assignment.ends_on.isoformat(),
        "link_method": assignment.link_method,
        "reason": assignment.reason,
    }
    return data | changes


def test_editing_a_proposal_changes_it_and_records_what_changed(client, coordinator, assignment):
    new_end = assignment.ends_on - datetime.timedelta(days=10)
    url = reverse("assignments:edit", args=[assignment.pk])
    response = login(client, coordinator).post(
        url, _form(assignment, ends_on=new_end.isoformat(), reason="Reading support")
    )
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert assignment.ends_on == new_end and assignment.reason == "Reading support"
    event = AuditEvent.objects.get(action=Action.ASSIGNMENT_UPDATED)
    assert event.actor == coordinator
    assert event.details["changes"] == {
        "ends_on": [(new_end + datetime.timedelta(days=10)).isoformat(), new_end.isoformat()],
        "reason": ["Learning support aide", "Reading support"],
    }
    assert "starts_on" not in event.details["changes"]


def test_a_second_submit_changes_nothing_and_says_so(client, coordinator, assignment):
    url = reverse("assignments:edit", args=[assignment.pk])
    data = _form(assignment, reason="Reading support")
    login(client, coordinator).post(url, data)
    response = client.post(url, data, follow=True)
    assert "Nothing was changed" in response.content.decode()
    assert AuditEvent.objects.filter(action=Action.ASSIGNMENT_UPDATED).count() == 1


def test_a_decided_proposal_cannot_be_edited(client, coordinator, approved_assignment):
    url = reverse("assignments:edit", args=[approved_assignment.pk])
    response = login(client, coordinator).post(url, _form(approved_assignment, reason="Changed"), follow=True)
    assert "Only a proposal waiting for a decision can be edited" in response.content.decode()
    approved_assignment.refresh_from_db()
    assert approved_assignment.reason != "Changed"
    assert not AuditEvent.objects.filter(action=Action.ASSIGNMENT_UPDATED).exists()


def test_the_service_refuses_once_someone_decided_first(coordinator, second_coordinator, assignment):
    stale = type(assignment).objects.get(pk=assignment.pk)
    services.assignment_reject(assignment=assignment, actor=second_coordinator, reason="No")
    with pytest.raises(services.AssignmentError, match="rejected meanwhile"):
        services.assignment_update(
            assignment=stale,
            actor=coordinator,
            starts_on=stale.starts_on,
            ends_on=stale.ends_on,
            link_method=stale.link_method,
            reason="Changed",
        )


def test_bad_dates_are_refused_in_words_and_change_nothing(client, coordinator, assignment):
    url = reverse("assignments:edit", args=[assignment.pk])
    past = timezone.localdate() - datetime.timedelta(days=3)
    response = login(client, coordinator).post(url, _form(assignment, ends_on=past.isoformat()))
    assert response.status_code == 200
    assert "end date" in response.content.decode()
    assignment.refresh_from_db()
    assert assignment.ends_on != past


def test_only_coordinators_of_the_program_may_edit(client, other_coordinator, assignment):
    response = login(client, other_coordinator).get(reverse("assignments:edit", args=[assignment.pk]))
    assert response.status_code == 404


def test_propose_again_prefills_the_form_from_a_rejected_one(client, coordinator, second_coordinator, assignment):
    services.assignment_reject(assignment=assignment, actor=second_coordinator, reason="Wrong term")
    detail = login(client, coordinator).get(reverse("assignments:detail", args=[assignment.pk]))
    link = detail.context["propose_again"]
    assert f"mentor={assignment.mentor_id}" in link and f"student={assignment.student_id}" in link
    page = client.get(f"{reverse('assignments:create')}?{link}")
    form = page.context["form"]
    assert str(form.initial["mentor"]) == str(assignment.mentor_id)
    assert form.initial["reason"] == assignment.reason
    assert assignment.mentor.label in page.content.decode()


def test_the_import_page_offers_a_template_and_the_example(client, coordinator):
    from mentorship.assignments.csv_import import read_csv

    page = login(client, coordinator).get(reverse("assignments:import")).content.decode()
    assert reverse("assignments:import_template") in page and reverse("assignments:import_sample") in page
    template = client.get(reverse("assignments:import_template"))
    assert template["Content-Disposition"] == 'attachment; filename="assignments-template.csv"'
    assert template.content.decode() == "mentor,student,starts_on,ends_on,scope,method,reason\n"
    sample = client.get(reverse("assignments:import_sample"))
    rows = sample.content.decode().splitlines()
    assert rows[0] == "mentor,student,starts_on,ends_on,scope,method,reason" and len(rows) == 4
    assert len(read_csv([sample.content])) == 3  # the import reads its own example


@pytest.mark.parametrize("name", ["assignments:import_template", "assignments:import_sample"])
def test_the_downloads_are_for_coordinators_only(client, auditor, name):
    assert login(client, auditor).get(reverse(name)).status_code == 404

"""Waiting for you: the dashboard's queue of decisions, the e-mails that announce them, the mentor's e-mails, and
the dashboard's smaller points (each figure once, a date on the time, why "Need attention")."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments import notifications, services
from mentorship.assignments.models import CsvImport, MentorAssignment
from mentorship.sync.models import PairingCode, ReconciliationRun
from tests.conftest import login
from tests.factories import AssignmentFactory, propose


def _propose(program, coordinator, mentor_person, student_person) -> MentorAssignment:
    return propose(
        program, coordinator, mentor_person, student_person, ends_on=timezone.localdate() + datetime.timedelta(days=60)
    )


@pytest.mark.django_db(transaction=True)
def test_a_proposal_needing_a_second_approver_mails_the_others_a_link_and_waits_in_their_queue(
    client, program, coordinator, second_coordinator, mentor_person, student_person
):
    program.requires_second_approver = True
    program.save()
    assignment = _propose(program, coordinator, mentor_person, student_person)
    assert [m.to for m in mail.outbox] == [[second_coordinator.email]]  # not the proposer
    message = mail.outbox[0]
    assert "Waiting for your approval" in message.subject and "Sasha Student" in message.subject
    link = re.search(r"https?://\S+(/assignments/\d+/)", message.body).group(1)
    assert link == reverse("assignments:detail", args=[assignment.pk])

    login(client, second_coordinator)
    page = client.get(reverse("core:dashboard"))
    assert page.context["waiting_total"] == 1
    assert page.context["waiting"][0].url == link
    assert "Waiting for you (1)" in page.content.decode()

    login(client, coordinator)  # the proposer may not approve: nothing waits for them
    assert client.get(reverse("core:dashboard")).context["waiting_total"] == 0


@pytest.mark.django_db(transaction=True)
def test_no_mail_when_the_program_needs_no_second_approver(
    program, coordinator, second_coordinator, mentor_person, student_person
):
    _propose(program, coordinator, mentor_person, student_person)
    assert mail.outbox == []


@pytest.mark.django_db
def test_held_removals_and_unconfirmed_imports_wait_too(client, program, coordinator):
    ReconciliationRun.objects.create(program=program, started_at=timezone.now(), status=ReconciliationRun.Status.HELD)
    CsvImport.objects.create(program=program, uploaded_by=coordinator, filename="autumn.csv", content="x", row_count=3)
    login(client, coordinator)
    waiting = client.get(reverse("core:dashboard")).context["waiting"]
    assert [w.kind for w in waiting] == ["Confirm removals", "Confirm import"]
    assert waiting[0].url == reverse("sync:drift")
    status = client.get(waiting[1].url).content.decode()
    assert 'action="' + reverse("assignments:import_confirm", args=[CsvImport.objects.get().pk]) in status


@pytest.mark.django_db(transaction=True)
def test_ending_early_mails_the_mentor_without_the_reason_or_a_code(approved_assignment, coordinator):
    PairingCode.objects.create(
        assignment=approved_assignment,
        student=approved_assignment.student,
        code="QX7ZK2",
        issued_at=timezone.now(),
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )
    mail.outbox.clear()
    services.assignment_end(assignment=approved_assignment, actor=coordinator, reason="Private family matter")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [approved_assignment.mentor.email]
    assert "ended early" in message.body and "Sasha Student" in message.body
    assert "Private family matter" not in message.body and "QX7ZK2" not in message.body


@pytest.mark.django_db
def test_mentors_hear_a_week_before_their_assignment_ends(program, coordinator, mentor_person, student_person):
    today = timezone.localdate()
    AssignmentFactory(
        program=program,
        mentor=mentor_person,
        student=student_person,
        status="approved",
        starts_on=today - datetime.timedelta(days=30),
        ends_on=today + datetime.timedelta(days=7),
    )
    assert notifications.send_mentor_ending_notices(today=today) == 1
    assert "ends on" in mail.outbox[0].body and mail.outbox[0].to == [mentor_person.email]
    assert notifications.send_mentor_ending_notices(today=today + datetime.timedelta(days=1)) == 0


@pytest.mark.django_db
def test_dashboard_shows_each_figure_once_with_a_dated_time_and_says_why_attention(client, coordinator):
    login(client, coordinator)
    body = client.get(reverse("core:dashboard")).content.decode()
    assert re.search(r"Figures as of \d{4}-\d{2}-\d{2} \d{2}:\d{2}", body)
    assert body.count("Assignments by status") == 1  # the cards; no second chart of the same counts
    assert 'id="chart-assignmentsbystatus"' not in body
    assert "Issued: 0" not in body  # the pairing-code chart carries the numbers; no second line of them
    assert "“Need attention”: a Canvas link that failed" in body
    assert 'aria-describedby="attention-why"' in body


@pytest.mark.django_db
def test_role_menu_lists_people_by_name(client, admin_user, program, coordinator):
    login(client, admin_user)
    body = client.get(reverse("assignments:program", args=[program.pk])).content.decode()
    assert ">Casey Coordinator (coordinator)</option>" in body


@pytest.mark.django_db
def test_the_queue_costs_the_same_queries_for_few_or_many_items(client, program, coordinator, second_coordinator):
    from tests.performance.test_query_counts import assert_flat

    program.requires_second_approver = True
    program.save()
    login(client, second_coordinator)

    def add(start: int, stop: int) -> None:
        for _ in range(start, stop):
            AssignmentFactory(program=program, proposed_by=coordinator)

    assert_flat(client, reverse("core:dashboard"), add, lambda r: r.context["waiting_total"])

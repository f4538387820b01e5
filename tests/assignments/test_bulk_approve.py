"""Bulk approval: one service call, one transaction, one publish; rules and warnings per row; locking; the
filter-wide approval with its confirm page; the background job and its status page; Canvas failing at approval.

docs/decisions.md, "Bulk approve: one transaction, one publish" and "Approval waits for the student check".
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from canvas_client import CanvasClient, NullLimiter
from fake_canvas.testing import WSGIAdapter
from mentorship.assignments import services
from mentorship.assignments.models import BulkApproval, MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.people import services as people_services
from mentorship.sync import services as sync_services
from mentorship.sync.models import ObserverLink
from tests.assignments.test_views import msgs
from tests.conftest import login
from tests.coordinator_canvas import BASE, TOKEN
from tests.factories import AssignmentFactory, PersonFactory
from tests.helpers import race

Status = MentorAssignment.Status


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Every hand-over to sync (links_enqueue), as the list of link ids it carried; nothing is published."""
    calls: list[list[int]] = []
    monkeypatch.setattr(sync_services, "links_enqueue", lambda *, links: calls.append([link.pk for link in links]))
    return calls


def recording(sent: list[int]) -> Any:
    """A bulk_approval_enqueue that notes the job and says the broker took it."""

    def enqueue(*, job: BulkApproval) -> bool:
        sent.append(job.pk)
        return True

    return enqueue


def proposals(program: Any, coordinator: Any, n: int, *, mentor: Any = None) -> list[MentorAssignment]:
    return [
        AssignmentFactory(program=program, proposed_by=coordinator, **({"mentor": mentor} if mentor else {}))
        for _ in range(n)
    ]


def approved_events() -> int:
    return AuditEvent.objects.filter(action="assignment.approved", outcome__in=["ok", "warning"]).count()


def test_one_call_approves_every_row_and_publishes_all_links_once(
    program, second_coordinator, coordinator, enqueued, django_capture_on_commit_callbacks
):
    rows = proposals(program, coordinator, 5)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.assignments_bulk_approve(assignment_ids=[a.pk for a in rows], actor=second_coordinator)
    assert [r.ok for r in result.rows] == [True] * 5
    assert MentorAssignment.objects.filter(status=Status.APPROVED).count() == 5
    assert approved_events() == 5
    links = set(ObserverLink.objects.values_list("pk", flat=True))
    assert len(links) == 5 and result.links == 5
    assert len(enqueued) == 1 and set(enqueued[0]) == links  # one hand-over: the SIS threshold can be crossed
    assert set(MentorAssignment.objects.values_list("generation", flat=True)) == {1}


def test_a_mentor_is_checked_once_per_batch_and_then_from_the_person_row(program, coordinator, canvas, enqueued):
    mentor = canvas.person("Morgan Mentor", "M-1")
    rows = proposals(program, coordinator, 4, mentor=mentor)
    program.mentor_capacity = 10
    program.save()
    canvas.fake.clear_request_log()
    services.assignments_bulk_approve(assignment_ids=[a.pk for a in rows[:3]], actor=coordinator)
    enrollment_reads = [r for r in canvas.fake.request_log if "/enrollments" in r["path"]]
    assert len(enrollment_reads) == 1
    services.assignments_bulk_approve(assignment_ids=[rows[3].pk], actor=coordinator)
    assert len([r for r in canvas.fake.request_log if "/enrollments" in r["path"]]) == 1  # the cached answer
    assert MentorAssignment.objects.filter(status=Status.APPROVED).count() == 4


def test_a_double_submit_is_a_no_op_saying_already_approved(program, coordinator, second_coordinator, enqueued):
    rows = proposals(program, coordinator, 3)
    ids = [a.pk for a in rows]
    services.assignments_bulk_approve(assignment_ids=ids, actor=second_coordinator)
    links, events = ObserverLink.objects.count(), AuditEvent.objects.count()
    again = services.assignments_bulk_approve(assignment_ids=ids, actor=coordinator)
    assert not again.approved and again.links == 0
    assert all("already approved" in r.message for r in again.rows)
    assert ObserverLink.objects.count() == links and AuditEvent.objects.count() == events


def test_rules_hold_per_row_second_approver_and_capacity_within_the_batch(
    program, coordinator, second_coordinator, enqueued
):
    program.requires_second_approver = True
    program.mentor_capacity = 2
    program.save()
    mentor = PersonFactory()
    mine = proposals(program, coordinator, 3, mentor=mentor)
    theirs = AssignmentFactory(program=program, proposed_by=second_coordinator)
    result = services.assignments_bulk_approve(assignment_ids=[*[a.pk for a in mine], theirs.pk], actor=coordinator)
    assert [r.ok for r in result.rows] == [False, False, False, True]
    assert all("second coordinator" in r.message for r in result.rows[:3])
    result = services.assignments_bulk_approve(assignment_ids=[a.pk for a in mine], actor=second_coordinator)
    assert [r.ok for r in result.rows] == [True, True, False]
    assert "allows 2 per mentor" in result.rows[2].message
    refused = AuditEvent.objects.filter(action="assignment.approved", outcome="refused")
    assert sorted(int(e.object_id) for e in refused) == sorted([a.pk for a in mine] + [mine[2].pk])


def test_unconfirmed_warnings_skip_the_row_and_confirmed_ones_are_recorded(program, coordinator, canvas, enqueued):
    peer = canvas.person("Pat Peer", "S-1187", courses=(canvas.algebra,))
    plain = canvas.person("Alex Aide", "AIDE-1")
    student = canvas.person("Sam Young", "S-2044", courses=(canvas.biology,))
    a = AssignmentFactory(program=program, mentor=peer, student=student, proposed_by=coordinator)
    b = AssignmentFactory(program=program, mentor=plain, proposed_by=coordinator)
    result = services.assignments_bulk_approve(assignment_ids=[a.pk, b.pk], actor=coordinator)
    assert [r.ok for r in result.rows] == [False, True]
    assert "please confirm" in result.rows[0].message and "is a student in Canvas" in result.rows[0].message
    result = services.assignments_bulk_approve(
        assignment_ids=[a.pk], actor=coordinator, acknowledged=["student_to_student"]
    )
    a.refresh_from_db()
    assert result.rows[0].ok and [w["code"] for w in a.warnings_acknowledged] == ["student_to_student"]


# --- Canvas failing at approval ----------------------------------------------------------------------------------


@pytest.fixture
def refused_token(canvas, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake Canvas answers the portal with 401 + WWW-Authenticate: the token was revoked."""
    session = requests.Session()
    session.mount(BASE, WSGIAdapter(canvas.fake.wsgi_app))
    monkeypatch.setattr(
        people_services,
        "lookup_client",
        lambda: CanvasClient(BASE, TOKEN + "-revoked", session=session, limiter=NullLimiter(), sleep=lambda s: None),
    )


def test_a_refused_token_is_named_and_the_approval_waits(program, coordinator, assignment, refused_token):
    with pytest.raises(services.NeedsConfirmation, match="Canvas refused the portal's token") as caught:
        services.assignment_approve(assignment=assignment, actor=coordinator)
    assert "could not be reached" not in str(caught.value)
    assignment.refresh_from_db()
    assert assignment.status == Status.PROPOSED and assignment.warnings_acknowledged == []
    assert not AuditEvent.objects.filter(action="assignment.approved").exists()


def test_bulk_rows_wait_when_canvas_is_down_unless_the_check_is_waived(program, coordinator, canvas_down, enqueued):
    rows = proposals(program, coordinator, 2)
    result = services.assignments_bulk_approve(assignment_ids=[a.pk for a in rows], actor=coordinator)
    assert not result.approved
    assert all("Canvas could not be reached" in r.message for r in result.rows)
    assert not MentorAssignment.objects.filter(status=Status.APPROVED).exists()
    result = services.assignments_bulk_approve(
        assignment_ids=[a.pk for a in rows], actor=coordinator, acknowledged=[services.CHECK_SKIPPED]
    )
    assert len(result.approved) == 2
    codes = {w["code"] for a in MentorAssignment.objects.all() for w in a.warnings_acknowledged}
    assert codes == {services.CHECK_SKIPPED}


def test_the_detail_page_lists_only_warnings_someone_confirmed(client, program, coordinator, assignment, canvas_down):
    login(client, coordinator)
    response = client.post(reverse("assignments:approve", args=[assignment.pk]), {"note": ""})
    page = response.content.decode()
    assert "Canvas could not be reached" in page and 'value="student_check_skipped"' in page
    assignment.refresh_from_db()
    assert assignment.status == Status.PROPOSED
    detail = client.get(reverse("assignments:detail", args=[assignment.pk])).content.decode()
    assert "Warnings confirmed" not in detail


# --- locking: two coordinators at once --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_bulk_approvals_of_the_same_rows_create_each_link_once(program, coordinator, second_coordinator):
    """Two threads, two connections: on PostgreSQL the row locks (select_for_update) serialise them and the state
    check inside the lock turns the second into "already approved"; on SQLite the file lock does."""
    rows = proposals(program, coordinator, 6)
    ids = [a.pk for a in rows]

    def approve() -> Any:
        return services.assignments_bulk_approve(assignment_ids=ids, actor=second_coordinator)

    # SQLite may answer "database is locked" to one thread: nothing changed for it, its exception is in the list.
    outcomes = race(approve, approve)
    results = [o for o in outcomes if isinstance(o, services.BulkApproveResult)]
    assert results, outcomes
    assert sum(len(r.approved) for r in results) == 6
    assert ObserverLink.objects.count() == 6
    assert sorted(ObserverLink.objects.values_list("assignment_id", flat=True)) == ids
    assert approved_events() == 6


# --- pages: all matching, the confirm, the background job --------------------------------------------------------


def test_approve_all_matching_confirms_the_count_then_approves_inline(client, program, coordinator, enqueued):
    rows = proposals(program, coordinator, 3)
    other = AssignmentFactory(program=program, status=Status.REJECTED)
    login(client, coordinator)
    query = f"program={program.pk}"
    response = client.post(reverse("assignments:bulk"), {"decision": "approve_all", "next": query})
    page = response.content.decode()
    assert response.status_code == 200 and "Approve all 3 matching proposals?" in page
    assert not MentorAssignment.objects.filter(status=Status.APPROVED).exists()
    response = client.post(
        reverse("assignments:bulk"), {"decision": "approve_all", "next": query, "confirmed": "1", "expected": "3"}
    )
    assert msgs(response)[0] == "3 of 3 matching assignments approved."
    assert set(MentorAssignment.objects.filter(status=Status.APPROVED).values_list("pk", flat=True)) == {
        a.pk for a in rows
    }
    other.refresh_from_db()
    assert other.status == Status.REJECTED
    again = client.post(
        reverse("assignments:bulk"), {"decision": "approve_all", "next": query, "confirmed": "1", "expected": "3"}
    )
    assert "These proposals are already approved or decided: nothing was changed." in msgs(again)
    assert approved_events() == 3


def test_approve_all_asks_again_when_the_match_changed(client, program, coordinator, enqueued):
    proposals(program, coordinator, 2)
    login(client, coordinator)
    response = client.post(
        reverse("assignments:bulk"), {"decision": "approve_all", "next": "", "confirmed": "1", "expected": "5"}
    )
    assert "Approve all 2 matching proposals?" in response.content.decode()
    assert any("5 then, 2 now" in m for m in msgs(response))
    assert not MentorAssignment.objects.filter(status=Status.APPROVED).exists()


def test_a_big_approval_runs_on_the_worker_behind_a_status_page(
    client,
    program,
    coordinator,
    second_coordinator,
    settings,
    monkeypatch,
    enqueued,
    django_capture_on_commit_callbacks,
):
    settings.BULK_APPROVE_INLINE_MAX = 2
    sent: list[int] = []
    monkeypatch.setattr(services, "bulk_approval_enqueue", recording(sent))
    rows = proposals(program, coordinator, 3)
    done_before = AssignmentFactory(program=program, proposed_by=coordinator)
    login(client, second_coordinator)
    ids = [a.pk for a in rows] + [done_before.pk]
    response = client.post(reverse("assignments:bulk"), {"decision": "approve_all", "confirmed": "1", "expected": "4"})
    job = BulkApproval.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("assignments:bulk_status", args=[job.pk])
    assert sent == [job.pk] and job.assignment_ids == sorted(ids) and job.state == "queued"
    status = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in status and "Waiting for a background worker" in status
    # The same submit again while it waits: no second job.
    again = client.post(reverse("assignments:bulk"), {"decision": "approve_all", "confirmed": "1", "expected": "4"})
    assert BulkApproval.objects.count() == 1 and "already on its way" in msgs(again)[0]
    services.assignment_approve(assignment=done_before, actor=second_coordinator)  # decided meanwhile
    with django_capture_on_commit_callbacks(execute=True):
        assert services.bulk_approval_run(job_id=job.pk, client=people_services.lookup_client()) == "done"
    assert services.bulk_approval_run(job_id=job.pk) == "skipped"  # a duplicate delivery
    job.refresh_from_db()
    assert job.approved_count == 3 and job.links_count == 3
    assert [row["id"] for row in job.skipped] == [done_before.pk] and "already approved" in job.skipped[0]["reason"]
    status = client.get(reverse("assignments:bulk_status", args=[job.pk])).content.decode()
    assert 'http-equiv="refresh"' not in status and "Approved 3 of 4" in status and "already approved" in status
    assert len(enqueued) == 1 and len(enqueued[0]) == 3


def test_the_status_page_is_the_requesters_own(client, program, coordinator, second_coordinator):
    job = BulkApproval.objects.create(requested_by=coordinator, assignment_ids=[], total=0)
    login(client, second_coordinator)
    assert client.get(reverse("assignments:bulk_status", args=[job.pk])).status_code == 404


def test_a_broker_that_cannot_take_the_job_says_so_and_approves_nothing(
    client, program, coordinator, settings, monkeypatch
):
    settings.BULK_APPROVE_INLINE_MAX = 0
    monkeypatch.setattr(services, "bulk_approval_enqueue", lambda *, job: False)
    a = AssignmentFactory(program=program)
    login(client, coordinator)
    response = client.post(reverse("assignments:bulk"), {"decision": "approve", "ids": [a.pk]})
    assert any("cannot take the approval right now" in m for m in msgs(response))
    a.refresh_from_db()
    assert a.status == Status.PROPOSED and BulkApproval.objects.get().state == "failed"


def test_a_queued_job_is_sent_again_after_the_grace(program, coordinator, monkeypatch):
    sent: list[int] = []
    from mentorship.assignments.services import bulk

    monkeypatch.setattr(bulk, "bulk_approval_enqueue", recording(sent))
    old = BulkApproval.objects.create(requested_by=coordinator, assignment_ids=[], total=0)
    BulkApproval.objects.create(requested_by=coordinator, assignment_ids=[], total=0)
    BulkApproval.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(minutes=11))
    assert services.bulk_approvals_requeue() == 1 and sent == [old.pk]


def test_course_scoped_rows_get_one_link_per_course_in_the_same_hand_over(
    program, coordinator, second_coordinator, enqueued, django_capture_on_commit_callbacks
):
    from mentorship.assignments.models import AssignmentCourse, LinkMethod

    scoped = AssignmentFactory(
        program=program, proposed_by=coordinator, link_method=LinkMethod.COURSES, scope=MentorAssignment.Scope.COURSES
    )
    for course_id in (501, 502):
        AssignmentCourse.objects.create(assignment=scoped, canvas_course_id=course_id)
    whole = AssignmentFactory(program=program, proposed_by=coordinator)
    later = AssignmentFactory(
        program=program,
        proposed_by=coordinator,
        starts_on=timezone.localdate() + datetime.timedelta(days=10),
        ends_on=timezone.localdate() + datetime.timedelta(days=40),
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = services.assignments_bulk_approve(
            assignment_ids=[scoped.pk, whole.pk, later.pk], actor=second_coordinator
        )
    assert len(result.approved) == 3 and result.links == 3
    rows = set(ObserverLink.objects.values_list("assignment_id", "kind", "canvas_course_id"))
    assert rows == {(scoped.pk, "course", 501), (scoped.pk, "course", 502), (whole.pk, "observee", None)}
    assert len(enqueued) == 1 and len(enqueued[0]) == 3  # the future one is planned when its start date comes
    states = dict(MentorAssignment.objects.values_list("pk", "link_state"))
    assert states == {scoped.pk: "pending", whole.pk: "pending", later.pk: "none"}


def test_many_mentors_are_read_together_once_each(program, coordinator, canvas, enqueued):
    peer = canvas.person("Pat Peer", "S-1187", courses=(canvas.algebra,))
    others = [canvas.person(f"Mentor {i}", f"M-{i}") for i in range(4)]
    student = canvas.person("Sam Young", "S-2044", courses=(canvas.algebra,))
    rows = [AssignmentFactory(program=program, mentor=m, proposed_by=coordinator) for m in others]
    rows.append(AssignmentFactory(program=program, mentor=peer, student=student, proposed_by=coordinator))
    canvas.fake.clear_request_log()
    result = services.assignments_bulk_approve(assignment_ids=[a.pk for a in rows], actor=coordinator)
    reads = sorted(r["path"] for r in canvas.fake.request_log if r["path"].endswith("/enrollments"))
    people = [*others, peer, student]  # the studying mentor's all-courses row needs the student's courses too
    assert reads == sorted(f"/api/v1/users/{p.canvas_user_id}/enrollments" for p in people)
    assert [r.ok for r in result.rows] == [True, True, True, True, False]
    assert "is a student in 1 of the courses in scope" in result.rows[4].message


def test_a_job_skips_rows_of_a_program_its_coordinator_no_longer_coordinates(
    program, other_program, coordinator, second_coordinator, other_coordinator, enqueued
):
    from mentorship.accounts.models import ProgramRole

    ProgramRole.objects.create(program=other_program, user=second_coordinator, role=ProgramRole.Role.COORDINATOR)
    mine = AssignmentFactory(program=program, proposed_by=coordinator)
    theirs = AssignmentFactory(program=other_program, proposed_by=other_coordinator)
    job = BulkApproval.objects.create(requested_by=second_coordinator, assignment_ids=[mine.pk, theirs.pk], total=2)
    ProgramRole.objects.filter(program=other_program, user=second_coordinator).delete()
    assert services.bulk_approval_run(job_id=job.pk, client=people_services.lookup_client()) == "done"
    job.refresh_from_db()
    assert job.approved_count == 1
    assert job.skipped == [
        {
            "id": theirs.pk,
            "label": f"Assignment {theirs.pk}",
            "reason": "not changed: you no longer coordinate its program.",
        }
    ]
    theirs.refresh_from_db()
    assert theirs.status == Status.PROPOSED

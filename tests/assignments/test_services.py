"""Every rule and action of the approval workflow, including the refusals.

The rules: docs/architecture.md, "Rules of an assignment".
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from mentorship.accounts.models import ProgramRole
from mentorship.assignments import program_roles as role_services
from mentorship.assignments import services
from mentorship.assignments.models import AssignmentCourse, LinkMethod, MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.sync.models import ObserverLink
from tests.factories import AssignmentFactory, ProgramFactory, UserFactory, propose

Status = MentorAssignment.Status
TODAY = datetime.date.today


def events(action: str, obj: Any = None) -> list[AuditEvent]:
    qs = AuditEvent.objects.filter(action=action)
    if obj is not None:
        qs = qs.filter(object_id=str(obj.pk))
    return list(qs.order_by("id"))


# --- propose -----------------------------------------------------------------------------------------------------


def test_propose_records_the_proposal_and_its_audit_event(program, coordinator, mentor_person, student_person):
    a = propose(program, coordinator, mentor_person, student_person)
    assert a.status == Status.PROPOSED
    assert a.link_method == program.default_link_method
    (event,) = events("assignment.proposed", a)
    assert event.details["mentor"] == mentor_person.canvas_user_id
    assert event.student_id == student_person.pk


def test_closed_program_refuses_proposals_and_approvals(program, coordinator, assignment):
    program.is_active = False
    program.save()
    with pytest.raises(services.AssignmentError, match="is closed"):
        propose(program, coordinator)
    with pytest.raises(services.AssignmentError, match="is closed"):
        services.assignment_approve(assignment=assignment, actor=coordinator)


def test_propose_refuses_mentor_equal_to_student(program, coordinator, mentor_person):
    with pytest.raises(services.AssignmentError, match="same person"):
        propose(program, coordinator, mentor_person, mentor_person)
    assert not MentorAssignment.objects.exists()


def test_propose_refuses_end_before_start(program, coordinator):
    today = timezone.localdate()
    with pytest.raises(services.AssignmentError, match="end date is before"):
        propose(program, coordinator, starts_on=today, ends_on=today - datetime.timedelta(days=1))


def test_propose_refuses_longer_than_the_program_allows(program, coordinator):
    program.max_assignment_days = 10
    program.save()
    today = timezone.localdate()
    with pytest.raises(services.AssignmentError, match="allows at most 10"):
        propose(program, coordinator, starts_on=today, ends_on=today + datetime.timedelta(days=10))


def test_propose_refuses_a_duplicate_overlapping_proposal(program, coordinator, mentor_person, student_person):
    propose(program, coordinator, mentor_person, student_person)
    with pytest.raises(services.AssignmentError, match=r"already has an assignment \(proposed\)"):
        propose(program, coordinator, mentor_person, student_person)


def test_propose_allows_the_same_pair_in_another_period(program, coordinator, mentor_person, student_person):
    today = timezone.localdate()
    propose(program, coordinator, mentor_person, student_person, ends_on=today + datetime.timedelta(days=5))
    later = propose(
        program,
        coordinator,
        mentor_person,
        student_person,
        starts_on=today + datetime.timedelta(days=6),
        ends_on=today + datetime.timedelta(days=20),
    )
    assert later.pk


def test_propose_requires_a_reason_and_courses_for_the_courses_method(program, coordinator):
    with pytest.raises(services.AssignmentError, match="reason is required"):
        propose(program, coordinator, reason="  ")
    with pytest.raises(services.AssignmentError, match="at least one course"):
        propose(program, coordinator, link_method=LinkMethod.COURSES)


def test_propose_with_courses_stores_the_scope(program, coordinator):
    a = propose(
        program,
        coordinator,
        link_method=LinkMethod.COURSES,
        courses=[AssignmentCourse(canvas_course_id=7, sis_course_id="ALG", name="Algebra")],
    )
    assert a.scope == MentorAssignment.Scope.COURSES
    assert list(a.courses.values_list("canvas_course_id", flat=True)) == [7]


# --- approve -----------------------------------------------------------------------------------------------------


def test_approve_plans_links_and_mails_the_mentor(
    program, coordinator, assignment, django_capture_on_commit_callbacks, monkeypatch
):
    enqueued: list[Any] = []
    monkeypatch.setattr("mentorship.sync.services.links_enqueue", lambda *, links: enqueued.extend(links))
    assignment.mentor.email = "morgan@school.test"
    assignment.mentor.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.assignment_approve(assignment=assignment, actor=coordinator, note="ok")
    assignment.refresh_from_db()
    assert assignment.status == Status.APPROVED
    assert assignment.decided_by == coordinator
    assert assignment.generation == 1
    link = ObserverLink.objects.get(assignment=assignment)
    assert link.state == ObserverLink.State.PENDING and link.generation == 1
    assert [x.pk for x in enqueued] == [link.pk]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["morgan@school.test"]
    (event,) = events("assignment.approved", assignment)
    assert event.details["note"] == "ok"


def test_approve_of_a_future_assignment_plans_no_links_yet(program, coordinator, assignment):
    today = timezone.localdate()
    MentorAssignment.objects.filter(pk=assignment.pk).update(
        starts_on=today + datetime.timedelta(days=3), ends_on=today + datetime.timedelta(days=30)
    )
    assignment.refresh_from_db()
    services.assignment_approve(assignment=assignment, actor=coordinator)
    assert not ObserverLink.objects.filter(assignment=assignment).exists()


def test_approve_refuses_own_proposal_when_program_needs_a_second_approver(program, coordinator, assignment):
    program.requires_second_approver = True
    program.save()
    with pytest.raises(services.AssignmentError, match="second coordinator"):
        services.assignment_approve(assignment=assignment, actor=coordinator)
    assignment.refresh_from_db()
    assert assignment.status == Status.PROPOSED
    (refusal,) = events("assignment.approved", assignment)
    assert refusal.outcome == "refused"


def test_second_coordinator_may_approve_when_required(program, second_coordinator, assignment):
    program.requires_second_approver = True
    program.save()
    services.assignment_approve(assignment=assignment, actor=second_coordinator)
    assignment.refresh_from_db()
    assert assignment.status == Status.APPROVED


def test_approve_refuses_over_capacity(program, coordinator, mentor_person):
    program.mentor_capacity = 1
    program.save()
    first = AssignmentFactory(program=program, mentor=mentor_person, proposed_by=coordinator)
    second = AssignmentFactory(program=program, mentor=mentor_person, proposed_by=coordinator)
    services.assignment_approve(assignment=first, actor=coordinator)
    with pytest.raises(services.AssignmentError, match="allows 1 per mentor"):
        services.assignment_approve(assignment=second, actor=coordinator)


def test_approve_refuses_an_overlapping_approved_assignment_for_the_pair(
    program, coordinator, mentor_person, student_person
):
    a = AssignmentFactory(program=program, mentor=mentor_person, student=student_person, status=Status.APPROVED)
    b = AssignmentFactory(program=program, mentor=mentor_person, student=student_person, proposed_by=coordinator)
    with pytest.raises(services.AssignmentError, match=r"already has an assignment \(approved\)"):
        services.assignment_approve(assignment=b, actor=coordinator)
    assert a.pk != b.pk


def test_approve_refuses_dates_beyond_the_program_maximum(program, coordinator, assignment):
    program.max_assignment_days = 30
    program.save()
    with pytest.raises(services.AssignmentError, match="allows at most 30"):
        services.assignment_approve(assignment=assignment, actor=coordinator)


def test_approve_refuses_an_assignment_whose_end_passed(program, coordinator, assignment):
    past = timezone.localdate() - datetime.timedelta(days=2)
    MentorAssignment.objects.filter(pk=assignment.pk).update(starts_on=past - datetime.timedelta(days=5), ends_on=past)
    assignment.refresh_from_db()
    with pytest.raises(services.AssignmentError, match="already passed"):
        services.assignment_approve(assignment=assignment, actor=coordinator)


def test_approve_waits_for_the_student_check_when_canvas_is_unreachable(program, coordinator, assignment, canvas_down):
    """docs/decisions.md, "Approval waits for the student check": never skipped without the approver's say."""
    with pytest.raises(services.NeedsConfirmation, match="Canvas could not be reached") as caught:
        services.assignment_approve(assignment=assignment, actor=coordinator)
    assert [w.code for w in caught.value.warnings] == [services.CHECK_SKIPPED]
    assignment.refresh_from_db()
    assert assignment.status == Status.PROPOSED and assignment.warnings_acknowledged == []
    services.assignment_approve(assignment=assignment, actor=coordinator, acknowledged=[services.CHECK_SKIPPED])
    assignment.refresh_from_db()
    assert assignment.status == Status.APPROVED
    assert [w["code"] for w in assignment.warnings_acknowledged] == [services.CHECK_SKIPPED]
    (event,) = events("assignment.approved", assignment)
    assert event.outcome == "warning" and event.details["warnings_acknowledged"] == [services.CHECK_SKIPPED]


def test_approve_asks_to_confirm_student_linked_to_student(program, coordinator, canvas):
    mentor = canvas.person("Pat Peer", "S-1187", courses=(canvas.algebra,))
    student = canvas.person("Sam Young", "S-2044", courses=(canvas.algebra, canvas.biology))
    a = AssignmentFactory(program=program, mentor=mentor, student=student, proposed_by=coordinator)
    with pytest.raises(services.NeedsConfirmation) as caught:
        services.assignment_approve(assignment=a, actor=coordinator)
    codes = {w.code for w in caught.value.warnings}
    assert codes == {"student_to_student", "mentor_student_in_scope"}
    a.refresh_from_db()
    assert a.status == Status.PROPOSED
    mentor.refresh_from_db()
    assert mentor.is_canvas_student is True and mentor.canvas_student_course_ids == [canvas.algebra["id"]]
    services.assignment_approve(assignment=a, actor=coordinator, acknowledged=codes)
    a.refresh_from_db()
    assert a.status == Status.APPROVED
    assert {w["code"] for w in a.warnings_acknowledged} == codes
    (event,) = events("assignment.approved", a)
    assert set(event.details["warnings_acknowledged"]) == codes


def test_approve_of_a_non_student_mentor_has_no_warning(program, coordinator, canvas):
    mentor = canvas.person("Alex Aide", "AIDE-1")
    student = canvas.person("Sam Young", "S-2044", courses=(canvas.algebra,))
    a = AssignmentFactory(program=program, mentor=mentor, student=student, proposed_by=coordinator)
    services.assignment_approve(assignment=a, actor=coordinator)
    a.refresh_from_db()
    assert a.status == Status.APPROVED and a.warnings_acknowledged == []


def test_course_scope_warning_only_for_courses_in_scope(program, coordinator, canvas):
    mentor = canvas.person("Pat Peer", "S-1187", courses=(canvas.algebra,))
    student = canvas.person("Sam Young", "S-2044", courses=(canvas.algebra, canvas.biology))
    a = AssignmentFactory(
        program=program,
        mentor=mentor,
        student=student,
        proposed_by=coordinator,
        link_method=LinkMethod.COURSES,
        scope=MentorAssignment.Scope.COURSES,
    )
    AssignmentCourse.objects.create(assignment=a, canvas_course_id=canvas.biology["id"])
    with pytest.raises(services.NeedsConfirmation) as caught:
        services.assignment_approve(assignment=a, actor=coordinator)
    assert {w.code for w in caught.value.warnings} == {"student_to_student"}


# --- compare-and-set ---------------------------------------------------------------------------------------------


def test_stale_object_loses_the_compare_and_set(program, coordinator, second_coordinator, assignment):
    stale = MentorAssignment.objects.get(pk=assignment.pk)
    services.assignment_reject(assignment=assignment, actor=second_coordinator, reason="Not needed")
    with pytest.raises(services.AlreadyDecided, match="Sam Second decided it first") as caught:
        services.assignment_approve(assignment=stale, actor=coordinator)
    assert "Nothing was changed" in str(caught.value)
    stale.refresh_from_db()
    assert stale.status == Status.REJECTED and stale.generation == 0
    assert len(events("assignment.approved", assignment)) == 0
    assert not ObserverLink.objects.filter(assignment=assignment).exists()


def test_stale_object_cannot_be_rejected_after_approval(program, coordinator, second_coordinator, assignment):
    stale = MentorAssignment.objects.get(pk=assignment.pk)
    services.assignment_approve(assignment=assignment, actor=second_coordinator)
    # The stale copy still says "proposed"; only the conditional UPDATE can tell.
    assert stale.status == Status.PROPOSED
    with pytest.raises(services.AlreadyDecided):
        services.assignment_reject(assignment=stale, actor=coordinator, reason="no")
    assert len(events("assignment.rejected")) == 0


@pytest.mark.django_db(transaction=True)
def test_two_coordinators_at_once_exactly_one_wins(program, coordinator, second_coordinator, assignment):
    """Two threads, two database connections. On SQLite writers are serialised by the file lock, on PostgreSQL by
    the row lock of the conditional UPDATE: either way exactly one decision lands."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(kind: str) -> None:
        from django.db import connection as conn

        try:
            a = MentorAssignment.objects.get(pk=assignment.pk)
            barrier.wait(timeout=10)
            if kind == "approve":
                services.assignment_approve(assignment=a, actor=coordinator)
            else:
                services.assignment_reject(assignment=a, actor=second_coordinator, reason="duplicate")
            outcomes.append(f"{kind}:won")
        except services.AlreadyDecided:
            outcomes.append(f"{kind}:lost")
        except Exception as exc:  # SQLite may answer "database is locked"; that is a loss with nothing changed
            outcomes.append(f"{kind}:error:{type(exc).__name__}")
        finally:
            conn.close()

    threads = [threading.Thread(target=decide, args=(k,)) for k in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assignment.refresh_from_db()
    winners = [o for o in outcomes if o.endswith(":won")]
    assert len(winners) == 1, outcomes
    decided = len(events("assignment.approved", assignment)) + len(events("assignment.rejected", assignment))
    assert decided == 1
    assert assignment.status == (Status.APPROVED if winners[0].startswith("approve") else Status.REJECTED)
    assert connection.vendor in {"sqlite", "postgresql"}


# --- reject, cancel, end -----------------------------------------------------------------------------------------


def test_reject_requires_a_reason(coordinator, assignment):
    with pytest.raises(services.AssignmentError, match="reason is required"):
        services.assignment_reject(assignment=assignment, actor=coordinator, reason=" ")
    assignment.refresh_from_db()
    assert assignment.status == Status.PROPOSED


def test_reject_records_reason(coordinator, assignment):
    services.assignment_reject(assignment=assignment, actor=coordinator, reason="Wrong student")
    assignment.refresh_from_db()
    assert assignment.status == Status.REJECTED and assignment.decision_note == "Wrong student"
    assert events("assignment.rejected", assignment)[0].details["reason"] == "Wrong student"


def test_cancel_only_a_proposal(coordinator, assignment):
    services.assignment_cancel(assignment=assignment, actor=coordinator)
    assignment.refresh_from_db()
    assert assignment.status == Status.CANCELLED
    with pytest.raises(services.AlreadyDecided):
        services.assignment_cancel(assignment=assignment, actor=coordinator)
    assert len(events("assignment.cancelled", assignment)) == 1


def test_end_early_retires_links_and_needs_a_reason(coordinator, assignment, monkeypatch):
    services.assignment_approve(assignment=assignment, actor=coordinator)
    with pytest.raises(services.AssignmentError, match="reason is required"):
        services.assignment_end(assignment=assignment, actor=coordinator, reason="")
    services.assignment_end(assignment=assignment, actor=coordinator, reason="Student moved")
    assignment.refresh_from_db()
    assert assignment.status == Status.ENDED and assignment.ended_by == coordinator
    assert assignment.generation == 2
    link = ObserverLink.objects.get(assignment=assignment)
    assert link.desired == ObserverLink.Desired.ABSENT
    assert events("assignment.ended", assignment)[0].details["reason"] == "Student moved"
    with pytest.raises(services.AlreadyDecided, match="already ended"):
        services.assignment_end(assignment=assignment, actor=coordinator, reason="again")


def test_end_of_a_proposal_is_refused(coordinator, assignment):
    with pytest.raises(services.AlreadyDecided):
        services.assignment_end(assignment=assignment, actor=coordinator, reason="x")


# --- dates (beat) ------------------------------------------------------------------------------------------------


def test_activate_due_plans_links_once(program, coordinator):
    today = timezone.localdate()
    a = AssignmentFactory(
        program=program, status=Status.APPROVED, generation=1, starts_on=today, ends_on=today + datetime.timedelta(9)
    )
    future = AssignmentFactory(program=program, status=Status.APPROVED, starts_on=today + datetime.timedelta(days=2))
    assert services.assignments_activate_due(today=today) == [a.pk]
    assert ObserverLink.objects.filter(assignment=a).count() == 1
    assert not ObserverLink.objects.filter(assignment=future).exists()
    assert services.assignments_activate_due(today=today) == []
    (event,) = events("assignment.activated", a)
    assert event.actor_label == "system:beat" or event.details["links"] == 1


def test_end_due_ends_by_the_beat(program):
    today = timezone.localdate()
    a = AssignmentFactory(
        program=program,
        status=Status.APPROVED,
        starts_on=today - datetime.timedelta(days=10),
        ends_on=today - datetime.timedelta(days=1),
    )
    keep = AssignmentFactory(program=program, status=Status.APPROVED, starts_on=today, ends_on=today)
    assert services.assignments_end_due(today=today) == [a.pk]
    a.refresh_from_db()
    keep.refresh_from_db()
    assert a.status == Status.ENDED and a.ended_by is None and a.end_reason == "The end date passed."
    assert keep.status == Status.APPROVED
    assert services.assignments_end_due(today=today) == []


# --- bulk --------------------------------------------------------------------------------------------------------


def test_bulk_decide_reports_each_row(program, coordinator, second_coordinator):
    a, b = AssignmentFactory(program=program), AssignmentFactory(program=program)
    services.assignment_reject(assignment=b, actor=second_coordinator, reason="no")
    b.status = Status.PROPOSED  # a stale page: b was rejected meanwhile
    results = services.assignments_bulk_decide(assignments=[a, b], decision="approve", actor=coordinator)
    assert [r.ok for r in results] == [True, False]
    assert "Sam Second decided it first" in results[1].message


def test_bulk_reject_needs_a_reason(program, coordinator):
    with pytest.raises(services.AssignmentError):
        services.assignments_bulk_decide(
            assignments=[AssignmentFactory(program=program)], decision="reject", actor=coordinator, reason=""
        )


# --- programs and roles ------------------------------------------------------------------------------------------


def test_program_create_and_update_are_audited(admin_user):
    p = services.program_create(actor=admin_user, name="Tutors", slug="tutors", mentor_capacity=2)
    assert events("program.created", p)[0].details["mentor_capacity"] == 2
    services.program_update(program=p, actor=admin_user, mentor_capacity=4, name="Tutors")
    (update,) = events("program.updated", p)
    assert update.details["changes"] == {"mentor_capacity": [2, 4]}
    with pytest.raises(services.AssignmentError, match="already uses"):
        services.program_create(actor=admin_user, name="Again", slug="tutors")


def test_role_grant_and_revoke_are_audited(admin_user, program):
    user = UserFactory(username="newcoord")
    grant = role_services.role_grant(program=program, user=user, role="coordinator", actor=admin_user)
    assert events("role.granted")[0].details == {"user": "newcoord", "user_id": user.pk, "role": "coordinator"}
    with pytest.raises(role_services.RoleError, match="already"):
        role_services.role_grant(program=program, user=user, role="coordinator", actor=admin_user)
    role_services.role_revoke(grant=grant, actor=admin_user)
    assert not ProgramRole.objects.filter(user=user).exists()
    assert events("role.revoked")[0].details["role"] == "coordinator"
    with pytest.raises(role_services.RoleError, match="already revoked"):
        role_services.role_revoke(grant=grant, actor=admin_user)
    with pytest.raises(role_services.RoleError, match="not a role"):
        role_services.role_grant(program=program, user=user, role="king", actor=admin_user)


def test_program_factory_unused_guard():
    # ProgramFactory default method matches the model default (the tests above rely on observee links).
    assert ProgramFactory.build().default_link_method == LinkMethod.OBSERVEE
    assert TODAY() <= TODAY()

"""Reconciliation against the in-process fake: missing repaired, unexpected reported, stale removed or held."""

from __future__ import annotations

import pytest

from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.sync import reconcile, services
from mentorship.sync.models import DriftItem, ReconciliationRun
from tests.sync.conftest import School, approved, end, linked_pair, sync_all
from tests.sync.test_pair_overlaps import canvas_state, drain

pytestmark = pytest.mark.django_db


def run(program, **kwargs) -> ReconciliationRun:
    return reconcile.reconcile_execute(run_id=reconcile.reconcile_start(program=program, **kwargs).pk)


def test_missing_is_repaired_unexpected_reported_stale_removed(fake, school: School, portal, program, coordinator):
    mentor = school.person("M", "AIDE-R1")
    s1, s2, s3 = (school.person(f"S{i}", f"S-R{i}", student=True) for i in range(3))
    kept, lost, ended = approved(program, mentor, s1), approved(program, mentor, s2), approved(program, mentor, s3)
    for a in (kept, lost, ended):
        sync_all(a)
    # Behind the portal's back: one link deleted, one unapproved student-to-student link added...
    portal.remove_observee(mentor.canvas_user_id, s2.canvas_user_id)
    portal.add_observee(s1.canvas_user_id, s3.canvas_user_id)
    # ...and an ended assignment whose link is still in Canvas.
    MentorAssignment.objects.filter(pk=ended.pk).update(status=MentorAssignment.Status.ENDED)

    result = run(program)
    assert result.status == "done"
    assert result.counts == {"missing": 1, "unexpected": 1, "stale": 1}
    missing = DriftItem.objects.get(run=result, kind="missing")
    assert missing.link is not None
    assert missing.status == "repaired" and missing.link.state == "pending"
    assert services.link_sync(link_id=missing.link.pk, generation=missing.link.generation) == "linked"
    unexpected = DriftItem.objects.get(run=result, kind="unexpected")
    assert unexpected.status == "open" and "student" in unexpected.detail
    assert (s1.canvas_user_id, s3.canvas_user_id) in fake.observer_links()
    assert DriftItem.objects.get(run=result, kind="stale").status == "removed"
    assert fake.observer_links() == {
        (mentor.canvas_user_id, s1.canvas_user_id),
        (mentor.canvas_user_id, s2.canvas_user_id),
        (s1.canvas_user_id, s3.canvas_user_id),
    }
    assert AuditEvent.objects.filter(action="reconcile.repair").count() == 2
    assert AuditEvent.objects.filter(action="reconcile.run").count() == 1

    reconcile.drift_remove(item=unexpected, actor=coordinator)
    assert (s1.canvas_user_id, s3.canvas_user_id) not in fake.observer_links()
    unexpected.refresh_from_db()
    assert unexpected.status == "removed" and unexpected.resolved_by == coordinator
    assert AuditEvent.objects.filter(action="reconcile.removal").count() == 1
    with pytest.raises(services.SyncError):
        reconcile.drift_remove(item=unexpected, actor=coordinator)


def test_dry_run_changes_nothing(fake, school, portal, program):
    mentor, student, a = linked_pair(school, program, "AIDE-R2", "S-R9")
    portal.remove_observee(mentor.canvas_user_id, student.canvas_user_id)
    result = run(program, dry_run=True)
    assert result.counts["missing"] == 1
    assert DriftItem.objects.get(run=result).status == "preview"
    assert a.links.get().state == "linked"
    assert fake.observer_links() == set()


def test_a_run_removing_more_than_the_threshold_holds_until_confirmed(
    fake, school, portal, program, coordinator, settings
):
    settings.RECONCILE_REMOVAL_THRESHOLD = 2
    mentor = school.person("M", "AIDE-R3")
    assignments = [approved(program, mentor, school.person(f"S{i}", f"S-H{i}", student=True)) for i in range(3)]
    for a in assignments:
        sync_all(a)
    MentorAssignment.objects.filter(pk__in=[a.pk for a in assignments]).update(status=MentorAssignment.Status.ENDED)
    result = run(program)
    assert result.status == "held" and result.counts["stale"] == 3
    assert len(fake.observer_links()) == 3
    assert AuditEvent.objects.filter(action="reconcile.held").count() == 1
    assert reconcile.reconcile_confirm(run=result, actor=coordinator) == 3
    assert fake.observer_links() == set()
    with pytest.raises(services.SyncError):
        reconcile.reconcile_confirm(run=result, actor=coordinator)


def test_links_still_syncing_are_not_drift(fake, school, portal, program):
    _, _, a = linked_pair(school, program, "AIDE-R4", "S-R4")
    end(a)  # pending removal, still in Canvas
    assert run(program).counts == {"missing": 0, "unexpected": 0, "stale": 0}


def test_course_scoped_missing_enrollment_is_found(fake, school, portal, program):
    mentor, student = school.person("M", "AIDE-R5"), school.person("S", "S-R5", student=True)
    a = approved(program, mentor, student, method=LinkMethod.COURSES, courses=[school.course["id"]])
    sync_all(a)
    link = a.links.get()
    portal.delete_enrollment(school.course["id"], link.canvas_enrollment_id)
    result = run(program)
    item = DriftItem.objects.get(run=result, kind="missing")
    assert item.canvas_course_id == school.course["id"]


def test_reconcile_uses_the_pairs_desired_state_and_remakes_courses_a_stale_link_took(
    fake, school: School, portal, program, other_program
):
    """A course row covered by the link is not missing; removing a stale link (which deletes the pair's course
    enrollments, docs/canvas-rules.md section 2) re-makes the course an active assignment still needs."""
    mentor, student = school.person("M", "AIDE-RD"), school.person("S", "S-RD", student=True)
    everything = approved(program, mentor, student, days=90)
    drain()
    scoped = approved(other_program, mentor, student, method=LinkMethod.COURSES, courses=[school.course["id"]], days=20)
    drain()
    assert scoped.links.get().canvas_enrollment_id is None  # covered by the link
    clean = run(program)
    assert clean.counts == {"missing": 0, "unexpected": 0, "stale": 0}
    assert run(other_program).counts == {"missing": 0, "unexpected": 0, "stale": 0}

    MentorAssignment.objects.filter(pk=everything.pk).update(status=MentorAssignment.Status.ENDED)
    result = run(program)
    assert result.counts == {"missing": 0, "unexpected": 0, "stale": 1}
    assert DriftItem.objects.get(run=result, kind="stale").status == "removed"
    assert scoped.links.get().state == "pending"
    drain()
    linked, enrollments = canvas_state(fake, mentor, student)
    assert linked is False and list(enrollments) == [school.course["id"]]
    (end_at,) = enrollments[school.course["id"]]
    assert end_at is not None and end_at.startswith(scoped.ends_on.isoformat())

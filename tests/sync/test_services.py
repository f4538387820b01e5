"""The sync engine's task body and services against the in-process fake Canvas."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from fake_canvas import FakeCanvas
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.sync import services
from mentorship.sync.circuit import circuit_is_open
from mentorship.sync.models import CanvasConnection, ObserverLink, PairingCode
from mentorship.sync.services import circuit_probe, linking, publishing
from tests.sync.conftest import TOKEN, School, approved, end, linked_pair, make_client, sync_all

pytestmark = pytest.mark.django_db


def events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def test_observee_link_is_made_once_and_duplicates_change_nothing(fake: FakeCanvas, school: School, portal, program):
    mentor, student = school.person("Morgan Aide", "AIDE-1"), school.person("Sasha Student", "S-1", student=True)
    assignment = approved(program, mentor, student)
    link = assignment.links.get()

    assert services.link_sync(link_id=link.pk, generation=link.generation) == "linked"
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "settled"
    assert services.link_sync(link_id=link.pk, generation=link.generation - 1) == "stale"

    assert fake.observer_links() == {(mentor.canvas_user_id, student.canvas_user_id)}
    link.refresh_from_db()
    assert (link.state, link.attempts, link.claim) == ("linked", 1, "")
    assert link.linked_at is not None
    assert events("canvas.linked") == 1
    assignment.refresh_from_db()
    assert assignment.link_state == MentorAssignment.LinkState.LINKED


def test_end_removes_the_link_and_a_404_on_delete_is_confirmed_not_failed(fake, school, portal, program):
    mentor, student, assignment = linked_pair(school, program, "AIDE-2", "S-2")
    # Someone removed it in Canvas already: DELETE answers 404, GET confirms it is gone.
    portal.remove_observee(mentor.canvas_user_id, student.canvas_user_id)
    rows = end(assignment)
    assert [r.desired for r in rows] == ["absent"]
    assert sync_all(assignment) == ["unlinked"]
    assert fake.observer_links() == set()
    assert events("canvas.unlinked") == 1
    assignment.refresh_from_db()
    assert assignment.link_state == MentorAssignment.LinkState.UNLINKED


def test_retiring_a_link_that_never_reached_canvas_needs_no_call(fake, school, portal, program):
    mentor, student = school.person("M", "AIDE-3"), school.person("S", "S-3", student=True)
    assignment = approved(program, mentor, student)
    fake.clear_request_log()
    assert end(assignment) == []
    assert assignment.links.get().state == "unlinked"
    assert fake.request_log == []


def test_courses_method_enrols_per_course_with_dates_and_deletes_on_end(fake, school, portal, program):
    mentor, student = school.person("M", "AIDE-4"), school.person("S", "S-4", student=True)
    assignment = approved(program, mentor, student, method=LinkMethod.COURSES, courses=[school.course["id"]])
    assert sync_all(assignment) == ["linked"]
    enrollments = fake.observer_enrollments()
    assert [(e["user_id"], e["associated_user_id"], e["course_id"]) for e in enrollments] == [
        (mentor.canvas_user_id, student.canvas_user_id, school.course["id"])
    ]
    stored = fake.state.enrollments[enrollments[0]["id"]]
    assert stored["start_at"] is not None and stored["end_at"] is not None
    assert stored["end_at"] - stored["start_at"] > 29 * 86400
    assert fake.observer_links() == set()  # course-scoped only: no user-level link
    link = assignment.links.get()
    assert link.canvas_enrollment_id == enrollments[0]["id"]

    end(assignment)
    assert sync_all(assignment) == ["unlinked"]
    assert fake.observer_enrollments() == []


def test_a_reclaimed_course_link_adopts_the_enrollment_instead_of_posting_twice(
    fake, school, portal, program, settings
):
    mentor, student = school.person("M", "AIDE-5"), school.person("S", "S-5", student=True)
    assignment = approved(program, mentor, student, method=LinkMethod.COURSES, courses=[school.course["id"]])
    link = assignment.links.get()
    # A worker made the enrollment and was killed before recording it: the row is stuck in "linking".
    portal.create_observer_enrollment(school.course["id"], mentor.canvas_user_id, student.canvas_user_id)
    ObserverLink.objects.filter(pk=link.pk).update(
        state="linking", claim="dead-worker", updated_at=timezone.now() - datetime.timedelta(hours=1)
    )
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "linked"
    assert len(fake.observer_enrollments()) == 1


def test_not_found_student_fails_at_once_with_a_sentence_and_retry_now_requeues(
    fake, school, portal, program, coordinator
):
    mentor = school.person("M", "AIDE-6")
    student = school.person("Gone Student", "S-6", student=True)
    student.canvas_user_id = 999999
    student.save()
    assignment = approved(program, mentor, student)
    assert sync_all(assignment) == ["failed"]
    link = assignment.links.get()
    assert link.attempts == 1
    assert link.last_error_status == 404
    assert "does not exist" in link.last_error and link.last_error.endswith(".")
    assert events("canvas.failed") == 1
    assignment.refresh_from_db()
    assert assignment.link_state == "failed"

    services.link_retry(link=link, actor=coordinator)
    link.refresh_from_db()
    assert (link.state, link.attempts, link.last_error) == ("pending", 0, "")
    assert events("canvas.retry_requested") == 1
    with pytest.raises(services.SyncError):
        services.link_retry(link=link, actor=coordinator)


def test_validation_error_is_permanent(fake, school, portal, program):
    person = school.person("Self Observer", "AIDE-7", student=True)
    other = school.person("Other", "S-7", student=True)
    assignment = approved(program, person, other)
    # Make Canvas refuse: observing yourself (422/400 validation).
    ObserverLink.objects.filter(assignment=assignment).update(student_canvas_id=person.canvas_user_id)
    assert sync_all(assignment) == ["failed"]
    link = assignment.links.get()
    assert link.attempts == 1 and link.last_error_status in (400, 422)


def test_transient_errors_back_off_then_fail_after_max_attempts(fake, school, portal, program, settings):
    settings.SYNC_MAX_ATTEMPTS = 2
    mentor, student = school.person("M", "AIDE-8"), school.person("S", "S-8", student=True)
    assignment = approved(program, mentor, student)
    link = assignment.links.get()
    fake.configure(error_rate=1.0)
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "retry"
    link.refresh_from_db()
    assert link.state == "pending" and link.attempts == 1 and link.next_attempt_at is not None
    assert "temporary problem" in link.last_error
    # A duplicate message ahead of the backoff does nothing.
    ObserverLink.objects.filter(pk=link.pk).update(next_attempt_at=timezone.now() + datetime.timedelta(minutes=5))
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "early"
    ObserverLink.objects.filter(pk=link.pk).update(next_attempt_at=None)
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "failed"
    link.refresh_from_db()
    assert link.state == "failed" and link.attempts == 2


def test_throttled_requests_are_not_failed_attempts(fake, school, portal, program):
    mentor, student = school.person("M", "AIDE-9"), school.person("S", "S-9", student=True)
    assignment = approved(program, mentor, student)
    link = assignment.links.get()
    fake.configure(throttle={"enabled": True, "hwm": 0.0})
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "throttled"
    link.refresh_from_db()
    assert link.state == "pending" and link.attempts == 0 and link.next_attempt_at is not None


def test_rejected_token_opens_the_circuit_alerts_and_the_probe_resumes(
    fake, school, portal, program, coordinator, admin_user, django_capture_on_commit_callbacks
):
    mentor, student = school.person("M", "AIDE-10"), school.person("S", "S-10", student=True)
    assignment = approved(program, mentor, student)
    link = assignment.links.get()
    fake.invalidate_token(TOKEN, "revoked")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.link_sync(link_id=link.pk, generation=link.generation) == "circuit"
    assert circuit_is_open()
    link.refresh_from_db()
    assert link.state == "pending" and link.attempts == 0
    assert events("canvas.circuit_opened") == 1
    assert len(mail.outbox) == 1 and "stopped" in mail.outbox[0].subject
    assert set(mail.outbox[0].to) == {coordinator.email, admin_user.email}
    # Work stops: no Canvas call while open.
    fake.clear_request_log()
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "held"
    assert fake.request_log == []
    assert not circuit_probe()
    fake.restore_token(TOKEN)
    assert circuit_probe()
    assert CanvasConnection.get().circuit == "closed"
    assert events("canvas.circuit_closed") == 1
    assert services.link_sync(link_id=link.pk, generation=link.generation) == "linked"


def test_generation_change_mid_flight_hands_the_row_over(fake, school, portal, program, monkeypatch):
    mentor, student = school.person("M", "AIDE-11"), school.person("S", "S-11", student=True)
    assignment = approved(program, mentor, student)
    link = assignment.links.get()
    real_apply = linking._apply

    def apply_then_end(client, row, *, confirm_first):
        outcome = real_apply(client, row, confirm_first=confirm_first)
        end(assignment)  # the coordinator ends it while our PUT was in flight
        return outcome

    monkeypatch.setattr(linking, "_apply", apply_then_end)
    assert services.link_sync(link_id=link.pk, generation=1) == "superseded"
    monkeypatch.setattr(linking, "_apply", real_apply)
    link.refresh_from_db()
    assert (link.state, link.desired, link.generation, link.claim) == ("pending", "absent", 2, "")
    assert events("canvas.linked") == 0
    assert services.link_sync(link_id=link.pk, generation=2) == "unlinked"
    assert fake.observer_links() == set()


def test_removing_one_assignment_keeps_the_pair_for_another_approved_one(fake, school, portal, program, other_program):
    mentor, student = school.person("M", "AIDE-12"), school.person("S", "S-12", student=True)
    first = approved(program, mentor, student)
    sync_all(first)
    second = approved(other_program, mentor, student)
    sync_all(second)
    end(first)
    assert sync_all(first) == ["unlinked"]
    assert fake.observer_links() == {(mentor.canvas_user_id, student.canvas_user_id)}


def _record_publish(published: list[int], pk: int) -> bool:
    published.append(pk)
    return True


def test_sweeper_republishes_only_stale_rows(fake, school, portal, program, settings, monkeypatch):
    settings.SWEEPER_STALE_SECONDS = 60
    mentor, student = school.person("M", "AIDE-13"), school.person("S", "S-13", student=True)
    stale = approved(program, mentor, student).links.get()
    fresh = approved(program, school.person("M2", "AIDE-14"), school.person("S2", "S-14", student=True)).links.get()
    ObserverLink.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=5))
    published: list[int] = []
    monkeypatch.setattr(publishing, "_publish", lambda pk, gen, countdown=None: _record_publish(published, pk))
    monkeypatch.setattr(publishing, "queue_depth", lambda: 0)
    assert services.links_sweep() == 1
    assert published == [stale.pk]
    assert fresh.pk not in published
    # Touched: the next sweep waits another period.
    assert services.links_sweep() == 0


def test_sweeper_leaves_pending_rows_to_a_busy_queue_but_takes_back_dead_claims(
    fake, school, portal, program, settings, monkeypatch
):
    settings.SWEEPER_STALE_SECONDS = 60
    waiting = approved(program, school.person("M", "AIDE-20"), school.person("S", "S-20", student=True)).links.get()
    stuck = approved(program, school.person("M2", "AIDE-21"), school.person("S2", "S-21", student=True)).links.get()
    long_ago = timezone.now() - datetime.timedelta(minutes=5)
    ObserverLink.objects.filter(pk=waiting.pk).update(updated_at=long_ago)
    ObserverLink.objects.filter(pk=stuck.pk).update(state="linking", claim="dead", updated_at=long_ago)
    published: list[int] = []
    monkeypatch.setattr(publishing, "_publish", lambda pk, gen, countdown=None: _record_publish(published, pk))
    monkeypatch.setattr(publishing, "queue_depth", lambda: 250)
    assert services.links_sweep() == 1
    assert published == [stuck.pk]
    assert services.link_sync(link_id=stuck.pk, generation=stuck.generation) == "linked"


def test_sweeper_republishes_lost_rows_when_the_queue_is_shorter_than_they_are_many(
    fake, school, portal, program, settings, monkeypatch
):
    """A broker restarted without its messages: two beat messages in the queue must not hold back three lost rows."""
    settings.SWEEPER_STALE_SECONDS = 60
    lost = [
        approved(program, school.person(f"M{i}", f"AIDE-3{i}"), school.person(f"S{i}", f"S-3{i}", student=True))
        .links.get()
        .pk
        for i in range(3)
    ]
    ObserverLink.objects.filter(pk__in=lost).update(updated_at=timezone.now() - datetime.timedelta(minutes=5))
    published: list[int] = []
    monkeypatch.setattr(publishing, "_publish", lambda pk, gen, countdown=None: _record_publish(published, pk))
    monkeypatch.setattr(publishing, "queue_depth", lambda: 3)
    assert services.links_sweep() == 0, "as many queued messages as rows: they may all be in the queue"
    ObserverLink.objects.filter(pk__in=lost).update(updated_at=timezone.now() - datetime.timedelta(minutes=5))
    monkeypatch.setattr(publishing, "queue_depth", lambda: 2)
    assert services.links_sweep() == 3
    assert sorted(published) == sorted(lost)


def test_pairing_code_issued_delivered_redeemed_and_watched(
    fake, school, portal, program, django_capture_on_commit_callbacks, session
):
    mentor, student = school.person("Pat Mentor", "AIDE-15"), school.person("S", "S-15", student=True)
    assignment = approved(program, mentor, student, method=LinkMethod.PAIRING_CODE)
    with django_capture_on_commit_callbacks(execute=True):
        assert sync_all(assignment) == ["awaiting_redemption"]
    code = PairingCode.objects.get()
    assert len(code.code) == 6 and code.code.isalnum()
    assert code.expires_at - code.issued_at <= datetime.timedelta(days=7, minutes=1)
    assert len(mail.outbox) == 1 and code.code in mail.outbox[0].body and code.code not in mail.outbox[0].subject
    assert events("pairing_code.issued") == 1
    issued = AuditEvent.objects.get(action="pairing_code.issued")
    assert code.code not in str(issued.details)
    assignment.refresh_from_db()
    assert assignment.link_state == "awaiting_redemption"

    # The mentor enters the code in Canvas themselves; the watcher notices.
    mentor_client = make_client(session, fake.mint_token(mentor.canvas_user_id))
    mentor_client.redeem_pairing_code(code.code)
    counts = services.pairing_codes_watch()
    assert counts["redeemed"] == 1
    code.refresh_from_db()
    assert code.status == "redeemed" and code.redeemed_by_canvas_id == mentor.canvas_user_id
    assert assignment.links.get().state == "linked"
    assert events("pairing_code.redeemed") == 1 and events("canvas.linked") == 1
    assert services.pairing_codes_watch()["redeemed"] == 0


def test_pairing_code_redeem_with_a_lost_answer_is_confirmed(fake, school, portal, program, session):
    mentor_person = school.person("Pat Mentor", "AIDE-16")
    student = school.person("S", "S-16", student=True)
    assignment = approved(program, mentor_person, student, method=LinkMethod.PAIRING_CODE)
    sync_all(assignment)
    code = PairingCode.objects.get()
    from tests.sync.conftest import make_user

    mentor_user = make_user(person=mentor_person)
    import requests

    from fake_canvas.testing import WSGIAdapter

    class LoseAnswers(WSGIAdapter):
        """Canvas acts, then the answer is lost on the way back (only for the mentor's connection)."""

        def send(  # type: ignore[override]
            self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
        ) -> requests.Response:
            super().send(request, stream=stream, **kwargs)
            raise requests.ConnectionError("Connection aborted.", request=request)

    mentor_session = requests.Session()
    mentor_session.mount("http://canvas.test", LoseAnswers(fake.wsgi_app))
    mentor_client = make_client(mentor_session, fake.mint_token(mentor_person.canvas_user_id))
    assert services.pairing_code_redeem(pairing_code=code, mentor_user=mentor_user, canvas_client=mentor_client)
    code.refresh_from_db()
    assert code.status == "redeemed"
    assert assignment.links.get().state == "linked"
    assert fake.observer_links() == {(mentor_person.canvas_user_id, student.canvas_user_id)}
    other = make_user(person=school.person("Other", "AIDE-17"))
    with pytest.raises(services.SyncError):
        services.pairing_code_redeem(pairing_code=code, mentor_user=other, canvas_client=mentor_client)


def test_pairing_code_reminder_then_expiry_then_reissue(
    fake, school, portal, program, coordinator, django_capture_on_commit_callbacks
):
    mentor, student = school.person("M", "AIDE-18"), school.person("S", "S-18", student=True)
    assignment = approved(program, mentor, student, method=LinkMethod.PAIRING_CODE)
    sync_all(assignment)
    code = PairingCode.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        counts = services.pairing_codes_watch(now=code.expires_at - datetime.timedelta(hours=3))
    assert counts["reminded"] == 1
    assert any("expires soon" in m.subject for m in mail.outbox)
    assert services.pairing_codes_watch(now=code.expires_at - datetime.timedelta(hours=2))["reminded"] == 0
    assert services.pairing_codes_watch(now=code.expires_at + datetime.timedelta(seconds=1))["expired"] == 1
    code.refresh_from_db()
    link = assignment.links.get()
    assert code.status == "expired" and link.state == "failed" and "expired" in link.last_error
    new_code = services.pairing_code_issue(assignment=assignment, actor=coordinator)
    assert new_code.status == "issued" and new_code.code != ""
    assert assignment.links.get().state == "awaiting_redemption"
    assert events("pairing_code.issued") == 2 and events("pairing_code.expired") == 1


def test_sis_bulk_push_maps_row_warnings_back_to_links(fake, school, portal, program, settings):
    settings.SIS_BULK_THRESHOLD = 2
    links = []
    for i in range(3):
        a = approved(program, school.person(f"M{i}", f"AIDE-B{i}"), school.person(f"S{i}", f"S-B{i}", student=True))
        links.append(a.links.get())
    # The third student's SIS id is unknown to Canvas: the import reports that row.
    bad = links[2].assignment.student
    bad.sis_user_id = "S-NOPE"
    bad.save()
    batch = services.sis_push()
    assert batch is not None and batch.canvas_import_id
    assert set(ObserverLink.objects.values_list("state", flat=True)) == {"linking"}
    deadline = timezone.now() + datetime.timedelta(seconds=20)
    while not services.sis_poll(batch_id=batch.pk):
        assert timezone.now() < deadline, "the fake never finished the SIS import"
    states = {link.pk: ObserverLink.objects.get(pk=link.pk) for link in links}
    assert states[links[0].pk].state == "linked" and states[links[1].pk].state == "linked"
    failed = states[links[2].pk]
    assert failed.state == "failed" and "S-NOPE" in failed.last_error
    assert len(fake.observer_links()) == 2
    assert events("canvas.linked") == 2 and events("canvas.sis_import") == 1


def test_sis_csv_lists_present_and_absent_rows():
    from types import SimpleNamespace

    def row(m, s, desired):
        return SimpleNamespace(
            assignment=SimpleNamespace(mentor=SimpleNamespace(sis_user_id=m), student=SimpleNamespace(sis_user_id=s)),
            desired=desired,
        )

    body = services.sis_users_csv(
        links=[row("A,1", "S1", "present"), row("A2", "S2", "absent"), row("", "S3", "present")]
    )
    assert body.decode().splitlines() == ["observer_id,student_id,status", '"A,1",S1,active', "A2,S2,deleted"]


def test_link_state_summary_when_time_passes(fake, school, portal, program):
    mentor, student = school.person("M", "AIDE-19"), school.person("S", "S-19", student=True)
    assignment = approved(program, mentor, student, days=1)
    sync_all(assignment)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=3)):
        assignment.refresh_from_db()
        assert not assignment.is_active
    assert services.assignment_link_state_refresh(assignment_id=assignment.pk) == "linked"


def test_pairing_watch_stops_and_opens_the_circuit_on_a_rejected_token(fake, school, portal, program):
    mentor, student = school.person("M", "AIDE-22"), school.person("S", "S-22", student=True)
    assignment = approved(program, mentor, student, method=LinkMethod.PAIRING_CODE)
    sync_all(assignment)
    fake.invalidate_token(TOKEN, "expired")
    assert services.pairing_codes_watch() == {"redeemed": 0, "reminded": 0, "expired": 0}
    assert circuit_is_open()
    assert PairingCode.objects.get().status == "issued"

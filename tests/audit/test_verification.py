"""The hash chain: intact logs verify; any edit, removal or truncation is named by its first broken event."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from mentorship.audit import services, verification_requests
from mentorship.audit.actions import Action
from mentorship.audit.keys import mac_keys
from mentorship.audit.maintenance import audit_maintenance
from mentorship.audit.models import AuditChainHead, AuditEvent, AuditVerification
from mentorship.audit.sequencer import sequence_pending
from mentorship.audit.services import audit_record
from mentorship.audit.verification import chain_check
from mentorship.audit.verification_requests import verification_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(coordinator, program, student_person):
    events = [
        audit_record(
            action=Action.STUDENT_DATA_VIEWED,
            actor=coordinator,
            program=program,
            student=student_person,
            details={"page": n, "nested": {"pairing_code": "ABCDEF"}},
        )
        for n in range(1, 8)
    ]
    sequence_pending()
    return events


def _tamper(sql: str, params: list) -> None:
    """An attacker with the table owner's rights (the only ones the switch answers to)."""
    from django.db import connection

    with transaction.atomic(), audit_maintenance(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_intact_chain_verifies(chain):
    result = chain_check(chunk_size=3)
    assert result.ok
    assert result.events_checked == 7
    assert result.first_broken_seq is None


def test_empty_log_verifies():
    assert chain_check().ok


def test_edited_event_is_named(chain):
    _tamper("UPDATE audit_auditevent SET actor_label = 'someone-else' WHERE seq = %s", [4])
    result = chain_check(chunk_size=2)
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "#4 has been altered" in result.message


def test_edited_details_are_named(chain):
    event = AuditEvent.objects.get(seq=6)
    _tamper("UPDATE audit_auditevent SET details = %s WHERE seq = %s", ['{"page": 99}', event.seq])
    assert chain_check().first_broken_seq == 6


def test_rehashed_event_breaks_the_link_to_the_next(chain):
    """Recomputing one event's hash after editing it still breaks the chain at the following event (with a forged
    MAC too: see tests/audit/test_keyed_chain.py for an edit without the key)."""
    event = AuditEvent.objects.get(seq=3)
    event.outcome = "failed"
    forged = services.event_hash(event, event.prev_hash)
    forged_mac = mac_keys().mac(forged)
    _tamper("UPDATE audit_auditevent SET outcome = 'failed', hash = %s, mac = %s WHERE seq = 3", [forged, forged_mac])
    result = chain_check()
    assert result.first_broken_seq == 4
    assert "does not follow" in result.message


def test_removed_event_is_named(chain):
    _tamper("DELETE FROM audit_auditevent WHERE seq = %s", [5])
    result = chain_check()
    assert result.first_broken_seq == 5
    assert "missing" in result.message


def test_removed_tail_is_noticed(chain):
    _tamper("DELETE FROM audit_auditevent WHERE seq >= %s", [6])
    result = chain_check()
    assert not result.ok
    assert result.first_broken_seq == 6


def test_events_appended_during_a_run_are_left_for_the_next(chain):
    AuditChainHead.objects.filter(pk=1).update(seq=5, hash=AuditEvent.objects.get(seq=5).hash)
    result = chain_check()
    assert result.ok
    assert result.events_checked == 5


def test_command_reports_an_intact_chain(chain):
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "All 7 events are intact" in out.getvalue()
    verification = AuditVerification.objects.get()
    assert verification.state == AuditVerification.State.OK
    recorded = AuditEvent.objects.get(action=Action.AUDIT_VERIFIED)
    assert recorded.actor_label == "system:audit_verify"
    assert recorded.details["events_checked"] == 7


def test_command_exits_1_naming_the_first_broken_event(chain):
    _tamper("UPDATE audit_auditevent SET action = 'assignment.approved' WHERE seq = %s", [2])
    with pytest.raises(CommandError, match="broken at event #2") as raised:
        call_command("audit_verify")
    assert raised.value.returncode == 1
    assert AuditVerification.objects.get().state == AuditVerification.State.BROKEN


def test_hash_covers_normalised_ipv6_addresses(rf, coordinator):
    request = rf.get("/", REMOTE_ADDR="2001:DB8:0:0::1")
    event = audit_record(action=Action.SIGN_IN, actor=coordinator, request=request)
    assert sequence_pending() == 1
    assert AuditEvent.objects.get(pk=event.pk).ip == "2001:db8::1"
    assert chain_check().ok


def test_small_log_is_verified_inline(chain, auditor):
    verification, inline = verification_request(actor=auditor)
    assert inline
    assert verification.state == AuditVerification.State.OK
    assert AuditEvent.objects.filter(action=Action.AUDIT_VERIFIED, actor=auditor).exists()


def test_long_log_is_verified_by_the_task(chain, auditor, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(verification_requests, "VERIFY_INLINE_MAX_EVENTS", 3)
    with (
        mock.patch("mentorship.audit.tasks.verify_chain.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        verification, inline = verification_request(actor=auditor)
    assert not inline
    assert verification.state == AuditVerification.State.RUNNING
    delay.assert_called_once_with(verification.pk)
    from mentorship.audit.tasks import verify_chain

    verify_chain(verification.pk)
    verification.refresh_from_db()
    assert verification.state == AuditVerification.State.OK
    assert verification.events_checked == 7
    # A second press while one runs does not start another.
    verify_chain(verification.pk)
    assert AuditVerification.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_flush_between_transactional_tests_empties_the_log(coordinator):
    """pytest's flush needs the maintenance switch (tests/conftest.py); this test runs after others wrote events."""
    audit_record(action=Action.SIGN_IN, actor=coordinator)
    sequence_pending()
    assert AuditEvent.objects.get().seq == 1

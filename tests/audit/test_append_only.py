"""The database itself refuses to change or remove audit events (PostgreSQL and SQLite)."""

from __future__ import annotations

import importlib
import sqlite3
import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from mentorship.audit.actions import Action
from mentorship.audit.maintenance import audit_maintenance
from mentorship.audit.models import AuditEvent
from mentorship.audit.sequencer import sequence_pending
from mentorship.audit.services import audit_record

pytestmark = pytest.mark.django_db

CREATE_SQLITE = importlib.import_module("mentorship.audit.migrations.0002_append_only").CREATE_SQLITE


@pytest.fixture
def event(coordinator):
    return audit_record(action=Action.ASSIGNMENT_PROPOSED, actor=coordinator, details={"reason": "first"})


def test_orm_update_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="assignment.approved")
    event.refresh_from_db()
    assert event.action == Action.ASSIGNMENT_PROPOSED


def test_raw_update_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET outcome = 'failed' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).outcome == "ok"


def test_delete_is_refused(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_emptying_the_table_is_refused(event):
    # PostgreSQL: TRUNCATE has its own statement trigger. SQLite has no TRUNCATE: DELETE without WHERE is its form.
    statement = "TRUNCATE audit_auditevent" if connection.vendor == "postgresql" else "DELETE FROM audit_auditevent"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.count() == 1


def test_maintenance_switch_lets_the_table_owner_empty_the_log(event):
    with transaction.atomic(), audit_maintenance():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 0


def test_switch_is_off_again_after_maintenance(event):
    with audit_maintenance():
        pass
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.all().delete()


def test_appending_still_works(event):
    second = audit_record(action=Action.ASSIGNMENT_APPROVED, system_actor="test")
    assert sequence_pending() == 2
    event.refresh_from_db()
    second.refresh_from_db()
    assert second.seq == event.seq + 1
    assert second.prev_hash == event.hash


def test_the_sequencer_fills_a_pending_row_once(event):
    sequence_pending()
    event.refresh_from_db()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(seq=99, hash="f" * 64, mac="0" * 64, key_id="dev")
    assert AuditEvent.objects.get(pk=event.pk).seq == event.seq


def test_filling_the_chain_columns_cannot_change_anything_else(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(
            seq=1, hash="f" * 64, mac="0" * 64, key_id="dev", actor_label="someone-else"
        )
    assert AuditEvent.objects.get(pk=event.pk).actor_label == "coordinator"


def test_switch_does_nothing_for_a_role_that_does_not_own_the_table(event):
    """The production app role holds UPDATE/DELETE grants at worst, never ownership: the switch must not help it.

    SQLite has no roles; its equivalent is a connection the portal did not open (no switch function): it fails
    closed.
    """
    if connection.vendor == "sqlite":
        raw = sqlite3.connect(":memory:")
        raw.execute("CREATE TABLE audit_auditevent (id integer primary key)")
        for statement in CREATE_SQLITE:
            raw.execute(statement)
        raw.execute("INSERT INTO audit_auditevent (id) VALUES (1)")
        with pytest.raises(sqlite3.OperationalError, match="no such function"):
            raw.execute("DELETE FROM audit_auditevent")
        assert raw.execute("SELECT count(*) FROM audit_auditevent").fetchone() == (1,)
        return
    role = f"mentorlink_app_{uuid.uuid4().hex[:8]}"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        # All of this is inside the test's transaction: the role disappears with the rollback.
        cursor.execute(f'CREATE ROLE "{role}"')
        cursor.execute(f'GRANT SELECT, UPDATE, DELETE, TRUNCATE ON audit_auditevent TO "{role}"')
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        cursor.execute("SELECT set_config('mentorlink.audit_maintenance', 'on', true)")
        cursor.execute("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.count() == 1

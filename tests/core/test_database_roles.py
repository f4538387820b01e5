"""A fresh install with two database roles, as docker-compose.yml and docs/operations.md set it up: the owner runs the
migrations and `provision_app_role`; the portal runs as the second role with exactly the documented grants.

It must sign a person in and audit it (the first audit event of a fresh install once failed with a 500 because the
portal's role may not insert the chain head), and that role must be unable to change the audit log in any way.

Needs a PostgreSQL server (127.0.0.1:5432 as on the project's machines, or MENTORLINK_PG_ADMIN_URL) whatever the
suite's own database is: the roles are the point, and SQLite has none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("MENTORLINK_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

SIGN_IN_AS_THE_PORTAL = r"""
import json, django
django.setup()
from django.core.management import call_command
from django.test import Client
from mentorship.accounts.models import User
from mentorship.audit.models import AuditEvent
User.objects.create_user(username="first-coordinator", password="a-long-enough-password-1")
client = Client()
response = client.post("/accounts/login/", {"username": "first-coordinator", "password": "a-long-enough-password-1"})
from mentorship.audit.sequencer import sequence_pending
sequence_pending()  # as the worker would, with the portal's role: it may fill the chain columns of pending rows
events = list(AuditEvent.objects.order_by("seq").values_list("seq", "action"))
call_command("audit_verify")
print(json.dumps({"status": response.status_code, "location": response.get("Location"), "events": events}))
"""


@dataclass
class Install:
    database: str
    owner: str
    app: str

    def url(self, role: str) -> str:
        return f"postgres://{role}:pw@127.0.0.1:5432/{self.database}"

    def connect_as_portal(self) -> psycopg.Connection:
        return psycopg.connect(f"postgresql://{self.app}:pw@127.0.0.1:5432/{self.database}", autocommit=True)

    def manage(self, role: str, *args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
        env.update({"DATABASE_URL": self.url(role), "DJANGO_ENV": "development", "APP_DB_PASSWORD": "pw"})
        command = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"The database-role test needs a PostgreSQL server ({ADMIN_URL}; set MENTORLINK_PG_ADMIN_URL): {exc}"
        )


@pytest.fixture(scope="module")
def install() -> Iterator[Install]:
    suffix = uuid.uuid4().hex[:8]
    fresh = Install(database=f"ml_roles_{suffix}", owner=f"ml_owner_{suffix}", app=f"ml_app_{suffix}")
    with admin_connection() as admin:
        admin.execute(f'CREATE ROLE "{fresh.owner}" LOGIN CREATEROLE NOSUPERUSER')
        admin.execute(f'CREATE DATABASE "{fresh.database}" OWNER "{fresh.owner}"')
    try:
        migrated = fresh.manage(fresh.owner, "migrate", "--noinput", "-v", "0")
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        provisioned = fresh.manage(fresh.owner, "provision_app_role", "--role", fresh.app)
        assert provisioned.returncode == 0, provisioned.stderr[-3000:]
        assert f"Created role {fresh.app}" in provisioned.stdout
        again = fresh.manage(fresh.owner, "provision_app_role", "--role", fresh.app)
        assert again.returncode == 0 and f"Updated role {fresh.app}" in again.stdout, again.stderr
        yield fresh
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{fresh.database}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{fresh.app}"')
            admin.execute(f'DROP ROLE IF EXISTS "{fresh.owner}"')


def test_a_fresh_install_signs_in_and_audits_as_the_portals_role(install: Install) -> None:
    result = install.manage(install.app, code=SIGN_IN_AS_THE_PORTAL)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 302 and outcome["location"] == "/", outcome
    assert [seq for seq, _ in outcome["events"]] == list(range(1, len(outcome["events"]) + 1))
    assert "auth.sign_in" in {action for _, action in outcome["events"]}


REFUSED = {
    "update": "UPDATE audit_auditevent SET action = 'x'",
    "update a pending row's contents": "UPDATE audit_auditevent SET action = 'x' WHERE seq IS NULL",
    "update the chain columns and the contents of a pending row": (
        "UPDATE audit_auditevent SET seq = 999, hash = repeat('f', 64), mac = repeat('0', 64), key_id = 'x', "
        "actor_id = NULL WHERE seq IS NULL"
    ),
    "replace the trigger function": (
        "CREATE OR REPLACE FUNCTION audit_auditevent_refuse_change() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN NEW; END; $$"
    ),
    "delete": "DELETE FROM audit_auditevent",
    "truncate": "TRUNCATE audit_auditevent",
    "disable triggers": "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
    "drop the trigger": "DROP TRIGGER audit_auditevent_no_update_delete ON audit_auditevent",
    "skip triggers as a replica": "SET session_replication_role = replica",
    "rewrite the chain head's history": "DELETE FROM audit_auditchainhead",
    "record a migration": "INSERT INTO django_migrations (app, name, applied) VALUES ('x', 'y', now())",
    "create a table": "CREATE TABLE sneaky (id int)",
}


@pytest.mark.parametrize("statement", REFUSED.values(), ids=REFUSED.keys())
def test_the_portals_role_cannot_change_the_audit_log(install: Install, statement: str) -> None:
    with (
        install.connect_as_portal() as app,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        app.execute(statement)


def test_the_maintenance_switch_does_nothing_for_the_portals_role(install: Install) -> None:
    """Any session may set the switch; the triggers also require ownership (mentorship/audit/maintenance.py)."""
    with install.connect_as_portal() as app:
        app.execute("SELECT set_config('mentorlink.audit_maintenance', 'on', false)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM audit_auditevent")


def test_the_portals_role_reads_and_appends(install: Install) -> None:
    with install.connect_as_portal() as app:
        # Under xdist this module's tests may run on a worker with its own fresh install: count may be 0 there.
        (count,) = app.execute(  # type: ignore[misc]
            "SELECT count(*) FROM audit_auditevent WHERE seq IS NOT NULL"
        ).fetchone()
        (head,) = app.execute("SELECT seq FROM audit_auditchainhead WHERE id = 1").fetchone()  # type: ignore[misc]
        assert head == count


PENDING_ROW = """
INSERT INTO audit_auditevent (occurred_at, actor_label, action, object_type, object_id, outcome, request_id, details,
                              prev_hash, mac, key_id)
VALUES (now(), 'system:test', 'auth.sign_in', '', '', 'ok', '', '{}', '', '', '') RETURNING id
"""
FILL = "UPDATE audit_auditevent SET seq = %s, prev_hash = '', hash = %s, mac = %s, key_id = 'k' WHERE id = %s"


def test_the_portals_role_fills_a_pending_rows_chain_columns_once(install: Install) -> None:
    """What the sequencer needs and nothing more: the chain columns of a pending row, once (migration audit/0006)."""
    with install.connect_as_portal() as app:
        (pk,) = app.execute(PENDING_ROW).fetchone()  # type: ignore[misc]
        seq = 10_000_000 + pk
        app.execute(FILL, [seq, f"{pk:064x}", "a" * 64, pk])
        (stored,) = app.execute("SELECT seq FROM audit_auditevent WHERE id = %s", [pk]).fetchone()  # type: ignore[misc]
        assert stored == seq
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            app.execute(FILL, [seq + 1, f"{pk + 1:064x}", "b" * 64, pk])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            app.execute(
                "UPDATE audit_auditevent SET seq = NULL, hash = NULL, mac = '', key_id = '' WHERE id = %s", [pk]
            )
        (after,) = app.execute("SELECT hash FROM audit_auditevent WHERE id = %s", [pk]).fetchone()  # type: ignore[misc]
        assert after == f"{pk:064x}"

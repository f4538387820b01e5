"""Create (or update) the database role the portal runs as, with exactly the rights docs/operations.md documents.

Run by the owning role right after `migrate` (compose's one-shot `migrate` service, the systemd install's upgrade
step). The owner keeps the tables; the portal's role gets:

- SELECT, INSERT, UPDATE, DELETE on the portal's tables, and the sequences behind their ids;
- on `audit_auditevent` only SELECT, INSERT and UPDATE of the five chain columns the sequencer fills (seq,
  prev_hash, hash, mac, key_id; the trigger of migration audit/0006 lets it fill them once, on a pending row, and
  nothing else); no DELETE or TRUNCATE, and, not being the owner, no way to drop or disable the append-only
  triggers or to use the maintenance switch (mentorship/audit/maintenance.py);
- on `audit_auditchainhead` only SELECT and UPDATE (the row itself is made by migration audit/0005);
- on `django_migrations` only SELECT (only the owner changes the schema);

The password comes from the environment (APP_DB_PASSWORD), never the command line. Safe to run again: every step
converges. PostgreSQL only; on SQLite there are no roles and the command says so.
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
AUDIT_CHAIN_COLUMNS = "seq, prev_hash, hash, mac, key_id"


def grant_statements(role: str, database: str) -> list[str]:
    """The grants, in order: broad table rights first, then the audit and migration tables narrowed."""
    quote = connection.ops.quote_name
    r, db = quote(role), quote(database)
    return [
        f"GRANT CONNECT ON DATABASE {db} TO {r}",
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}",
        f"REVOKE ALL ON audit_auditevent FROM {r}",
        f"GRANT SELECT, INSERT ON audit_auditevent TO {r}",
        f"GRANT UPDATE ({AUDIT_CHAIN_COLUMNS}) ON audit_auditevent TO {r}",
        f"REVOKE ALL ON audit_auditchainhead FROM {r}",
        f"GRANT SELECT, UPDATE ON audit_auditchainhead TO {r}",
        f"REVOKE ALL ON django_migrations FROM {r}",
        f"GRANT SELECT ON django_migrations TO {r}",
    ]


class Command(BaseCommand):
    help = "Create or update the portal's database role with the documented grants (run as the owner, after migrate)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--role",
            default=os.environ.get("APP_DB_ROLE", "mentorlink_app"),
            help="The role web, worker and beat connect as (default: APP_DB_ROLE or mentorlink_app).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            self.stdout.write("Not PostgreSQL: database roles do not apply; nothing to do.")
            return
        role = options["role"]
        if not ROLE_NAME.match(role):
            raise CommandError(f"{role!r} is not a plain role name (lower-case letters, digits, underscores).")
        password = os.environ.get("APP_DB_PASSWORD", "")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_database(), current_user")
            database, owner = cursor.fetchone()
            if role == owner:
                raise CommandError("The portal's role must not be the role that owns the tables (docs/operations.md).")
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            exists = cursor.fetchone() is not None
            quoted = connection.ops.quote_name(role)
            if not exists:
                cursor.execute(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
            if password:
                # Utility statements take no bind parameters; psycopg's client-side binding quotes the literal.
                cursor.execute(f"ALTER ROLE {quoted} WITH LOGIN PASSWORD %s", [password])
            for statement in grant_statements(role, database):
                cursor.execute(statement)
        verb = "Created" if not exists else "Updated"
        self.stdout.write(f"{verb} role {role}: the documented grants are in place (owner: {owner}).")

"""The narrow switch that lets a table owner empty the audit log (test database flushes only).

The database refuses UPDATE, DELETE and TRUNCATE on `audit_auditevent` (migration 0002). Django's test flush must
still empty it between transactional tests, so the triggers let a change through when, and only when:

- PostgreSQL: the session has set `mentorlink.audit_maintenance = 'on'` AND the current role owns the table (or is
  a superuser). Any session may set a custom setting, so the setting alone would protect nothing; the ownership
  test makes the switch useless to the application's production role, which must not own the table (an owner can
  drop the trigger anyway, so the switch gives an owner nothing new). See docs/decisions.md.
- SQLite: the connection's `mentorlink_audit_maintenance()` function returns 1. The function is registered on each
  connection Django opens (see `register_sqlite_function`) and reads a flag on that connection wrapper, so only code
  in the same process, on the same connection, inside `audit_maintenance()` can flip it. A connection opened without
  the function (the sqlite3 shell) fails the trigger with "no such function", which refuses the change too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

SETTING_NAME = "mentorlink.audit_maintenance"
SQLITE_FUNCTION = "mentorlink_audit_maintenance"
_FLAG = "_mentorlink_audit_maintenance"


def register_sqlite_function(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """connection_created receiver: give each SQLite connection the function the audit triggers call."""
    if connection.vendor != "sqlite":
        return

    def maintenance_on() -> int:
        return 1 if getattr(connection, _FLAG, False) else 0

    connection.connection.create_function(SQLITE_FUNCTION, 0, maintenance_on)


@contextmanager
def audit_maintenance(using: str = "default") -> Iterator[None]:
    """Allow UPDATE/DELETE/TRUNCATE of the audit log on this connection for the duration. Tests' flush only."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', false)", [SETTING_NAME])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'off', false)", [SETTING_NAME])
    else:
        setattr(connection, _FLAG, True)
        try:
            yield
        finally:
            setattr(connection, _FLAG, False)

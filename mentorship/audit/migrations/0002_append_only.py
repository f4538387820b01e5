"""Make the audit log append-only in the database itself (docs/architecture.md, "The audit log").

PostgreSQL: BEFORE UPDATE/DELETE row triggers and a BEFORE TRUNCATE statement trigger raise unless the maintenance
switch is on AND the current role owns the table (mentorship/audit/maintenance.py explains why both).
SQLite: BEFORE UPDATE/DELETE triggers abort unless the connection's mentorlink_audit_maintenance() returns 1.
SQLite has no TRUNCATE; its DELETE without WHERE runs the row triggers.

Note for future migrations: on SQLite, Django rebuilds a table to alter it, which drops its triggers. Any later
migration that alters audit_auditevent must run CREATE_SQLITE again (importable from here).
"""

from django.db import migrations

CREATE_POSTGRESQL = """
CREATE OR REPLACE FUNCTION audit_auditevent_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('mentorlink.audit_maintenance', true) = 'on'
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        IF TG_OP = 'UPDATE' THEN
            RETURN NEW;
        END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'The audit log is append-only: % on % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_refuse_change();
CREATE TRIGGER audit_auditevent_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_refuse_change();
"""

DROP_POSTGRESQL = """
DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_auditevent_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_refuse_change();
"""

CREATE_SQLITE = [
    """
    CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
    WHEN mentorlink_audit_maintenance() = 0
    BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: UPDATE on audit_auditevent is refused.'); END
    """,
    """
    CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent
    WHEN mentorlink_audit_maintenance() = 0
    BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: DELETE on audit_auditevent is refused.'); END
    """,
]

DROP_SQLITE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete",
]


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(CREATE_POSTGRESQL, params=None)
    elif vendor == "sqlite":
        for statement in CREATE_SQLITE:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"The audit log's append-only triggers are not written for {vendor}.")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(DROP_POSTGRESQL, params=None)
    elif vendor == "sqlite":
        for statement in DROP_SQLITE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(create_triggers, drop_triggers, elidable=False)]

"""The sequencer (docs/decisions.md, "Audit appends no longer wait for each other"): events are inserted pending
(seq, prev_hash, hash, mac, key_id empty) and chained afterwards by mentorship/audit/sequencer.py.

The append-only triggers now let an UPDATE through in one case only: a pending row getting its five chain columns,
every other column unchanged (compared as JSON minus those five, so a column added later is covered without editing
this). A sequenced row can never change again; DELETE and TRUNCATE stay refused. The rows chained before this
migration get their MAC here (their hashes are kept: the SHA-256 links are the same definition). The locked
`audit_append` function of migration 0004 is dropped: nothing calls it now.

SQLite rebuilds the table to alter it, which drops its triggers: they are created again at the end, in their new
form (the same rule, columns listed).
"""

from django.conf import settings
from django.db import migrations, models

from mentorship.audit.chain import CANONICAL_FIELDS
from mentorship.audit.keys import mac_keys

CHAIN_COLUMNS = ("seq", "prev_hash", "hash", "mac", "key_id")

PG_FUNCTION = """
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
    -- The sequencer's one permitted write: a pending row's chain columns, filled once, nothing else touched.
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.hash IS NOT NULL AND NEW.mac <> ''
       AND NEW.key_id <> ''
       AND (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash' - 'mac' - 'key_id')
           = (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash' - 'mac' - 'key_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'The audit log is append-only: % on % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP FUNCTION IF EXISTS audit_append(text, text, timestamptz, bigint, text, text, text, text, bigint, bigint,
                                     text, inet, text, jsonb);
"""

# Every column but the five the sequencer fills: the id and the columns the hash covers (after seq).
_SAME = " AND ".join(f"NEW.{column} IS OLD.{column}" for column in ("id", *CANONICAL_FIELDS[1:]))

SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
    WHEN mentorlink_audit_maintenance() = 0 AND NOT (
        OLD.seq IS NULL AND NEW.seq IS NOT NULL AND NEW.hash IS NOT NULL AND NEW.mac <> '' AND NEW.key_id <> ''
        AND {_SAME})
    BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: UPDATE on audit_auditevent is refused.'); END
    """,
    """
    CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent
    WHEN mentorlink_audit_maintenance() = 0
    BEGIN SELECT RAISE(ABORT, 'The audit log is append-only: DELETE on audit_auditevent is refused.'); END
    """,
]


def drop_old(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditevent_no_update")
        schema_editor.execute("DROP TRIGGER IF EXISTS audit_auditevent_no_delete")


def mac_and_protect(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    event = apps.get_model("audit", "AuditEvent")
    keys = mac_keys()
    alias = schema_editor.connection.alias
    if vendor == "postgresql":
        schema_editor.execute("SELECT set_config('mentorlink.audit_maintenance', 'on', true)", params=None)
    for pk, chain_hash in event.objects.using(alias).filter(mac="").exclude(hash=None).values_list("pk", "hash"):
        event.objects.using(alias).filter(pk=pk).update(mac=keys.mac(chain_hash), key_id=keys.current_id)
    if vendor == "postgresql":
        schema_editor.execute("SELECT set_config('mentorlink.audit_maintenance', 'off', true)", params=None)
        schema_editor.execute(PG_FUNCTION, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("assignments", "0007_import_staging"),
        ("audit", "0005_chain_head_row"),
        ("people", "0004_list_order_index"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(drop_old, migrations.RunPython.noop, elidable=False),
        migrations.AlterModelOptions(
            name="auditevent",
            options={"ordering": ["-id"]},
        ),
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(
                blank=True, default="", help_text="Which AUDIT_HMAC_KEYS key made mac.", max_length=32
            ),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(blank=True, default="", help_text="HMAC-SHA256 of hash (keys.py).", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="prev_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(
                blank=True, help_text="Position in the hash chain, from 1; empty while pending.", null=True, unique=True
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(condition=models.Q(("seq__isnull", True)), fields=["id"], name="audit_pending_idx"),
        ),
        migrations.RunPython(mac_and_protect, migrations.RunPython.noop, elidable=False),
    ]

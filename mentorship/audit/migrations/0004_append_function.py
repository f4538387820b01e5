"""PostgreSQL: append an audit event in one call (lock the head, hash, insert, advance) to keep the head lock short.

The hash is sha256(prefix || seq || suffix || prev_hash) where Python sends the canonical event text split around
the seq value (mentorship/audit/services.py `_append_postgresql`); Python recomputes the hash before commit and
refuses a mismatch. Nothing to do on SQLite (one writer at a time anyway).
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_append(
    p_prefix text, p_suffix text, p_occurred_at timestamptz, p_actor_id bigint, p_actor_label text, p_action text,
    p_object_type text, p_object_id text, p_program_id bigint, p_student_id bigint, p_outcome text, p_ip inet,
    p_request_id text, p_details jsonb
) RETURNS TABLE (event_id bigint, event_seq bigint, event_prev_hash text, event_hash text)
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash text;
BEGIN
    -- Writers queue here one at a time (fair), instead of all waking on the head row at every commit.
    PERFORM pg_advisory_xact_lock(470016701780);
    -- A separate statement, so its snapshot is taken after the previous holder committed.
    SELECT h.seq, h.hash INTO head_seq, head_hash FROM audit_auditchainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_auditchainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64)) ON CONFLICT (id) DO NOTHING;
        SELECT h.seq, h.hash INTO head_seq, head_hash FROM audit_auditchainhead h WHERE h.id = 1 FOR UPDATE;
    END IF;
    event_seq := head_seq + 1;
    event_prev_hash := head_hash;
    event_hash := encode(
        sha256(convert_to(p_prefix || event_seq::text || p_suffix, 'UTF8') || convert_to(head_hash, 'UTF8')), 'hex'
    );
    INSERT INTO audit_auditevent (seq, occurred_at, actor_id, actor_label, action, object_type, object_id,
                                  program_id, student_id, outcome, ip, request_id, details, prev_hash, hash)
    VALUES (event_seq, p_occurred_at, p_actor_id, p_actor_label, p_action, p_object_type, p_object_id,
            p_program_id, p_student_id, p_outcome, p_ip, p_request_id, p_details, event_prev_hash, event_hash)
    RETURNING id INTO event_id;
    UPDATE audit_auditchainhead SET seq = event_seq, hash = event_hash WHERE id = 1;
    RETURN NEXT;
END;
$$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS audit_append(text, text, timestamptz, bigint, text, text, text, text, bigint, bigint, "
    "text, inet, text, jsonb)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_verification")]

    operations = [migrations.RunPython(create, drop, elidable=False)]

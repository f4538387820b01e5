"""Create the chain head row at install time (docs/operations.md, "Database roles").

The portal's database role may only SELECT and UPDATE `audit_auditchainhead`; before this migration the first audit
event of a fresh install inserted the row itself, which that role may not do, so the first sign-in failed with a 500.
The row is now made by whoever runs the migrations (the owning role). The append paths keep their own insert as a
fallback for test databases, whose flush empties every table.
"""

from django.db import migrations

GENESIS_HASH = "0" * 64


def create_head(apps, schema_editor):
    head = apps.get_model("audit", "AuditChainHead")
    head.objects.using(schema_editor.connection.alias).get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_append_function")]

    operations = [migrations.RunPython(create_head, migrations.RunPython.noop, elidable=False)]

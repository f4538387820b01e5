"""One running reconciliation per program and kind (docs/decisions.md, "One running reconciliation"). Runs left
"running" twice over by a double click before this constraint are closed first, the newest kept."""

import django.db.models.functions.comparison
from django.conf import settings
from django.db import migrations, models
from django.utils import timezone


def close_duplicate_running_runs(apps, schema_editor):
    Run = apps.get_model("sync", "ReconciliationRun")
    seen = set()
    for run in Run.objects.filter(status="running").order_by("-started_at", "-id"):
        key = (run.program_id or 0, run.dry_run)
        if key in seen:
            Run.objects.filter(pk=run.pk).update(
                status="failed", finished_at=timezone.now(), error="Started twice; the newer run was kept."
            )
        seen.add(key)


class Migration(migrations.Migration):
    dependencies = [
        ("assignments", "0007_import_staging"),
        ("sync", "0002_sync_engine"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(close_duplicate_running_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="reconciliationrun",
            constraint=models.UniqueConstraint(
                django.db.models.functions.comparison.Coalesce("program", models.Value(0)),
                models.F("dry_run"),
                condition=models.Q(("status", "running")),
                name="one_running_reconciliation",
            ),
        ),
    ]

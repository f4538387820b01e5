"""Beat jobs of the coordinator side: thin, they call one function."""

from __future__ import annotations

from celery import shared_task

from . import notifications


@shared_task(name="assignments.weekly_digest")
def weekly_digest() -> int:
    """Mail coordinators the assignments ending in the next 14 days (Mondays, see CELERY_BEAT_SCHEDULE)."""
    return notifications.send_weekly_digest()


@shared_task(name="assignments.import_csv", acks_late=True, soft_time_limit=1800, time_limit=1900)
def import_csv(batch_id: int) -> str:
    """Create a big confirmed CSV import (all rows or none); see csv_import.import_queued."""
    from . import csv_import

    return csv_import.import_queued(batch_id=batch_id)


@shared_task(name="assignments.import_sweep")
def import_sweep() -> int:
    """Send again the imports confirmed more than 10 minutes ago that no worker has finished (a lost message)."""
    from . import csv_import

    return csv_import.imports_requeue()

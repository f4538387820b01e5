"""Beat jobs of the coordinator side: thin, they call one function."""

from __future__ import annotations

from celery import shared_task

from . import notifications


@shared_task(name="assignments.weekly_digest")
def weekly_digest() -> int:
    """Mail coordinators the assignments ending in the next 14 days (Mondays, see CELERY_BEAT_SCHEDULE)."""
    return notifications.send_weekly_digest()

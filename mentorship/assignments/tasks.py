"""Beat jobs of the coordinator side: thin, they call one function."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import import_batches, notifications
from .services import assignments_activate_due, assignments_end_due, bulk_approval_run, bulk_approvals_requeue


@shared_task(name="assignments.weekly_digest")
def weekly_digest() -> int:
    """Mail coordinators the assignments ending in the next 14 days (Mondays, see CELERY_BEAT_SCHEDULE)."""
    return notifications.send_weekly_digest()


@shared_task(name="assignments.mentor_ending_notices")
def mentor_ending_notices() -> int:
    """Mail mentors whose assignment ends in a week (daily, see CELERY_BEAT_SCHEDULE)."""
    return notifications.send_mentor_ending_notices()


@shared_task(name="assignments.import_csv", acks_late=True, soft_time_limit=1800, time_limit=1900)
def import_csv(batch_id: int) -> str:
    """Create a big confirmed CSV import (all rows or none); see import_batches.import_queued."""
    return import_batches.import_queued(batch_id=batch_id)


@shared_task(name="assignments.import_sweep")
def import_sweep() -> int:
    """Send again the imports confirmed more than 10 minutes ago that no worker took (a lost message), and those whose
    worker died while creating them."""
    return import_batches.imports_requeue()


@shared_task(name="assignments.bulk_approve", acks_late=True, soft_time_limit=1800, time_limit=1900)
def bulk_approve(job_id: int) -> str:
    """Run a bulk approval too big for the request (all rows in one transaction); see services.bulk_approval_run."""
    return bulk_approval_run(job_id=job_id)


@shared_task(name="assignments.bulk_approve_sweep")
def bulk_approve_sweep() -> int:
    """Send again the bulk approvals queued more than 10 minutes ago that no worker has finished."""
    return bulk_approvals_requeue()


# The name predates the move from sync: the beat schedule (settings) and queued messages use it.
@shared_task(name="sync.dates")
def apply_dates() -> dict[str, int]:
    """Start assignments whose start date arrived and end those whose end date passed (their links follow)."""
    today = timezone.localdate()
    activated = assignments_activate_due(today=today)
    ended = assignments_end_due(today=today)
    return {"activated": _count(activated), "ended": _count(ended)}


def _count(value: object) -> int:
    if isinstance(value, int):
        return value
    try:
        return len(value)  # type: ignore[arg-type]
    except TypeError:
        return 0

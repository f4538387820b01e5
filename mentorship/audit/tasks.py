"""Thin Celery tasks for the audit app: load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from .checkpoints import checkpoint_write
from .models import AuditVerification
from .sequencer import sequence_pending, sequencer_kick_clear
from .verification import verification_run


@shared_task(name="audit.verify_chain", acks_late=True, soft_time_limit=900, time_limit=1000)
def verify_chain(verification_id: int) -> None:
    verification = AuditVerification.objects.filter(pk=verification_id).first()
    if verification is None:
        return
    verification_run(verification=verification)


@shared_task(name="audit.sequence", acks_late=True, soft_time_limit=120, time_limit=180)
def sequence() -> int:
    """Chain the pending events, then write a checkpoint if one is due. Idempotent: nothing pending is a no-op.

    The queued marker is cleared first, so a commit that lands while this runs queues the next run (sequencer.py).
    """
    sequencer_kick_clear()
    chained = sequence_pending()
    if chained:
        checkpoint_write()
    return chained


@shared_task(name="audit.checkpoint", acks_late=True)
def checkpoint() -> None:
    """Beat's hourly-at-most checkpoint when the log moved slowly (fewer than AUDIT_CHECKPOINT_EVERY events)."""
    checkpoint_write()

"""Thin Celery tasks for the audit app: load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from .models import AuditVerification
from .verification import verification_run


@shared_task(name="audit.verify_chain", acks_late=True, soft_time_limit=900, time_limit=1000)
def verify_chain(verification_id: int) -> None:
    verification = AuditVerification.objects.filter(pk=verification_id).first()
    if verification is None:
        return
    verification_run(verification=verification)

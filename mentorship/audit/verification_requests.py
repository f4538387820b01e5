"""Starting a chain verification: inline for a small log, as a task for a long one.

Above the task module (which runs `verification_run` from .verification), so the service that enqueues and the
task that runs never import each other.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from .models import AuditChainHead, AuditVerification
from .tasks import verify_chain
from .verification import verification_run

# Logs up to this many events are verified inline when an auditor presses the button (a few seconds at most);
# longer ones go to a Celery task so no web worker is held for a minute.
VERIFY_INLINE_MAX_EVENTS = 20_000


def verification_request(
    *, actor: AbstractBaseUser | AnonymousUser | None, via: str = "page"
) -> tuple[AuditVerification, bool]:
    """Start a chain verification. Returns (verification, ran_inline).

    Small logs are verified at once; longer ones are handed to the `audit.verify_chain` task after commit. A run
    already in progress is returned instead of starting a second one.
    """
    running = AuditVerification.objects.filter(
        state=AuditVerification.State.RUNNING, started_at__gte=timezone.now() - datetime.timedelta(minutes=15)
    ).first()
    if running is not None:
        return running, False
    head_seq = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    requester: Any = actor if actor is not None and actor.is_authenticated else None  # an accounts.User
    verification = AuditVerification.objects.create(
        requested_by=requester,
        requested_via=via,
        started_at=timezone.now(),
        last_seq=head_seq,
    )
    if head_seq <= VERIFY_INLINE_MAX_EVENTS:
        return verification_run(verification=verification), True
    transaction.on_commit(lambda: verify_chain.delay(verification.pk))
    return verification, False

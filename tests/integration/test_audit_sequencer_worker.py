"""With a real worker, audited changes get chained (and signed for) without anyone calling the sequencer: each
auditing commit queues `audit.sequence` (mentorship/audit/sequencer.py), the worker runs it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, transaction

from mentorship.audit.actions import Action
from mentorship.audit.checkpoints import checkpoints_read
from mentorship.audit.models import AuditEvent
from mentorship.audit.services import audit_record
from mentorship.audit.verification import chain_check
from tests.helpers import wait_until

pytestmark = [pytest.mark.integration]

WRITERS, COMMITS = 4, 10


@pytest.mark.django_db(transaction=True)
def test_the_worker_chains_committed_events_by_itself(celery_worker: Any) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(COMMITS):
                with transaction.atomic():  # one commit, two events: one kick
                    audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor=f"writer-{n}", details={"i": i})
                    audit_record(action=Action.PROGRAM_UPDATED, system_actor=f"writer-{n}", details={"i": i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    total = WRITERS * COMMITS * 2
    assert AuditEvent.objects.count() == total
    wait_until(
        lambda: not AuditEvent.objects.filter(seq__isnull=True).exists(),
        timeout=60,
        message="the worker to chain every event",
    )
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, total + 1))
    marks = wait_until(lambda: checkpoints_read().checkpoints, timeout=30, message="a signed checkpoint")
    assert marks[0].seq >= 1
    result = chain_check()
    assert result.ok, result.message
    assert result.events_checked == total

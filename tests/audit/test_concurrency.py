"""Concurrent writers never wait for each other and never fork the chain (each thread has its own connection).

Two sequencers run while the writers write, as two workers would: the head row lets one chain at a time, and what
they leave behind is one gapless chain that verifies.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.audit.sequencer import sequence_pending
from mentorship.audit.services import audit_record
from mentorship.audit.verification import chain_check

WRITERS = 8
APPENDS = 25


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_writers_leave_a_gapless_verified_chain():
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS + 2)
    writing = threading.Event()

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor=f"writer-{n}", details={"i": i})
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sequence() -> None:
        try:
            start.wait()
            while not writing.is_set():
                sequence_pending(batch_size=7)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    writers = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    sequencers = [threading.Thread(target=sequence) for _ in range(2)]
    for thread in writers + sequencers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    writing.set()
    for thread in sequencers:
        thread.join(timeout=120)
    assert not errors, errors
    sequence_pending()
    assert not AuditEvent.objects.filter(seq__isnull=True).exists()
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, WRITERS * APPENDS + 1))
    result = chain_check()
    assert result.ok, result.message
    assert result.events_checked == WRITERS * APPENDS

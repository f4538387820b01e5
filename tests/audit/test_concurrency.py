"""Concurrent writers never fork the chain (each thread has its own database connection)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.audit.services import audit_record
from mentorship.audit.verification import chain_check

WRITERS = 4
APPENDS = 25


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_the_chain_intact():
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def write(n: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor=f"writer-{n}", details={"i": i})
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
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, WRITERS * APPENDS + 1))
    result = chain_check()
    assert result.ok, result.message
    assert result.events_checked == WRITERS * APPENDS

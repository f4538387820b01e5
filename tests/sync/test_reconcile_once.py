"""A double click on "Run reconciliation", or two admins at once, start one run (docs/decisions.md, "One running
reconciliation"); a run whose worker died does not block the next one."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.sync import reconcile
from mentorship.sync.models import ReconciliationRun
from tests.conftest import login

pytestmark = pytest.mark.django_db


def test_a_second_start_while_one_runs_starts_nothing_and_names_the_first(program, coordinator):
    first = reconcile.reconcile_start(program=program, actor=coordinator)
    with pytest.raises(reconcile.ReconcileAlreadyRunning) as refused:
        reconcile.reconcile_start(program=program, actor=coordinator)
    assert refused.value.run.pk == first.pk
    assert "already running" in str(refused.value) and "nothing new was started" in str(refused.value)
    assert ReconciliationRun.objects.count() == 1
    assert AuditEvent.objects.filter(action=Action.RECONCILE_RUN).count() == 1
    # A preview is another kind of run, and a finished run blocks nothing.
    assert reconcile.reconcile_start(program=program, dry_run=True, actor=coordinator).dry_run
    ReconciliationRun.objects.filter(pk=first.pk).update(status=ReconciliationRun.Status.DONE)
    assert reconcile.reconcile_start(program=program, actor=coordinator).pk != first.pk


def test_a_run_whose_worker_died_is_closed_and_does_not_block(program, coordinator):
    lost = reconcile.reconcile_start(program=program)
    ReconciliationRun.objects.filter(pk=lost.pk).update(started_at=timezone.now() - datetime.timedelta(hours=2))
    fresh = reconcile.reconcile_start(program=program, actor=coordinator)
    lost.refresh_from_db()
    assert fresh.pk != lost.pk
    assert lost.status == ReconciliationRun.Status.FAILED and "worker stopped" in lost.error


def test_the_beat_skips_a_program_whose_run_is_under_way(program, coordinator):
    mine = reconcile.reconcile_start(program=program, actor=coordinator)
    assert mine.pk not in [run.pk for run in reconcile.reconcile_start_programs()]
    assert ReconciliationRun.objects.filter(program=program, status="running").count() == 1


def test_double_click_on_run_reconciliation_starts_one_run(client, program, coordinator):
    login(client, coordinator)
    url = reverse("sync:reconcile_run")
    first = client.post(url, {"program": program.pk}, follow=True)
    second = client.post(url, {"program": program.pk}, follow=True)
    assert first.status_code == second.status_code == 200
    assert ReconciliationRun.objects.filter(program=program, dry_run=False).count() == 1
    texts = [str(m) for m in second.context["messages"]]
    assert any("already running" in t for t in texts), texts


@pytest.mark.django_db(transaction=True)
def test_two_admins_at_once_start_one_run(program, coordinator, admin_user):
    """Two requests (threads, each with its own connection) race; the unique constraint lets one through (on SQLite
    the second writer waits for the first, then meets the same constraint)."""
    start = threading.Barrier(2)
    started: list[int] = []
    refused: list[int] = []
    failures: list[BaseException] = []

    def run(actor) -> None:
        try:
            start.wait(timeout=10)
            started.append(reconcile.reconcile_start(program=program, actor=actor).pk)
        except reconcile.ReconcileAlreadyRunning as already:
            refused.append(already.run.pk)
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(who,)) for who in (coordinator, admin_user)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures
    assert len(started) == 1 and refused == started
    assert ReconciliationRun.objects.filter(program=program).count() == 1

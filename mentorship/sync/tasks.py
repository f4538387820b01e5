"""Celery tasks: thin, idempotent, arguments are ids and a generation only. Each loads by id and calls a service."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services
from .course_names import course_names_refresh
from .reconcile import reconcile_execute, reconcile_start_programs

logger = logging.getLogger(__name__)


@shared_task(name="sync.sync_link")
def sync_link(link_id: int, generation: int) -> str:
    return services.link_sync(link_id=link_id, generation=generation)


@shared_task(name="sync.sweep")
def sweep() -> int:
    """Beat: publish again the links with work left that nobody touched for a while (a lost message, a dead
    worker)."""
    return services.links_sweep()


@shared_task(name="sync.circuit_probe")
def circuit_probe() -> bool:
    """Beat: while Canvas is refusing, one cheap request decides when the held work may go again."""
    return services.circuit_probe()


@shared_task(name="sync.sis_push", soft_time_limit=600, time_limit=660)
def sis_push() -> int | None:
    batch = services.sis_push()
    return batch.pk if batch else None


@shared_task(name="sync.sis_poll")
def sis_poll(batch_id: int) -> bool:
    return services.sis_poll(batch_id=batch_id)


@shared_task(name="sync.pairing_codes_watch", soft_time_limit=900, time_limit=960)
def pairing_codes_watch() -> dict[str, int]:
    return services.pairing_codes_watch()


@shared_task(name="sync.reconcile")
def reconcile() -> list[int]:
    """One run per active program, each in its own task (a big program must not hold the others up)."""
    run_ids = [run.pk for run in reconcile_start_programs()]
    for run_id in run_ids:
        reconcile_run.delay(run_id)
    return run_ids


# Reading every observer link of a large program takes longer than the default task limit (settings: 120 s).
@shared_task(name="sync.reconcile_run", soft_time_limit=1800, time_limit=1900)
def reconcile_run(run_id: int) -> str:
    return reconcile_execute(run_id=run_id).status


@shared_task(name="sync.course_names")
def course_names() -> int:
    """Read course names from Canvas for the pages (safe to run twice: it only overwrites names)."""
    return course_names_refresh()

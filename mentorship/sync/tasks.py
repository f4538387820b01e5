"""Celery tasks: thin, idempotent, arguments are ids and a generation only."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="sync.sync_link")
def sync_link(link_id: int, generation: int) -> None:
    services.link_sync(link_id=link_id, generation=generation)

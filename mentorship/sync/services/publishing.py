"""Publishing work to the broker: one task per row, a SIS import above the threshold, the sweeper, the circuit probe.

A message that cannot be sent is never an error: the row is safe in the database and the sweeper sends it later.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from canvas_client import (
    CanvasAuthError,
    CanvasClient,
    CanvasError,
)
from mentorship.assignments.models import LinkMethod
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record
from mentorship.celery import app, task_named
from mentorship.core import canvas

from ..circuit import circuit_is_open, circuit_open
from ..models import CanvasConnection, ObserverLink, SisBatch
from .common import (
    WORKING,
    State,
)

logger = logging.getLogger(__name__)


# After a failed publish, this process stops trying for a few seconds: connecting to a dead broker takes seconds,
# and every row is safe in the database for the sweeper anyway.
BROKER_DOWN_BACKOFF_SECONDS = 10.0
_broker_down_until = 0.0


def _publish(link_id: int, generation: int, countdown: float | None = None) -> bool:
    global _broker_down_until
    sync_link = task_named("sync.sync_link")
    if time.monotonic() < _broker_down_until:
        return False
    try:
        # No publish retries: a message that cannot be sent now is sent by the sweeper, and an approval must not
        # wait on a broker that is down.
        if countdown is None:
            sync_link.apply_async((link_id, generation), retry=False)
        else:
            sync_link.apply_async((link_id, generation), countdown=countdown, retry=False)
    except Exception:
        _broker_down_until = time.monotonic() + BROKER_DOWN_BACKOFF_SECONDS
        logger.warning("broker unavailable; link %s left for the sweeper", link_id)
        return False
    return True


def _sis_eligible(link_ids: list[int]) -> list[int]:
    return list(
        ObserverLink.objects.filter(
            pk__in=link_ids,
            kind=ObserverLink.Kind.OBSERVEE,
            assignment__link_method=LinkMethod.OBSERVEE,
            state=State.PENDING,
        )
        .exclude(assignment__mentor__sis_user_id="")
        .exclude(assignment__student__sis_user_id="")
        .values_list("pk", flat=True)
    )


def links_enqueue(*, links: Iterable[ObserverLink]) -> None:
    """Publish the work for these links (call after commit). Above SIS_BULK_THRESHOLD eligible observee links,
    one SIS import carries them; the rest get one task each. A lost message is re-sent by the sweeper."""
    sis_push = task_named("sync.sis_push")

    link_list = [link for link in links if link.state in (State.PENDING, *WORKING)]
    if not link_list:
        return
    bulk: set[int] = set()
    if len(link_list) > settings.SIS_BULK_THRESHOLD:
        eligible = _sis_eligible([link.pk for link in link_list])
        if len(eligible) > settings.SIS_BULK_THRESHOLD:
            try:
                sis_push.apply_async(retry=False)
                bulk = set(eligible)
            except Exception:
                logger.warning("broker unavailable; SIS push left for the sweeper")
                return
    for link in link_list:
        if link.pk in bulk:
            continue
        if not _publish(link.pk, link.generation):
            return  # the broker is down: don't make the coordinator wait on every remaining link


def links_requeue_held() -> int:
    """Publish every row with work left (after the circuit closes)."""
    rows = list(
        ObserverLink.objects.filter(state__in=[State.PENDING, *WORKING]).values_list("pk", "generation")[:20000]
    )
    for pk, generation in rows:
        if not _publish(pk, generation):
            break
    return len(rows)


def queue_depth() -> int:
    """Messages waiting in the task queue, or 0 when the broker cannot say (or is down)."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            queue = settings.CELERY_TASK_DEFAULT_QUEUE
            channel: Any = conn.default_channel
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except Exception:
        return 0


def links_sweep(*, now: datetime.datetime | None = None) -> int:
    """Re-publish rows with work left that nobody touched for SWEEPER_STALE_SECONDS: a worker killed mid-task, a
    broker down at commit time, a lost message. Touches each row so the next sweep waits another period."""
    sis_poll = task_named("sync.sis_poll")

    if circuit_is_open():
        return 0
    now = now or timezone.now()
    stale_before = now - datetime.timedelta(seconds=settings.SWEEPER_STALE_SECONDS)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    candidates = ObserverLink.objects.filter(updated_at__lt=stale_before).filter(
        Q(state__in=WORKING) | (Q(state=State.PENDING) & due)
    )
    depth = queue_depth()
    if depth > 0 and depth >= candidates.filter(state=State.PENDING).count():
        # The queue holds at least as many messages as there are stale pending rows: each may well be waiting in it,
        # and re-publishing would only double the backlog. Claims that went stale (a worker died holding them) are
        # re-published at once; the pending rows once the queue is shorter than they are many (so a few beat
        # messages in the queue never hold back rows whose messages were lost with a restarted broker).
        candidates = candidates.filter(state__in=WORKING)
    rows = list(candidates.order_by("updated_at").values_list("pk", "generation")[:5000])
    if rows:
        ObserverLink.objects.filter(pk__in=[pk for pk, _ in rows], updated_at__lt=stale_before).filter(
            state=State.PENDING
        ).update(updated_at=now)
    published = 0
    for pk, generation in rows:
        if not _publish(pk, generation):
            break
        published += 1
    for batch_id in SisBatch.objects.filter(finished_at__isnull=True, updated_at__lt=stale_before).values_list(
        "pk", flat=True
    ):
        try:
            sis_poll.apply_async((batch_id,), retry=False)
        except Exception:
            break
    if published:
        logger.info("sweeper re-published %s links", published)
    return published


def circuit_probe(*, client: CanvasClient | None = None) -> bool:
    """If the circuit is open, try GET /users/self; on success close it and re-enqueue the held work.

    Returns True when the circuit is (now) closed.
    """
    conn = CanvasConnection.get()
    limiter = canvas.shared_limiter()
    # The limiter may hold a rejection the circuit has not recorded yet (a 401 answered to a page, not a task).
    if conn.circuit == CanvasConnection.Circuit.CLOSED and not limiter.token_rejected():
        return True
    # Ungated: the probe must try the token the limiter refuses to others (core.ratelimit).
    client = client or canvas.portal_client(gated=False)
    now = timezone.now()
    try:
        client.get_self()
    except CanvasAuthError as exc:
        CanvasConnection.objects.filter(pk=1).update(last_checked_at=now, last_error=exc.user_message)
        if conn.circuit == CanvasConnection.Circuit.CLOSED:
            circuit_open(error=exc)
        return False
    except CanvasError as exc:  # Canvas down is not a token problem: keep waiting, say why
        CanvasConnection.objects.filter(pk=1).update(last_checked_at=now, last_error=exc.user_message)
        return False
    with transaction.atomic():
        won = CanvasConnection.objects.filter(pk=1, circuit=CanvasConnection.Circuit.OPEN).update(
            circuit=CanvasConnection.Circuit.CLOSED, last_checked_at=now, last_success_at=now, updated_at=now
        )
        if won:
            audit_record(
                action=Action.CANVAS_CIRCUIT_CLOSED,
                system_actor="beat",
                details={"held_since": conn.opened_at.isoformat() if conn.opened_at else None},
            )
    limiter.clear_rejected()
    if won:
        links_requeue_held()
    return True

"""What /metrics reports besides request latency, read fresh at every scrape.

The gauges are computed in the scraping process from the database, the broker and the shared limiter, never kept
in process memory: gunicorn's several workers and the Celery workers would otherwise each hold a different value
(docs/decisions.md, "Metrics are read at scrape time").
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mentorship.audit.models import AuditVerification
from mentorship.core.canvas import shared_limiter
from mentorship.sync.models import CanvasConnection, ObserverLink, SisBatch
from mentorship.sync.services import queue_depth

logger = logging.getLogger(__name__)


def _links() -> Metric:
    gauge = GaugeMetricFamily("mentorlink_links", "Observer links and course enrollments by state.", labels=["state"])
    counts = dict(ObserverLink.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))
    for state in ObserverLink.State.values:
        gauge.add_metric([state], counts.get(state, 0))
    return gauge


def _queue() -> list[Metric]:
    waiting = ObserverLink.objects.filter(state__in=ObserverLink.WORK_STATES).count()
    return [
        GaugeMetricFamily("mentorlink_queue_messages", "Messages waiting in the broker's task queue.", queue_depth()),
        GaugeMetricFamily("mentorlink_links_needing_work", "Links whose Canvas change is not done yet.", waiting),
    ]


def _circuit() -> Metric:
    connection = CanvasConnection.get()
    opened = 1 if connection.circuit == CanvasConnection.Circuit.OPEN else 0
    return GaugeMetricFamily(
        "mentorlink_canvas_circuit_open", "1 while Canvas work is stopped (token rejected).", opened
    )


def _throttle() -> list[Metric]:
    status: dict[str, Any] = shared_limiter().status()
    remaining = status.get("remaining")
    return [
        GaugeMetricFamily(
            "mentorlink_canvas_rate_limit_remaining",
            "Canvas's X-Rate-Limit-Remaining as last seen by any worker (NaN before the first answer).",
            float("nan") if remaining is None else float(remaining),
        ),
        GaugeMetricFamily("mentorlink_canvas_concurrency_limit", "Canvas calls allowed at once now.", status["limit"]),
        GaugeMetricFamily("mentorlink_canvas_in_flight", "Canvas calls in flight now.", status["in_flight"]),
        GaugeMetricFamily(
            "mentorlink_canvas_throttled_total", "Canvas answers 403 Rate Limit Exceeded.", status["throttled"]
        ),
    ]


def _sis_batches() -> Metric:
    gauge = GaugeMetricFamily("mentorlink_sis_batches", "SIS imports by Canvas workflow state.", labels=["state"])
    for state, count in (
        SisBatch.objects.values_list("workflow_state").annotate(n=Count("id")).order_by("workflow_state")
    ):
        gauge.add_metric([state], count)
    return gauge


def _audit_verification() -> list[Metric]:
    last = AuditVerification.objects.filter(finished_at__isnull=False).order_by("-finished_at").first()
    age = (
        float("nan")
        if last is None or last.finished_at is None
        else (timezone.now() - last.finished_at).total_seconds()
    )
    ok = GaugeMetricFamily(
        "mentorlink_audit_verification_ok",
        "1 when the last finished verification found the chain intact.",
        1 if last is not None and last.state == AuditVerification.State.OK else 0,
    )
    return [
        GaugeMetricFamily(
            "mentorlink_audit_verification_age_seconds",
            "Seconds since the last audit chain verification finished.",
            age,
        ),
        ok,
    ]


class PortalCollector(Collector):
    """Each group is read on its own: a broker or Redis that is down leaves a gap in its series, not a failed scrape."""

    def collect(self) -> Iterator[Metric]:
        for read in (_links, _queue, _circuit, _throttle, _sis_batches, _audit_verification):
            try:
                found = read()
            except Exception:
                logger.warning("metrics: %s could not be read", read.__name__.strip("_"), exc_info=True)
                continue
            yield from found if isinstance(found, list) else [found]

"""Request latency by view (the URL name), for /metrics.

prometheus-client keeps the histogram in this process; under gunicorn with PROMETHEUS_MULTIPROC_DIR set it writes
to files in that folder instead, and /metrics adds up every worker's (docs/operations.md, "Metrics").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import Histogram

REQUEST_SECONDS = Histogram(
    "mentorlink_http_request_duration_seconds",
    "Time to answer a request, by view (URL name) and method.",
    ["view", "method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


class RequestLatencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        # The URL name, never the path: a path holds ids, and one series per id would grow without end.
        view = (match.view_name if match is not None else "") or "unresolved"
        REQUEST_SECONDS.labels(view=view, method=request.method or "").observe(time.perf_counter() - started)
        return response

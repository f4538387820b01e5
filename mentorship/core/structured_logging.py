"""Structured log lines: JSON on stdout (or plain text for `make run`), with the request id, the user id and the
Celery task id of whatever the process was doing when it logged.

Every line goes through structlog's ProcessorFormatter at the handler, so lines from Django, Celery and the
portal's own `logging.getLogger` calls look alike. The context lives in contextvars: the request middleware binds
`request_id` and `user_id`, Celery's `task_prerun` binds `task_id` (and the publishing request's id, carried in a
message header by `before_task_publish`). The secrets filter (mentorship.core.logging) still runs on every record,
and the rendered line is redacted once more, so a secret inside a structured field is caught too
(docs/operations.md, "Logs").
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from mentorship.redaction import redact

REQUEST_ID_HEADER = "mentorlink_request_id"  # the Celery message header that carries the request id
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
_task_logger = logging.getLogger("mentorship.tasks")


def _redact_line(_logger: Any, _method: str, line: str | bytes) -> str | bytes:
    """The last processor: the rendered line itself, whatever field a secret hid in."""
    return redact(line) if isinstance(line, str) else line


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(*, json: bool = True) -> logging.Formatter:
    """The handler's formatter (settings.LOGGING names it): JSON in production, key=value text for a console."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False, sort_keys=False)
    )
    processors: list[Any] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        renderer,
        _redact_line,
    ]
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_shared_processors(), processors=processors)


def configure_structlog() -> None:
    """structlog's own loggers (structlog.get_logger) hand their events to the standard library's handlers."""
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# --- Requests -----------------------------------------------------------------------------------------------


def _from_trusted_proxy(request: HttpRequest) -> bool:
    """Only a proxy listed in REQUEST_ID_TRUSTED_PROXIES may name the request id: anyone else could plant an id
    that joins their request to someone else's lines in the logs and the audit log."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _trusted_networks())


def _trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in settings.REQUEST_ID_TRUSTED_PROXIES]


def request_id_for(request: HttpRequest) -> str:
    """The proxy's X-Request-ID when a trusted proxy sent a sane one, otherwise a new id."""
    incoming = request.headers.get("X-Request-Id", "")
    if incoming and _REQUEST_ID_RE.match(incoming) and _from_trusted_proxy(request):
        return incoming
    return uuid.uuid4().hex


def bind_request(request_id: str) -> None:
    """A new request starts from an empty context (gunicorn threads serve many requests one after another)."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()


class LogUserMiddleware:
    """Adds the signed-in user's id to the log context; sits right after AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            structlog.contextvars.bind_contextvars(user_id=user.pk)
        return self.get_response(request)


# --- Celery ------------------------------------------------------------------------------------------------


def on_before_task_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """The request (or task) that publishes a task hands its request id on in the message's headers."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


def on_task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    context: dict[str, Any] = {"task_id": task_id}
    if task is not None:
        context["task_name"] = task.name
        request_id = getattr(task.request, REQUEST_ID_HEADER, None)
        if isinstance(request_id, str) and _REQUEST_ID_RE.match(request_id):
            context["request_id"] = request_id
    structlog.contextvars.bind_contextvars(**context)
    # One line per run that carries the context, whatever the task itself logs: it joins a request to its tasks.
    _task_logger.info("task started")


def on_task_postrun(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


def connect_celery_signals() -> None:
    from celery import signals

    signals.before_task_publish.connect(on_before_task_publish, dispatch_uid="mentorlink_log_publish", weak=False)
    signals.task_prerun.connect(on_task_prerun, dispatch_uid="mentorlink_log_prerun", weak=False)
    signals.task_postrun.connect(on_task_postrun, dispatch_uid="mentorlink_log_postrun", weak=False)

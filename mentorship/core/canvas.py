"""The one place where settings reach canvas_client (docs/architecture.md, "Packages")."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from django.conf import settings

from canvas_client import CanvasClient

from .ratelimit import FileStore, RedisStore, SharedLimiter

_limiters: dict[tuple[int, str], SharedLimiter] = {}


def _redis_url() -> str:
    if settings.REDIS_URL:
        return str(settings.REDIS_URL)
    broker = str(settings.CELERY_BROKER_URL)
    return broker if broker.startswith(("redis://", "rediss://")) else ""


def shared_limiter() -> SharedLimiter:
    """The process's handle on the limiter every worker shares (one per token: Canvas has a bucket per token).

    Cached per process id, so a forked worker child never reuses its parent's Redis connection.
    """
    token_key = hashlib.sha256(str(settings.CANVAS_TOKEN).encode()).hexdigest()[:16]
    scope = f"{settings.CELERY_TASK_DEFAULT_QUEUE}:{token_key}"
    cache_key = (os.getpid(), scope)
    limiter = _limiters.get(cache_key)
    if limiter is None:
        url = _redis_url()
        if url:
            limiter = SharedLimiter(RedisStore(url, f"mentorlink:ratelimit:{scope}"))
        else:
            limiter = SharedLimiter(FileStore(settings.VAR_DIR / f"canvas-ratelimit-{scope.replace(':', '-')}.json"))
        _limiters[cache_key] = limiter
    return limiter


def portal_client(**kwargs: Any) -> CanvasClient:
    """A client acting with the portal's own Canvas token, paced by the shared limiter."""
    kwargs.setdefault("limiter", shared_limiter())
    kwargs.setdefault("timeout", settings.CANVAS_TIMEOUT)
    return CanvasClient(settings.CANVAS_BASE_URL, settings.CANVAS_TOKEN, **kwargs)


def root_account_id() -> str | None:
    return settings.CANVAS_ROOT_ACCOUNT_ID or None


def account_id() -> str:
    return str(settings.CANVAS_ACCOUNT_ID)

"""The one place where settings reach canvas_client (docs/architecture.md, "Packages").

The portal's token is the one an administrator stored in the portal (``PortalCanvasToken``, docs/operations.md), or
CANVAS_TOKEN from the environment when none is stored. It is read from the database for every client (one
primary-key read; the decryption is cached by ciphertext), not cached for a while: a worker still holding the old
token for a few seconds after a replacement would send it, get a 401 and stop all Canvas work again
(docs/decisions.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from canvas_client import CanvasClient

from .encryption import TokenDecryptError, decrypt
from .models import PortalCanvasToken
from .ratelimit import FileStore, RedisStore, SharedLimiter

logger = logging.getLogger(__name__)

_limiters: dict[tuple[int, str], SharedLimiter] = {}


def _redis_url() -> str:
    if settings.REDIS_URL:
        return str(settings.REDIS_URL)
    broker = str(settings.CELERY_BROKER_URL)
    return broker if broker.startswith(("redis://", "rediss://")) else ""


@lru_cache(maxsize=8)
def _decrypted(ciphertext: str, keys: tuple[str, ...]) -> str:
    # Keyed by the configured keys too: a token no configured key opens must not be served from the cache.
    return decrypt(ciphertext)


def portal_token() -> str:
    """The token the portal acts with now: the stored one, else CANVAS_TOKEN."""
    try:
        ciphertext = PortalCanvasToken.objects.filter(pk=1).values_list("token_encrypted", flat=True).first()
    except DatabaseError:  # the database is down or not migrated yet: the environment's token still works
        logger.warning("could not read the stored Canvas token; using CANVAS_TOKEN")
        ciphertext = None
    if ciphertext:
        try:
            return _decrypted(ciphertext, tuple(settings.FIELD_ENCRYPTION_KEYS))
        except TokenDecryptError:
            logger.error("the stored Canvas token cannot be decrypted with FIELD_ENCRYPTION_KEYS; using CANVAS_TOKEN")
    return str(settings.CANVAS_TOKEN)


def shared_limiter(token: str | None = None) -> SharedLimiter:
    """The process's handle on the limiter every worker shares (one per token: Canvas has a bucket per token).

    Cached per process id, so a forked worker child never reuses its parent's Redis connection.
    """
    token_key = hashlib.sha256((portal_token() if token is None else token).encode()).hexdigest()[:16]
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


def portal_client(*, token: str | None = None, gated: bool = True, **kwargs: Any) -> CanvasClient:
    """A client acting with the portal's own Canvas token, paced by the shared limiter.

    ``gated=False`` is for calls that must try the token although Canvas rejected it (the circuit probe, testing a
    token before it is stored): they are paced but not refused (core.ratelimit). ``token`` tests a candidate token
    instead of the current one.
    """
    token = portal_token() if token is None else token
    if "limiter" not in kwargs:
        limiter = shared_limiter(token)
        kwargs["limiter"] = limiter if gated else limiter.ungated()
    kwargs.setdefault("timeout", settings.CANVAS_TIMEOUT)
    return CanvasClient(settings.CANVAS_BASE_URL, token, **kwargs)


def root_account_id() -> str | None:
    return settings.CANVAS_ROOT_ACCOUNT_ID or None


def account_id() -> str:
    return str(settings.CANVAS_ACCOUNT_ID)

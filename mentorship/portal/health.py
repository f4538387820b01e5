"""The checks behind the health endpoints (docs/operations.md, "Health").

- live: the process answers. No database, broker or Canvas: a liveness probe that restarts the portal when Canvas
  is down would only add an outage to an outage.
- ready: the database and the broker answer (this instance can do its work); Canvas is reported beside them.
- full (/healthz): all three, for monitoring.

The Canvas probe is one `GET /users/self` with the portal's token, never retried, and its answer is cached for
HEALTH_CANVAS_CACHE_SECONDS across every process sharing the cache: probes from load balancers, compose and
strangers on the internet cannot spend the portal token's rate limit (one call per period whatever the traffic).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from canvas_client import CanvasAuthError, CanvasError

CANVAS_CACHE_KEY = "mentorlink:health:canvas"
CANVAS_LOCK_KEY = "mentorlink:health:canvas:lock"
# How long a prober that lost the race waits for the winner's answer (the winner's call is bounded by its timeouts).
CANVAS_WAIT_SECONDS = 6.0


def check_database() -> dict[str, Any]:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1), "vendor": connection.vendor}


def check_broker() -> dict[str, Any]:
    from mentorship.celery import app

    started = time.monotonic()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {
        "ok": True,
        "ms": round((time.monotonic() - started) * 1000, 1),
        "transport": settings.CELERY_BROKER_URL.split("://", 1)[0],
    }


def probe_canvas() -> dict[str, Any]:
    """One call to Canvas, no retry, short timeouts."""
    from mentorship.core.canvas import portal_client

    started = time.monotonic()
    try:
        client = portal_client(timeout=(2, 3), max_retries=0)
        try:
            client.get_self()
        finally:
            client.close()
    except CanvasAuthError:
        return {"ok": False, "reachable": True, "token_valid": False, "error": "Canvas rejected the token."}
    except CanvasError as exc:
        reachable = exc.status is not None
        return {"ok": False, "reachable": reachable, "token_valid": None, "error": exc.user_message}
    return {"ok": True, "reachable": True, "token_valid": True, "ms": round((time.monotonic() - started) * 1000, 1)}


def check_canvas() -> dict[str, Any]:
    """The cached Canvas answer; at most one prober at a time asks Canvas, the others wait for its answer."""
    try:
        cached = cache.get(CANVAS_CACHE_KEY)
        if cached is not None:
            return {**cached, "cached": True}
        if cache.add(CANVAS_LOCK_KEY, 1, timeout=int(CANVAS_WAIT_SECONDS) + 4):
            try:
                result = probe_canvas()
                result["checked_at"] = time.time()
                cache.set(CANVAS_CACHE_KEY, result, timeout=settings.HEALTH_CANVAS_CACHE_SECONDS)
            finally:
                cache.delete(CANVAS_LOCK_KEY)
            return {**result, "cached": False}
        deadline = time.monotonic() + CANVAS_WAIT_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.05)
            cached = cache.get(CANVAS_CACHE_KEY)
            if cached is not None:
                return {**cached, "cached": True}
    except Exception as exc:  # the cache itself is down: say so rather than calling Canvas once per probe
        return {"ok": False, "reachable": None, "token_valid": None, "error": f"not checked ({type(exc).__name__})"}
    return {"ok": False, "reachable": None, "token_valid": None, "error": "not checked (another probe is asking)"}


def run_checks() -> dict[str, dict[str, Any]]:
    return {"database": check_database(), "broker": check_broker(), "canvas": check_canvas()}


def readiness() -> tuple[bool, dict[str, dict[str, Any]]]:
    """Ready when the database and the broker answer. A Canvas outage leaves the portal ready: coordinators keep
    working and approved changes wait in the outbox (docs/decisions.md, "Health: live, ready and full")."""
    checks = run_checks()
    return checks["database"]["ok"] and checks["broker"]["ok"], checks


def full_health() -> tuple[bool, dict[str, dict[str, Any]]]:
    """For monitoring: healthy only when all three are fine (a rejected Canvas token is an alert)."""
    checks = run_checks()
    return all(check["ok"] for check in checks.values()), checks

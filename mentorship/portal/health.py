"""The checks behind /healthz: database, broker, Canvas (reachable and token accepted)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db import connection

from canvas_client import CanvasAuthError, CanvasError


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


def check_canvas() -> dict[str, Any]:
    from mentorship.core.canvas import portal_client

    started = time.monotonic()
    try:
        client = portal_client(timeout=(2, 3))
        client.get_self()
    except CanvasAuthError:
        return {"ok": False, "reachable": True, "token_valid": False, "error": "Canvas rejected the token."}
    except CanvasError as exc:
        reachable = exc.status is not None
        return {"ok": False, "reachable": reachable, "token_valid": None, "error": exc.user_message}
    return {
        "ok": True,
        "reachable": True,
        "token_valid": True,
        "ms": round((time.monotonic() - started) * 1000, 1),
    }


def run_checks() -> dict[str, dict[str, Any]]:
    return {"database": check_database(), "broker": check_broker(), "canvas": check_canvas()}

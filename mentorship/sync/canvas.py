"""The one place where settings reach canvas_client (CONVENTIONS.md habit 6)."""

from __future__ import annotations

from django.conf import settings

from canvas_client import CanvasClient


def portal_client(**kwargs: object) -> CanvasClient:
    """A client acting with the portal's own Canvas token."""
    return CanvasClient(settings.CANVAS_BASE_URL, settings.CANVAS_TOKEN, timeout=settings.CANVAS_TIMEOUT, **kwargs)  # type: ignore[arg-type]


def root_account_id() -> str | None:
    return settings.CANVAS_ROOT_ACCOUNT_ID or None

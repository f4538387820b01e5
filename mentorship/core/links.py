"""Addresses of Canvas as a person's browser reaches it."""

from __future__ import annotations

from django.conf import settings


def canvas_browser_url() -> str:
    """Canvas's address for links and the sign-in page: CANVAS_BROWSER_URL where the portal's servers reach Canvas
    by another name (the compose trial), CANVAS_BASE_URL otherwise. Read at call time so tests that point the portal
    at their own fake Canvas get links to it too."""
    return settings.CANVAS_BROWSER_URL or settings.CANVAS_BASE_URL

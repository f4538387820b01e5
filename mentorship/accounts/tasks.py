"""Background jobs of the accounts app."""

from __future__ import annotations

from celery import shared_task

from . import canvas_tokens


@shared_task(name="accounts.credentials_expire")
def credentials_expire() -> int:
    return canvas_tokens.credentials_expire()

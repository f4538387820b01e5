"""The Celery application. Configuration lives in settings (CELERY_* names)."""

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mentorship.settings")

app = Celery("mentorship")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def task_named(name: str) -> Any:
    """The registered task of this name. Services publish by task name so they never import the task modules that
    call them (docs/architecture.md, "How a change travels"); each app's ready() imports its tasks module."""
    return app.tasks[name]


def published(name: str, *args: Any) -> bool:
    """Publish the task of this name once, without the client's own retries: False when the broker cannot take it
    now, so the caller keeps its row queued for the beat to publish again (never an error in the user's request)."""
    try:
        task_named(name).apply_async(args, retry=False)
    except Exception:
        return False
    return True

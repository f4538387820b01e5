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

"""Mentor Link: a Django portal that runs school mentor programs on top of Canvas LMS."""

from .celery import app as celery_app

__all__ = ("celery_app",)

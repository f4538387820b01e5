"""The portal's own Canvas token when an administrator stored one in the portal (docs/operations.md).

It lives in core because the client factory (core.canvas) reads it, and core is below every app
(docs/architecture.md, "Layers"); the service that replaces it, tests it and audits it is in sync, beside the circuit
it resets.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class PortalCanvasToken(models.Model):
    """One row (pk=1) at most: the token replaces CANVAS_TOKEN from the environment while it exists.

    ``token_encrypted`` holds a Fernet token (core.encryption), never the plain value; ``fingerprint`` is a SHA-256
    of the token, so a second submit of the same token is recognised without decrypting (it is not shown or audited).
    Who the token belongs to is what Canvas said when the token was tested, for the page and the audit event.
    """

    token_encrypted = models.TextField()
    fingerprint = models.CharField(max_length=64)
    canvas_user_id = models.BigIntegerField(null=True, blank=True)
    canvas_user_name = models.CharField(max_length=255, blank=True, default="")
    # None: Canvas would not say (the account's admin list needs a permission the token may lack).
    account_admin = models.BooleanField(null=True, blank=True)
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaced_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"Portal Canvas token of {self.canvas_user_name or 'an unknown user'}"


class BackgroundJob(models.Model):
    """A row a worker finishes in the background (an SIS import, a CSV import): when it was created and when it
    ended, newest first in every list of them."""

    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

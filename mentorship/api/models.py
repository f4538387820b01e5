"""API tokens: issued by an administrator, scoped to programs, kept only as a hash."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """One caller of the SIS API. The token itself is shown once when issued; the row keeps its SHA-256 and an
    8-character prefix that names it in lists and audit events (docs/decisions.md, "SIS API tokens")."""

    name = models.CharField(max_length=100, help_text="Who uses it, e.g. 'SIS nightly sync'.")
    prefix = models.CharField(max_length=8, unique=True)
    digest = models.CharField(max_length=64, unique=True)
    programs = models.ManyToManyField("assignments.Program", related_name="api_tokens")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

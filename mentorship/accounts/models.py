"""Portal accounts and per-program roles."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A portal account. Admins are superusers; coordinators and auditors hold ProgramRoles; mentors are linked
    to their Person (usually by signing in with Canvas)."""

    person = models.OneToOneField(
        "people.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="user"
    )

    @property
    def is_portal_admin(self) -> bool:
        return bool(self.is_active and self.is_superuser)


class ProgramRole(models.Model):
    class Role(models.TextChoices):
        COORDINATOR = "coordinator", "Coordinator"
        AUDITOR = "auditor", "Auditor"

    program = models.ForeignKey("assignments.Program", on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="program_roles")
    role = models.CharField(max_length=20, choices=Role.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["program", "user", "role"], name="program_role_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} of {self.program}"


class CanvasCredential(models.Model):
    """The Canvas OAuth2 tokens of a user who signed in with Canvas, encrypted at rest (canvas_tokens.py).

    One row per user: signing in again replaces it, signing out revokes the token in Canvas and deletes the row, and
    a grant older than the longest session (`created_at` is the sign-in's time) is revoked by an hourly job.
    The columns hold Fernet tokens, never the plain values.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="canvas_credential")
    canvas_user_id = models.BigIntegerField()
    access_token_encrypted = models.TextField()
    refresh_token_encrypted = models.TextField(blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When Canvas stops accepting the access token.")
    created_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Canvas sign-in of {self.user}"


class Invitation(models.Model):
    """An admin's invitation of a person, by e-mail, to a role: coordinator or auditor of chosen programs, or admin.

    The link carries a random token of which only the SHA-256 is kept (a leaked database row cannot be turned into a
    link); it works once (`accepted_at`) and until `expires_at` (docs/decisions.md, "Invitation links").
    """

    class Role(models.TextChoices):
        COORDINATOR = "coordinator", "Coordinator"
        AUDITOR = "auditor", "Auditor"
        ADMIN = "admin", "Admin"

    email = models.EmailField()
    name = models.CharField(max_length=300, blank=True, default="")
    role = models.CharField(max_length=20, choices=Role.choices)
    programs = models.ManyToManyField("assignments.Program", blank=True, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invitation of {self.email} as {self.get_role_display().lower()}"

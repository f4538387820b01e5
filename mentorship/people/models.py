"""A Person is a Canvas user as the portal knows them (mentor, student, or both)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower


class Person(models.Model):
    canvas_user_id = models.BigIntegerField(unique=True)
    sis_user_id = models.CharField(max_length=255, blank=True, default="")
    login_id = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=255)
    sortable_name = models.CharField(max_length=255, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    refreshed_at = models.DateTimeField(null=True, blank=True, help_text="Last time the record was read from Canvas.")
    # Cached answer to "does this person take courses as a student in Canvas?" (None: not asked yet). Approval
    # warns when a student is linked to another student; asking Canvas on every approval would be slow.
    is_canvas_student = models.BooleanField(null=True, blank=True)
    canvas_student_course_ids = models.JSONField(default=list, blank=True)
    student_checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sortable_name", "name", "id"]
        indexes = [
            models.Index(fields=["sis_user_id"], name="person_sis_idx"),
            models.Index(fields=["login_id"], name="person_login_idx"),
            models.Index(Lower("sortable_name"), name="person_sortable_lower_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """Name with the SIS id, the way coordinators tell people apart."""
        return f"{self.name} ({self.sis_user_id})" if self.sis_user_id else self.name

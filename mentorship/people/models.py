"""A Person is a Canvas user as the portal knows them (mentor, student, or both)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Lower, Upper


def sort_key(*, name: str, sortable_name: str) -> str:
    """How a person sorts in lists (the assignment list keeps a copy per assignment): the sortable name, lower-cased,
    or the name when Canvas gave no sortable name."""
    return (sortable_name or name).lower()[:255]


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
            # The people list walks this index in its own order (LIMIT 50 of 300,000 without a sort).
            models.Index(fields=["sortable_name", "name", "id"], name="person_order_idx"),
            models.Index(Lower("sortable_name"), name="person_sortable_lower_idx"),
            # The assignment list's search compares SIS and login ids case-insensitively. On PostgreSQL a trigram
            # index on UPPER(name) serves the name search too (migration 0003; PostgreSQL only, so not listed here).
            models.Index(Upper("sis_user_id"), name="person_sis_upper_idx"),
            models.Index(Upper("login_id"), name="person_login_upper_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Saves, and on a rename updates the copies of the sort key in the person's assignments (same transaction)."""
        update_fields = kwargs.get("update_fields")
        renames = not self._state.adding and (update_fields is None or {"name", "sortable_name"} & set(update_fields))
        with transaction.atomic(using=kwargs.get("using")):
            super().save(*args, **kwargs)
            if renames:
                apps.get_model("assignments", "MentorAssignment").objects.refresh_sort_keys(person=self)

    @property
    def sort_key(self) -> str:
        return sort_key(name=self.name, sortable_name=self.sortable_name)

    @property
    def label(self) -> str:
        """Name with the SIS id, the way coordinators tell people apart."""
        return f"{self.name} ({self.sis_user_id})" if self.sis_user_id else self.name


class CanvasCourse(models.Model):
    """A Canvas course's name as the portal last read it, so pages show "Biology (Period 2)" and never ask Canvas
    while they render (docs/decisions.md, "Course names are cached, read by the worker").

    Filled when a coordinator picks courses (the names are in hand then) and refreshed by a beat job with the
    portal's token; a course the portal has not read yet shows as "Course <id>" until the job reaches it.
    """

    canvas_course_id = models.BigIntegerField(unique=True)
    name = models.CharField(max_length=255, blank=True, default="")
    course_code = models.CharField(max_length=255, blank=True, default="")
    sis_course_id = models.CharField(max_length=255, blank=True, default="")
    refreshed_at = models.DateTimeField(null=True, blank=True, help_text="Last time the name was read from Canvas.")

    class Meta:
        ordering = ["name", "canvas_course_id"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return self.name or f"Course {self.canvas_course_id}"

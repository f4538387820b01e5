"""Programs and mentor assignments: what coordinators propose and approve."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from mentorship.core.models import BackgroundJob


class LinkMethod(models.TextChoices):
    OBSERVEE = "observee", "All the student's courses (observer link)"
    COURSES = "courses", "Only the courses in scope (course enrollments)"
    PAIRING_CODE = "pairing_code", "Pairing code the mentor redeems"


class Program(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True, default="")
    default_link_method = models.CharField(max_length=20, choices=LinkMethod.choices, default=LinkMethod.OBSERVEE)
    requires_second_approver = models.BooleanField(
        default=False, help_text="The coordinator who proposes an assignment may not approve it."
    )
    max_assignment_days = models.PositiveIntegerField(default=366)
    mentor_capacity = models.PositiveIntegerField(default=6, help_text="Most active assignments per mentor.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AssignmentQuerySet(models.QuerySet["MentorAssignment"]):
    def bulk_create(self, objs: Iterable[MentorAssignment], *args: Any, **kwargs: Any) -> list[MentorAssignment]:
        """bulk_create skips save(): fill the people's sort keys here (one query per batch)."""
        objs = list(objs)
        missing = {o.mentor_id for o in objs if not o.mentor_sort} | {o.student_id for o in objs if not o.student_sort}
        if missing:
            keys = {
                p.pk: p.sort_key
                for p in apps.get_model("people", "Person")
                .objects.filter(pk__in=missing)
                .only("pk", "name", "sortable_name")
            }
            for o in objs:
                o.mentor_sort = o.mentor_sort or keys.get(o.mentor_id, "")
                o.student_sort = o.student_sort or keys.get(o.student_id, "")
        return super().bulk_create(objs, *args, **kwargs)

    def refresh_sort_keys(self, *, person: Any) -> None:
        """After a person's name changed (called by Person.save, in its transaction)."""
        key = person.sort_key
        self.filter(mentor_id=person.pk).exclude(mentor_sort=key).update(mentor_sort=key)
        self.filter(student_id=person.pk).exclude(student_sort=key).update(student_sort=key)


class AssignmentManager(models.Manager.from_queryset(AssignmentQuerySet)):  # type: ignore[misc]
    """Every reader's view: rows a CSV import is still staging are nobody's yet (docs/decisions.md, "Big imports are
    staged, then switched on at once")."""

    def get_queryset(self) -> AssignmentQuerySet:
        return super().get_queryset().filter(staged_by__isnull=True)


class LinkWords:
    """What a coordinator reads for a link's state, the same on the assignment's summary (`LinkState`) and on each of
    its ObserverLinks (the sync app's `ObserverLink.State`), so the list and the link page never disagree."""

    PENDING = "Waiting to sync"
    AWAITING_REDEMPTION = "Waiting for the mentor's pairing code"
    LINKED = "Linked in Canvas"
    UNLINKED = "Removed from Canvas"


class MentorAssignment(models.Model):
    class Scope(models.TextChoices):
        ALL_COURSES = "all_courses", "All courses"
        COURSES = "courses", "Selected courses"

    class Status(models.TextChoices):
        PROPOSED = "proposed"
        APPROVED = "approved"
        REJECTED = "rejected"
        CANCELLED = "cancelled"
        ENDED = "ended"

    class LinkState(models.TextChoices):
        """A summary of the assignment's ObserverLinks, kept by the sync engine for fast list filters."""

        NONE = "none", "Not in Canvas"
        PENDING = "pending", LinkWords.PENDING
        AWAITING_REDEMPTION = "awaiting_redemption", LinkWords.AWAITING_REDEMPTION
        LINKED = "linked", LinkWords.LINKED
        UNLINKED = "unlinked", LinkWords.UNLINKED
        FAILED = "failed"

    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="assignments")
    mentor = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="mentor_assignments")
    student = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="student_assignments")
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.ALL_COURSES)
    starts_on = models.DateField()
    ends_on = models.DateField()
    link_method = models.CharField(max_length=20, choices=LinkMethod.choices)
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    link_state = models.CharField(max_length=24, choices=LinkState.choices, default=LinkState.NONE)
    generation = models.PositiveIntegerField(
        default=0, help_text="Bumped on every change of what Canvas should hold; tasks carry it to detect staleness."
    )
    warnings_acknowledged = models.JSONField(default=list, blank=True)

    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="proposed_assignments"
    )
    proposed_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="decided_assignments"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True, default="")
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ended_assignments"
    )
    end_reason = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)
    # Copies of Person.sort_key for the list's "sort by mentor/student name": sorting through the join cost a sort
    # of every assignment; with the copy a page is an index walk. Filled on save/bulk_create, updated by Person.save.
    mentor_sort = models.CharField(max_length=255, blank=True, default="", editable=False)
    student_sort = models.CharField(max_length=255, blank=True, default="", editable=False)

    # Set while a CSV import stages the row (hidden from `objects`); cleared for all rows at once when it finishes.
    staged_by = models.ForeignKey(
        "assignments.CsvImport", null=True, blank=True, on_delete=models.CASCADE, related_name="staged_rows"
    )

    objects = AssignmentManager()
    with_staged = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(mentor=F("student")), name="assignment_mentor_not_student"),
            models.CheckConstraint(condition=Q(ends_on__gte=F("starts_on")), name="assignment_dates_ordered"),
        ]
        indexes = [
            models.Index(fields=["program", "status", "-proposed_at"], name="assignment_prog_status_idx"),
            models.Index(fields=["mentor", "status"], name="assignment_mentor_idx"),
            models.Index(fields=["student", "status"], name="assignment_student_idx"),
            models.Index(fields=["status", "starts_on"], name="assignment_starts_idx"),
            models.Index(fields=["status", "ends_on"], name="assignment_ends_idx"),
            models.Index(fields=["program", "link_state"], name="assignment_link_state_idx"),
            # The list's default order within a program (newest first), so the first page is a short index walk.
            models.Index(fields=["program", "-proposed_at", "-id"], name="assignment_prog_newest_idx"),
            # The list sorted by name, start or end date within a program (read forwards or backwards).
            models.Index(fields=["program", "mentor_sort", "id"], name="assignment_prog_mentor_idx"),
            models.Index(fields=["program", "student_sort", "id"], name="assignment_prog_student_idx"),
            models.Index(fields=["program", "starts_on", "id"], name="assignment_prog_starts_idx"),
            models.Index(fields=["program", "ends_on", "id"], name="assignment_prog_ends_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.mentor} → {self.student} ({self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding or not (self.mentor_sort and self.student_sort):
            self.mentor_sort = self.mentor.sort_key
            self.student_sort = self.student.sort_key
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "mentor_sort", "student_sort"}
        super().save(*args, **kwargs)

    def is_active_on(self, day: datetime.date) -> bool:
        return self.status == self.Status.APPROVED and self.starts_on <= day <= self.ends_on

    @property
    def is_active(self) -> bool:
        return self.is_active_on(timezone.localdate())


class AssignmentCourse(models.Model):
    """A Canvas course in an assignment's scope (only when scope is 'courses')."""

    assignment = models.ForeignKey(MentorAssignment, on_delete=models.CASCADE, related_name="courses")
    canvas_course_id = models.BigIntegerField()
    sis_course_id = models.CharField(max_length=255, blank=True, default="")
    name = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["name", "canvas_course_id"]
        constraints = [
            models.UniqueConstraint(fields=["assignment", "canvas_course_id"], name="assignment_course_unique"),
        ]

    def __str__(self) -> str:
        return self.name or str(self.canvas_course_id)


class CsvImport(BackgroundJob):
    """An uploaded CSV of proposals waiting for the coordinator's confirmation (validated again on confirm).

    Small files are created in the confirming request; a big one is queued and a worker creates it (all rows or
    none), while the coordinator watches its status page.
    """

    class State(models.TextChoices):
        PREVIEWED = "previewed", "Waiting for confirmation"
        # Only a file too big for the request waits here for a worker; a small one goes straight to creating.
        QUEUED = "queued", "Waiting for a worker"
        CREATING = "creating", "Being created"
        DONE = "done", "Created"
        FAILED = "failed", "Nothing created"

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="csv_imports")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=255, blank=True, default="")
    content = models.TextField()
    row_count = models.PositiveIntegerField(default=0)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created_count = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PREVIEWED)
    people_added = models.PositiveIntegerField(default=0)
    problem = models.TextField(blank=True, default="", help_text="Why nothing was created, in a sentence.")
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the rows started to be created.")

    def __str__(self) -> str:
        return f"{self.filename or 'CSV'} for {self.program}"


class BulkApproval(models.Model):
    """A bulk approval too big for the request (docs/decisions.md, "Bulk approve: one transaction, one publish").

    The coordinator's choice (the ids matching the filter when they confirmed, their note and confirmations) is
    stored; a worker approves it in one transaction that also marks this row done, so a second delivery of the
    message finds it done and changes nothing. The status page shows the outcome row by row.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        DONE = "done", "Done"
        FAILED = "failed", "Nothing approved"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assignment_ids = models.JSONField(default=list)
    note = models.TextField(blank=True, default="")
    acknowledged = models.JSONField(default=list, blank=True)
    total = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    approved_count = models.PositiveIntegerField(default=0)
    links_count = models.PositiveIntegerField(default=0)
    # [{"id": 12, "label": "Mentor → Student", "reason": "..."}] for every row that was not approved.
    skipped = models.JSONField(default=list, blank=True)
    problem = models.TextField(blank=True, default="", help_text="Why nothing was approved, in a sentence.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        # bulk_approvals_requeue (the beat) reads the queued jobs older than a cutoff.
        indexes = [models.Index(fields=["state", "created_at"], name="bulk_approval_state_idx")]

    def __str__(self) -> str:
        return f"Bulk approval of {self.total} by {self.requested_by}"

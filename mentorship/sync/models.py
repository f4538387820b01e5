"""What Canvas should hold, and the ledger of what the portal did there."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from mentorship.assignments.models import LinkWords
from mentorship.core.models import BackgroundJob


class ObserverLink(models.Model):
    """One Canvas object an assignment needs: a user-level observee link, or one ObserverEnrollment per course.

    The row is the durable queue: `state` says whether work is left, `generation` says which version of the
    assignment it serves. The sweeper finds unfinished rows through the partial index `link_needs_work`.
    """

    class Desired(models.TextChoices):
        PRESENT = "present"
        ABSENT = "absent"

    class Kind(models.TextChoices):
        OBSERVEE = "observee", "Observer link (all courses)"
        COURSE = "course", "Course enrollment"

    class State(models.TextChoices):
        PENDING = "pending", LinkWords.PENDING
        LINKING = "linking"
        LINKED = "linked", LinkWords.LINKED
        AWAITING_REDEMPTION = "awaiting_redemption", LinkWords.AWAITING_REDEMPTION
        UNLINKING = "unlinking", "Removing"
        UNLINKED = "unlinked", LinkWords.UNLINKED
        FAILED = "failed"

    WORK_STATES = (State.PENDING, State.LINKING, State.UNLINKING)

    assignment = models.ForeignKey("assignments.MentorAssignment", on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    observer_canvas_id = models.BigIntegerField()
    student_canvas_id = models.BigIntegerField()
    canvas_course_id = models.BigIntegerField(null=True, blank=True)
    canvas_enrollment_id = models.BigIntegerField(null=True, blank=True)
    desired = models.CharField(max_length=10, choices=Desired.choices, default=Desired.PRESENT)
    state = models.CharField(max_length=24, choices=State.choices, default=State.PENDING)
    generation = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", help_text="A sentence a coordinator can act on.")
    last_error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    linked_at = models.DateTimeField(null=True, blank=True)
    sis_batch = models.ForeignKey("SisBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="links")
    # Who holds the row right now: set by the conditional UPDATE that claims it, checked by the UPDATE that records
    # the outcome, so a task whose claim was taken over (stale, re-enqueued by the sweeper) records nothing.
    claim = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment"], condition=Q(kind="observee"), name="observer_link_one_observee"
            ),
            models.UniqueConstraint(
                fields=["assignment", "canvas_course_id"],
                condition=Q(kind="course"),
                name="observer_link_one_per_course",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at", "updated_at"],
                condition=Q(state__in=["pending", "linking", "unlinking"]),
                name="link_needs_work",
            ),
            models.Index(fields=["observer_canvas_id", "student_canvas_id"], name="link_pair_idx"),
            models.Index(fields=["state"], name="link_state_idx"),
        ]

    def __str__(self) -> str:
        where = f"course {self.canvas_course_id}" if self.kind == self.Kind.COURSE else "all courses"
        return f"{self.observer_canvas_id} observes {self.student_canvas_id} ({where}): {self.state}"


class PairingCode(models.Model):
    """Every pairing code the portal asked Canvas for. Canvas forgets a code once used; this ledger does not."""

    class Status(models.TextChoices):
        ISSUED = "issued"
        REDEEMED = "redeemed"
        EXPIRED = "expired"
        SUPERSEDED = "superseded"

    assignment = models.ForeignKey(
        "assignments.MentorAssignment", on_delete=models.CASCADE, related_name="pairing_codes"
    )
    link = models.ForeignKey(ObserverLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="codes")
    student = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="pairing_codes")
    code = models.CharField(max_length=16, help_text="Shown to the intended mentor only; masked elsewhere.")
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    delivered_via = models.CharField(max_length=40, blank=True, default="")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ISSUED)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_by_canvas_id = models.BigIntegerField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["status", "expires_at"], name="pairing_code_status_idx")]

    def __str__(self) -> str:
        return f"pairing code {self.masked} for {self.student} ({self.status})"

    @property
    def masked(self) -> str:
        return "••••" + self.code[-2:] if self.code else ""


class SisBatch(BackgroundJob):
    """One user_observers.csv SIS import that carries many observee links at once."""

    rows = models.PositiveIntegerField(default=0)
    canvas_import_id = models.BigIntegerField(null=True, blank=True)
    workflow_state = models.CharField(max_length=40, default="pending")
    progress = models.PositiveSmallIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"SIS import {self.canvas_import_id or '(not sent)'}: {self.workflow_state}"


class ReconciliationRun(models.Model):
    """One comparison of what was approved with what Canvas holds, for one program (or all of them)."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        HELD = "held", "Waiting for a person to confirm the removals"
        CONFIRMED = "confirmed", "Removals confirmed"
        FAILED = "failed"

    program = models.ForeignKey(
        "assignments.Program", null=True, blank=True, on_delete=models.CASCADE, related_name="reconciliation_runs"
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One running run per program (or for all programs, the NULL program) and kind: a double click on "Run
            # reconciliation", or two admins at once, start one (docs/decisions.md, "One running reconciliation").
            models.UniqueConstraint(
                Coalesce("program", Value(0)),
                "dry_run",
                condition=Q(status="running"),
                name="one_running_reconciliation",
            )
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.pk} ({self.status})"


class DriftItem(models.Model):
    """One difference between the approved assignments and Canvas, found by a reconciliation run."""

    class Kind(models.TextChoices):
        MISSING = "missing", "Missing in Canvas"
        UNEXPECTED = "unexpected", "In Canvas, never approved"
        STALE = "stale", "Still in Canvas after the end"

    class Status(models.TextChoices):
        OPEN = "open"
        REPAIRED = "repaired"
        REMOVED = "removed", "Removed from Canvas"
        HELD = "held", "Waiting for confirmation"
        PREVIEW = "preview", "Preview only"
        FAILED = "failed", "Repair failed"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="items")
    program = models.ForeignKey(
        "assignments.Program", null=True, blank=True, on_delete=models.CASCADE, related_name="drift_items"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    observer_canvas_id = models.BigIntegerField()
    student_canvas_id = models.BigIntegerField()
    canvas_course_id = models.BigIntegerField(null=True, blank=True)
    canvas_enrollment_id = models.BigIntegerField(null=True, blank=True)
    assignment = models.ForeignKey(
        "assignments.MentorAssignment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    link = models.ForeignKey(ObserverLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    detail = models.TextField(blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "id"]
        indexes = [models.Index(fields=["program", "kind", "status"], name="drift_program_idx")]

    def __str__(self) -> str:
        where = f" in course {self.canvas_course_id}" if self.canvas_course_id else ""
        return f"{self.get_kind_display()}: {self.observer_canvas_id} observes {self.student_canvas_id}{where}"


class CanvasConnection(models.Model):
    """A single row: the circuit breaker and what the portal last learnt about its Canvas connection."""

    class Circuit(models.TextChoices):
        CLOSED = "closed", "Working"
        OPEN = "open", "Stopped: Canvas rejected the token"

    circuit = models.CharField(max_length=10, choices=Circuit.choices, default=Circuit.CLOSED)
    opened_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    rate_limit_remaining = models.FloatField(null=True, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Canvas connection: {self.get_circuit_display()}"

    @classmethod
    def get(cls) -> CanvasConnection:
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj

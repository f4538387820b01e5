"""The audit log: append-only (database triggers) and hash-chained (tamper-evident)."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One business event. Never updated or deleted: the database refuses both (see migration 0002).

    People and programs are referenced without database constraints and without cascades, so that nothing done to
    them can ever rewrite the log.
    """

    seq = models.BigIntegerField(unique=True, help_text="Position in the hash chain, from 1.")
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="Username, or system:<name> for the workers.")
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    program = models.ForeignKey(
        "assignments.Program",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    student = models.ForeignKey(
        "people.Person", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    outcome = models.CharField(max_length=16, default="ok")
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["action", "-seq"], name="audit_action_idx"),
            models.Index(fields=["program", "-seq"], name="audit_program_idx"),
            models.Index(fields=["student", "-seq"], name="audit_student_idx"),
            models.Index(fields=["actor", "-seq"], name="audit_actor_idx"),
            models.Index(fields=["object_type", "object_id", "-seq"], name="audit_object_idx"),
            models.Index(fields=["occurred_at"], name="audit_time_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}"


class AuditChainHead(models.Model):
    """A single row holding the last seq and hash; locking it serialises appends so the chain never forks."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit chain head at #{self.seq}"


class AuditVerification(models.Model):
    """One run of the chain verification: who asked, when, and what it found (shown on the auditor's page).

    Kept apart from AuditEvent so a run can be updated as it progresses; the run itself is also an audit event.
    """

    class State(models.TextChoices):
        RUNNING = "running"
        OK = "ok", "Chain intact"
        BROKEN = "broken", "Chain broken"
        ERROR = "error", "Could not finish"

    requested_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_via = models.CharField(max_length=16, default="page", help_text="page, task or command.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    events_checked = models.BigIntegerField(default=0)
    last_seq = models.BigIntegerField(default=0, help_text="The chain head's seq when the run started.")
    first_broken_seq = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"verification {self.pk}: {self.state}"

"""The audit log: append-only (database triggers), hash-chained and MACed by a sequencer, with signed checkpoints.

Writers insert events without any shared lock; `seq`, `prev_hash`, `hash`, `mac` and `key_id` stay empty ("pending")
until the sequencer (mentorship/audit/sequencer.py) chains the committed events in order, shortly after commit. The
database lets those five columns be filled once and refuses every other change (migration 0006).
"""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One business event. Never updated or deleted: the database refuses both (see migration 0002).

    People and programs are referenced without database constraints and without cascades, so that nothing done to
    them can ever rewrite the log.
    """

    seq = models.BigIntegerField(
        unique=True, null=True, blank=True, help_text="Position in the hash chain, from 1; empty while pending."
    )
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
    prev_hash = models.CharField(max_length=64, blank=True, default="")
    hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    mac = models.CharField(max_length=64, blank=True, default="", help_text="HMAC-SHA256 of hash (keys.py).")
    key_id = models.CharField(max_length=32, blank=True, default="", help_text="Which AUDIT_HMAC_KEYS key made mac.")

    class Meta:
        # The id is the order of insertion; seq the order of the chain (set by the sequencer, shortly after).
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["action", "-seq"], name="audit_action_idx"),
            models.Index(fields=["program", "-seq"], name="audit_program_idx"),
            models.Index(fields=["student", "-seq"], name="audit_student_idx"),
            models.Index(fields=["actor", "-seq"], name="audit_actor_idx"),
            models.Index(fields=["object_type", "object_id", "-seq"], name="audit_object_idx"),
            models.Index(fields=["occurred_at"], name="audit_time_idx"),
            # The sequencer's queue: the pending rows only, so finding them costs nothing however long the log is.
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True), name="audit_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq_label} {self.action} by {self.actor_label}"

    @property
    def pending(self) -> bool:
        """Written but not chained yet (the sequencer runs shortly after commit)."""
        return self.seq is None

    @property
    def seq_label(self) -> str:
        """What a page shows in the "#" column: the chain position, or "pending"."""
        return "pending" if self.seq is None else str(self.seq)


class AuditChainHead(models.Model):
    """A single row holding the last seq and hash; the sequencer locks it, so only one sequencer runs at a time."""

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

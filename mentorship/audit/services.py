"""Writing to the audit log. Every service that changes something calls `audit_record` inside its transaction."""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from .models import AuditChainHead, AuditEvent

if TYPE_CHECKING:
    from mentorship.accounts.models import User
    from mentorship.assignments.models import Program
    from mentorship.people.models import Person

GENESIS_HASH = "0" * 64
_SECRET_KEYS = {"code", "pairing_code", "token", "access_token", "refresh_token", "password", "client_secret"}


def mask_secrets(details: dict[str, Any]) -> dict[str, Any]:
    """Audit details never carry secrets: pairing codes keep their last two characters, tokens nothing."""
    cleaned: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, dict):
            cleaned[key] = mask_secrets(value)
        elif key in _SECRET_KEYS and value:
            cleaned[key] = ("••••" + str(value)[-2:]) if key in {"code", "pairing_code"} else "[redacted]"
        else:
            cleaned[key] = value
    return cleaned


def canonical_event(event: AuditEvent) -> bytes:
    """The exact bytes the hash covers. Changing this breaks every existing chain: don't."""
    occurred = event.occurred_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload = {
        "seq": event.seq,
        "occurred_at": occurred,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "program_id": event.program_id,
        "student_id": event.student_id,
        "outcome": event.outcome,
        "ip": event.ip,
        "request_id": event.request_id,
        "details": event.details,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(event: AuditEvent, prev_hash: str) -> str:
    return hashlib.sha256(canonical_event(event) + prev_hash.encode()).hexdigest()


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a trusted proxy rewrote it, and the
    # deployment's proxy (see docs/operations.md) sets REMOTE_ADDR correctly.
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    system_actor: str = "",
    program: Program | None = None,
    student: Person | None = None,
    obj: models.Model | None = None,
    outcome: str = "ok",
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction (or a new one).

    The chain head row is locked for the rest of the transaction, so appends are serialised and the chain never
    forks; keep the transactions that audit short.
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    if actor is None and not system_actor:
        system_actor = "anonymous"
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            AuditChainHead.objects.get_or_create(pk=1)
            head = AuditChainHead.objects.select_for_update().get(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            occurred_at=timezone.now(),
            actor=actor,
            actor_label=actor.get_username() if actor is not None else f"system:{system_actor}",
            action=str(action),
            object_type=(obj._meta.model_name or "") if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            program=program,
            student=student,
            outcome=str(outcome),
            ip=client_ip(request) if request is not None else None,
            request_id=getattr(request, "request_id", "") if request is not None else "",
            details=mask_secrets(details or {}),
            prev_hash=head.hash,
        )
        # JSON round trip so the hash covers exactly what the database will give back when verifying.
        event.details = json.loads(json.dumps(event.details, default=str))
        event.hash = event_hash(event, head.hash)
        event.save(force_insert=True)
        AuditChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event

"""Writing to the audit log. Every service that changes something calls `audit_record` inside its transaction."""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from mentorship.redaction import redact_bearer_and_configured

from .chain import (
    CANONICAL_FIELDS,
    GENESIS_HASH,
    canonical_bytes,
    canonical_event,
    canonical_values,
    event_hash,
    reference_canonical_bytes,
    utc_text,
)
from .changes import READ_ONLY_ACTIONS, program_changed
from .models import AuditChainHead, AuditEvent

# The chain's canonical form lives in .chain; these names stay importable from here, where callers looked first.
__all__ = [
    "CANONICAL_FIELDS",
    "GENESIS_HASH",
    "audit_record",
    "canonical_bytes",
    "canonical_event",
    "canonical_values",
    "client_ip",
    "event_hash",
    "mask_secrets",
    "redact_free_text",
    "reference_canonical_bytes",
    "utc_text",
]

_SECRET_KEYS = {"code", "pairing_code", "token", "access_token", "refresh_token", "password", "client_secret"}


def mask_secrets(details: dict[str, Any]) -> dict[str, Any]:
    """Audit details never carry secrets: pairing codes keep their last two characters, tokens nothing.

    Looks inside nested dicts and lists, and also redacts bearer tokens and the portal's configured secrets found
    inside free text (an error message that quotes a request, say).
    """
    return {key: _mask_value(key, value) for key, value in details.items()}


def _mask_value(key: Any, value: Any) -> Any:
    name = str(key).lower()
    if isinstance(value, dict):
        return mask_secrets(value)
    if isinstance(value, (list, tuple)):
        return [_mask_value(key, item) for item in value]
    if name in _SECRET_KEYS and value:
        return ("••••" + str(value)[-2:]) if name in {"code", "pairing_code"} else "[redacted]"
    if isinstance(value, str):
        return redact_free_text(value)
    return value


def redact_free_text(text: str) -> str:
    return redact_bearer_and_configured(text)


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is whatever the client says unless a trusted proxy rewrote it, and the
    # deployment's proxy (see docs/operations.md) sets REMOTE_ADDR correctly.
    address = request.META.get("REMOTE_ADDR") or None
    if address is None:
        return None
    try:
        # The database hands back IPv6 addresses in their normal form (lower case, zeros compressed); the hash must
        # cover that form, or verification would report an untouched event as broken.
        ipaddress.ip_address(address)
    except ValueError:
        return None
    return clean_ipv6_address(address) if ":" in address else address


def audit_record(
    *,
    action: str,
    # The log sits below the apps (docs/architecture.md, "Layers"): it takes their rows without importing their
    # classes. program is an assignments.Program, student a people.Person (the foreign keys name them by string).
    actor: AbstractBaseUser | AnonymousUser | None = None,
    system_actor: str = "",
    program: models.Model | None = None,
    student: models.Model | None = None,
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
    # Everything that does not depend on the chain head is prepared before the head is locked: the lock is held
    # until the transaction commits, so the time spent under it caps the append rate of the whole portal.
    # The foreign keys name their models by string; the rows go in as given (mypy cannot see their classes here).
    rows: dict[str, Any] = {"actor": actor, "program": program, "student": student}
    event = AuditEvent(
        **rows,
        actor_label=actor.get_username() if actor is not None else f"system:{system_actor}",
        action=str(action),
        object_type=(obj._meta.model_name or "") if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        outcome=str(outcome),
        ip=client_ip(request) if request is not None else None,
        request_id=getattr(request, "request_id", "") if request is not None else "",
        # JSON round trip so the hash covers exactly what the database will give back when verifying.
        details=json.loads(json.dumps(mask_secrets(details or {}), default=str)),
    )
    # No savepoint: if the append fails, the caller's change must not commit without its event anyway.
    with transaction.atomic(savepoint=False):
        if connection.vendor == "postgresql":
            _append_postgresql(event)
        else:
            _append_orm(event)
    if event.program_id is not None and event.action not in READ_ONLY_ACTIONS:
        transaction.on_commit(functools.partial(program_changed, event.program_id))
    return event


def _append_orm(event: AuditEvent) -> None:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    event.seq = head.seq + 1
    event.occurred_at = timezone.now()
    event.prev_hash = head.hash
    event.hash = event_hash(event, head.hash)
    event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)


_SEQ_SLOT = ',"seq":0,"student_id":'


def _append_postgresql(event: AuditEvent) -> None:
    """One round trip under the head lock: the `audit_append` function (migration 0004) locks, hashes and inserts.

    The event's time is taken before the lock (it is when the service recorded it); the canonical text is sent in
    two parts around the seq, which only the database knows once it holds the lock. The hash is recomputed here
    before the transaction can commit, so a divergence between Python and SQL can never enter the chain.
    """
    event.occurred_at = timezone.now()
    values = [getattr(event, name) for name in CANONICAL_FIELDS]
    values[0] = 0
    text = canonical_values(*values).decode()
    prefix, slot, rest = text.rpartition(_SEQ_SLOT)
    if not slot:  # cannot happen: the seq key is always there
        raise RuntimeError("The canonical audit text has no seq slot.")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id, event_seq, event_prev_hash, event_hash FROM audit_append("
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::inet, %s, %s::jsonb)",
            [
                prefix + ',"seq":',
                ',"student_id":' + rest,
                event.occurred_at,
                event.actor_id,
                event.actor_label,
                event.action,
                event.object_type,
                event.object_id,
                event.program_id,
                event.student_id,
                event.outcome,
                event.ip,
                event.request_id,
                json.dumps(event.details),
            ],
        )
        event_id, seq, prev_hash, stored_hash = cursor.fetchone()
    event.pk, event.seq, event.prev_hash = event_id, seq, prev_hash
    event.hash = event_hash(event, prev_hash)
    if event.hash != stored_hash:
        raise RuntimeError(f"Audit event #{seq}: the database computed a different hash; nothing was recorded.")
    event._state.adding = False
    event._state.db = connection.alias

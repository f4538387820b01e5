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
from .models import AuditEvent
from .sequencer import sequencer_kick

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
    """Append one event to the log, inside the caller's transaction (or a new one).

    A plain insert: no lock shared with other writers, so audited changes never wait for each other. The event is
    chained (seq, hash, MAC) by the sequencer shortly after the transaction commits (mentorship/audit/sequencer.py);
    until then it is "pending".
    """
    if actor is not None and not actor.is_authenticated:
        actor = None
    if actor is None and not system_actor:
        system_actor = "anonymous"
    # The foreign keys name their models by string; the rows go in as given (mypy cannot see their classes here).
    rows: dict[str, Any] = {"actor": actor, "program": program, "student": student}
    event = AuditEvent(
        **rows,
        occurred_at=timezone.now(),
        actor_label=actor.get_username() if actor is not None else f"system:{system_actor}",
        action=str(action),
        object_type=(obj._meta.model_name or "") if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        outcome=str(outcome),
        ip=client_ip(request) if request is not None else None,
        request_id=getattr(request, "request_id", "") if request is not None else "",
        # JSON round trip so the event in memory holds what the database will give back.
        details=json.loads(json.dumps(mask_secrets(details or {}), default=str)),
    )
    # No savepoint: if the append fails, the caller's change must not commit without its event anyway.
    with transaction.atomic(savepoint=False):
        event.save(force_insert=True)
        _kick_sequencer_after_commit()
    if event.program_id is not None and event.action not in READ_ONLY_ACTIONS:
        transaction.on_commit(functools.partial(program_changed, event.program_id))
    return event


def _kick_sequencer_after_commit() -> None:
    """One sequencer kick per transaction, however many events it audits (a 10,000-row import: one, not 10,000).

    Django starts a new list of commit hooks after every commit and rollback (and a savepoint rollback filters it
    into a new one), so "this list already holds our kick" is the identity of the list we last added it to.
    """
    if getattr(connection, "_audit_kick_hooks", None) is connection.run_on_commit:
        return
    transaction.on_commit(sequencer_kick)
    connection._audit_kick_hooks = connection.run_on_commit  # type: ignore[attr-defined]

"""Writing to the audit log. Every service that changes something calls `audit_record` inside its transaction."""

from __future__ import annotations

import datetime
import functools
import hashlib
import ipaddress
import json
from json.encoder import py_encode_basestring
from typing import TYPE_CHECKING, Any

from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from .actions import Action, Outcome
from .changes import READ_ONLY_ACTIONS, program_changed
from .models import AuditChainHead, AuditEvent, AuditVerification

if TYPE_CHECKING:
    from mentorship.accounts.models import User
    from mentorship.assignments.models import Program
    from mentorship.people.models import Person

GENESIS_HASH = "0" * 64
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
    from mentorship.core.logging import _PATTERNS, _configured_secrets

    for secret in _configured_secrets():
        text = text.replace(secret, "[redacted]")
    bearer_pattern, replacement = _PATTERNS[0]
    return bearer_pattern.sub(replacement, text)


# Equivalent to json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str); built once
# because json.dumps builds a new encoder on every call with these options.
_encode_string = getattr(json.encoder, "c_encode_basestring", None) or py_encode_basestring
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

# The columns the hash covers, in the order `canonical_values` takes them (verification streams exactly these).
CANONICAL_FIELDS = (
    "seq",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "program_id",
    "student_id",
    "outcome",
    "ip",
    "request_id",
    "details",
)


def canonical_values(
    seq: int,
    occurred_at: datetime.datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    program_id: int | None,
    student_id: int | None,
    outcome: str,
    ip: str | None,
    request_id: str,
    details: Any,
) -> bytes:
    """The exact bytes the hash covers. Changing this breaks every existing chain: don't."""
    return canonical_bytes(
        seq,
        utc_text(occurred_at),
        actor_id,
        actor_label,
        action,
        object_type,
        object_id,
        program_id,
        student_id,
        outcome,
        ip,
        request_id,
        details,
    )


def utc_text(moment: datetime.datetime) -> str:
    """strftime("%Y-%m-%dT%H:%M:%S.%fZ") in UTC (years 1000-9999), several times faster."""
    return moment.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_bytes(
    seq: int,
    occurred_utc: str,
    actor_id: int | None,
    actor_label: str,
    action: str,
    object_type: str,
    object_id: str,
    program_id: int | None,
    student_id: int | None,
    outcome: str,
    ip: str | None,
    request_id: str,
    details: Any,
) -> bytes:
    """`canonical_values` with the time already as UTC text (verification on PostgreSQL has it formatted there).

    Byte for byte `reference_canonical_bytes` (json.dumps of the payload with sorted keys), written out by hand in
    key order because verification runs it a million times; tests/audit/test_canonical.py holds the two together.
    """
    return (
        '{"action":'
        + _json(action)
        + ',"actor_id":'
        + _json(actor_id)
        + ',"actor_label":'
        + _json(actor_label)
        + ',"details":'
        + _CANONICAL_ENCODER.encode(details)
        + ',"ip":'
        + _json(ip)
        + ',"object_id":'
        + _json(object_id)
        + ',"object_type":'
        + _json(object_type)
        + ',"occurred_at":'
        + _json(occurred_utc)
        + ',"outcome":'
        + _json(outcome)
        + ',"program_id":'
        + _json(program_id)
        + ',"request_id":'
        + _json(request_id)
        + ',"seq":'
        + _json(seq)
        + ',"student_id":'
        + _json(student_id)
        + "}"
    ).encode()


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        return _encode_string(value)
    if type(value) is int:
        return int.__repr__(value)
    return _CANONICAL_ENCODER.encode(value)


def reference_canonical_bytes(*values: Any) -> bytes:
    """The definition of the canonical form: the payload as sorted, compact, non-ASCII-escaped JSON."""
    payload = dict(zip(CANONICAL_FIELDS, values, strict=True))
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def canonical_event(event: AuditEvent) -> bytes:
    return canonical_values(*(getattr(event, name) for name in CANONICAL_FIELDS))


def event_hash(event: AuditEvent, prev_hash: str) -> str:
    return hashlib.sha256(canonical_event(event) + prev_hash.encode()).hexdigest()


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
    # Everything that does not depend on the chain head is prepared before the head is locked: the lock is held
    # until the transaction commits, so the time spent under it caps the append rate of the whole portal.
    event = AuditEvent(
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


# Logs up to this many events are verified inline when an auditor presses the button (a few seconds at most);
# longer ones go to a Celery task so no web worker is held for a minute.
VERIFY_INLINE_MAX_EVENTS = 20_000


def verification_run(*, verification: AuditVerification) -> AuditVerification:
    """Run a recorded verification to the end and store its result. Safe to call again on a finished one (no-op)."""
    from .verification import chain_check

    if verification.state != AuditVerification.State.RUNNING:
        return verification
    try:
        check = chain_check()
    except Exception:
        AuditVerification.objects.filter(pk=verification.pk).update(
            state=AuditVerification.State.ERROR,
            finished_at=timezone.now(),
            message="The verification stopped with an error before it finished. Run it again; see the logs.",
        )
        raise
    with transaction.atomic():
        updated = AuditVerification.objects.filter(pk=verification.pk, state=AuditVerification.State.RUNNING).update(
            state=AuditVerification.State.OK if check.ok else AuditVerification.State.BROKEN,
            finished_at=timezone.now(),
            events_checked=check.events_checked,
            last_seq=check.last_seq,
            first_broken_seq=check.first_broken_seq,
            message=check.message,
        )
        if updated:
            audit_record(
                action=Action.AUDIT_VERIFIED,
                actor=verification.requested_by,
                system_actor="" if verification.requested_by else "audit_verify",
                obj=verification,
                outcome=Outcome.OK if check.ok else Outcome.FAILED,
                details={
                    "events_checked": check.events_checked,
                    "last_seq": check.last_seq,
                    "first_broken_seq": check.first_broken_seq,
                    "via": verification.requested_via,
                },
            )
    verification.refresh_from_db()
    return verification


def verification_request(*, actor: User | None, via: str = "page") -> tuple[AuditVerification, bool]:
    """Start a chain verification. Returns (verification, ran_inline).

    Small logs are verified at once; longer ones are handed to the `audit.verify_chain` task after commit. A run
    already in progress is returned instead of starting a second one.
    """
    from .tasks import verify_chain

    running = AuditVerification.objects.filter(
        state=AuditVerification.State.RUNNING, started_at__gte=timezone.now() - datetime.timedelta(minutes=15)
    ).first()
    if running is not None:
        return running, False
    head_seq = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    verification = AuditVerification.objects.create(
        requested_by=actor if actor is not None and actor.is_authenticated else None,
        requested_via=via,
        started_at=timezone.now(),
        last_seq=head_seq,
    )
    if head_seq <= VERIFY_INLINE_MAX_EVENTS:
        return verification_run(verification=verification), True
    transaction.on_commit(lambda: verify_chain.delay(verification.pk))
    return verification, False

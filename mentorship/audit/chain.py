"""The hash chain's canonical form: the exact bytes each event's hash covers, and the hash itself.

Plain functions over values, so verification (which streams millions of rows) and the append path share one
definition, and neither needs the other.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from json.encoder import py_encode_basestring
from typing import Any

from tools.verify_audit_bundle import HASHED_FIELDS

from .models import AuditEvent

GENESIS_HASH = "0" * 64

# Equivalent to json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str); built once
# because json.dumps builds a new encoder on every call with these options.
_encode_string = getattr(json.encoder, "c_encode_basestring", None) or py_encode_basestring
_CANONICAL_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

# The columns the hash covers, in the order `canonical_values` takes them (verification streams exactly these). One
# list, kept in the outside verifier: that file must stand alone for an auditor, so the portal reads it from there.
CANONICAL_FIELDS = HASHED_FIELDS


def canonical_values(seq: int, occurred_at: datetime.datetime, *rest: Any) -> bytes:
    """The exact bytes the hash covers, from the values of CANONICAL_FIELDS in order (the time as a datetime).

    Changing this breaks every existing chain: don't."""
    return canonical_bytes(seq, utc_text(occurred_at), *rest)


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

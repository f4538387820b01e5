"""Signed checkpoints of the chain head, appended to a file outside the database (AUDIT_CHECKPOINT_DIR).

One JSON object per line: the head's seq and hash, the MAC key id in use, the time, the SHA-256 of the previous line
(so a line taken out breaks the next one) and an Ed25519 signature over the rest. The database's roles cannot reach
the file; whoever rewrites the table cannot make the signed hash at a checkpoint's seq come out again, and whoever
edits the file cannot sign. A checkpoint is written when AUDIT_CHECKPOINT_EVERY events or AUDIT_CHECKPOINT_SECONDS
have passed since the last one (docs/operations.md, "Audit keys, checkpoints and verification").

The line format is also what tools/verify_audit_bundle.py reads, outside the portal: change both together.
"""

from __future__ import annotations

import base64
import datetime
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .chain import GENESIS_HASH, utc_text
from .keys import mac_keys, public_key_bytes, public_key_id, signing_key
from .models import AuditChainHead

FILE_NAME = "checkpoints.jsonl"


@dataclass(frozen=True)
class Checkpoint:
    line: int
    seq: int
    hash: str
    at: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class CheckpointFile:
    checkpoints: list[Checkpoint]
    fault: str = ""  # empty when every line is intact


def checkpoint_path() -> Path:
    return Path(settings.AUDIT_CHECKPOINT_DIR) / FILE_NAME


def signed_text(fields: dict[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: every field but "sig", as sorted compact JSON."""
    unsigned = {key: value for key, value in fields.items() if key != "sig"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def checkpoints_read(*, path: Path | None = None, public_key: bytes | None = None) -> CheckpointFile:
    """Every checkpoint in the file, checked: parses, signature, link to the line before, seq never going back.

    Stops at the first bad line and says which (the later lines cannot be trusted to follow it)."""
    path = path or checkpoint_path()
    if not path.exists():
        return CheckpointFile([])
    verifier = Ed25519PublicKey.from_public_bytes(public_key or public_key_bytes())
    found: list[Checkpoint] = []
    previous_line, previous_seq = GENESIS_HASH, 0
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        fault = _line_fault(raw, verifier, previous_line, previous_seq)
        if isinstance(fault, str):
            return CheckpointFile(found, f"Checkpoint line {number} of {path.name}: {fault}")
        found.append(Checkpoint(number, fault["seq"], fault["hash"], fault["at"], fault))
        previous_line, previous_seq = hashlib.sha256(raw).hexdigest(), fault["seq"]
    return CheckpointFile(found)


def _line_fault(raw: bytes, verifier: Ed25519PublicKey, previous_line: str, previous_seq: int) -> str | dict[str, Any]:
    """The parsed line when it is intact, else why not."""
    try:
        fields = json.loads(raw)
        signature = base64.b64decode(fields["sig"], validate=True)
        seq, chain_hash = int(fields["seq"]), str(fields["hash"])
    except (ValueError, KeyError, TypeError):
        return "it is not a checkpoint (damaged or edited)."
    try:
        verifier.verify(signature, signed_text(fields))
    except InvalidSignature:
        return f"its signature does not match (checkpoint of #{seq} was altered, or signed by another key)."
    if fields.get("prev") != previous_line:
        return "it does not follow the line before it (a checkpoint was removed or reordered)."
    if seq < previous_seq or len(chain_hash) != 64:
        return f"its seq #{seq} goes back before the previous checkpoint's #{previous_seq}."
    return fields


def checkpoint_write(*, force: bool = False) -> Checkpoint | None:
    """Append a checkpoint of the chain head now, if one is due (or ``force``, if the head moved). Idempotent.

    The head row is locked for the duration, so two workers never append at once and the head cannot move between
    reading it and signing it.
    """
    path = checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None or head.seq == 0:
            return None
        with path.open("ab") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            # Only the last line decides whether one is due: the sequencer asks after every batch, and checking
            # every signature of a year of checkpoints each time is verification's job, not the append's.
            last_raw = _last_line(path)
            last = _parsed(last_raw)
            if not _due(head.seq, last, force=force):
                return None
            fields = _signed_fields(head.seq, head.hash, last_raw)
            number = path.read_bytes().count(b"\n") + 1  # only when one is due: rarely
            raw = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            handle.write(raw + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    return Checkpoint(number, head.seq, head.hash, fields["at"], fields)


def _last_line(path: Path) -> bytes:
    """The file's last line (without its newline), or b"" for an empty file; reads only the file's tail."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 8192))
        tail = handle.read().rstrip(b"\n")
    return tail.rsplit(b"\n", 1)[-1] if tail else b""


def _parsed(raw: bytes) -> Checkpoint | None:
    """The last line as a checkpoint, unverified (its line number is not known here: 0)."""
    if not raw:
        return None
    try:
        fields = json.loads(raw)
        return Checkpoint(0, int(fields["seq"]), str(fields["hash"]), str(fields["at"]), fields)
    except (ValueError, KeyError, TypeError):
        return None  # a damaged last line: write a fresh checkpoint; verification reports the damage


def _due(head_seq: int, last: Checkpoint | None, *, force: bool) -> bool:
    if last is None:
        return True
    if head_seq <= last.seq:
        return False
    if force or head_seq - last.seq >= settings.AUDIT_CHECKPOINT_EVERY:
        return True
    last_at = datetime.datetime.fromisoformat(last.at.replace("Z", "+00:00"))
    return (timezone.now() - last_at).total_seconds() >= settings.AUDIT_CHECKPOINT_SECONDS


def _signed_fields(seq: int, chain_hash: str, previous_line: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "v": 1,
        "seq": seq,
        "hash": chain_hash,
        "mac_key_id": mac_keys().current_id,
        "at": utc_text(timezone.now()),
        "prev": hashlib.sha256(previous_line).hexdigest() if previous_line else GENESIS_HASH,
        "signer": public_key_id(),
    }
    fields["sig"] = base64.b64encode(signing_key().sign(signed_text(fields))).decode()
    return fields

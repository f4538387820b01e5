"""An audit bundle: the events of a date range, the checkpoints that sign for them and the public key, as files an
auditor checks outside the portal with tools/verify_audit_bundle.py (standard library and `cryptography` only).

Files in the folder:

- `events.jsonl`: one chained event per line, in seq order: the fields the hash covers (the time as UTC text, as
  the canonical form has it), then prev_hash, hash, mac and key_id. The range is the seqs of the events of those days,
  carried on to the next checkpoint so the last one is signed for (one is written now if none is due yet).
- `checkpoints.jsonl`: the checkpoint lines from the last one before the range to the one that covers its end,
  byte for byte as in AUDIT_CHECKPOINT_DIR (so the signatures and the links between lines still check).
- `public_key.txt`: the base64 of the Ed25519 public key. An auditor should pin the key they were given instead.
- `manifest.json`: what was asked and what is in it.
"""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from pathlib import Path

from django.db.models import Max, Min
from django.utils import timezone

from .actions import Action
from .chain import CANONICAL_FIELDS, utc_text
from .checkpoints import checkpoint_path, checkpoint_write, checkpoints_read
from .keys import public_key_bytes
from .models import AuditEvent
from .sequencer import sequence_pending
from .services import audit_record


class BundleError(Exception):
    """The bundle cannot be made; the message says why in the auditor's words."""


@dataclass(frozen=True)
class Bundle:
    folder: Path
    first_seq: int
    last_seq: int
    events: int
    checkpoints: int


def bundle_export(*, date_from: datetime.date, date_to: datetime.date, folder: Path) -> Bundle:
    """Write the bundle of events that occurred from ``date_from`` to ``date_to`` (both included, UTC days)."""
    if date_to < date_from:
        raise BundleError(f"The range ends ({date_to}) before it starts ({date_from}).")
    start = datetime.datetime.combine(date_from, datetime.time(), tzinfo=datetime.UTC)
    end = datetime.datetime.combine(date_to + datetime.timedelta(days=1), datetime.time(), tzinfo=datetime.UTC)
    sequence_pending()
    chained = AuditEvent.objects.filter(occurred_at__gte=start, occurred_at__lt=end, seq__isnull=False)
    bounds = chained.aggregate(first=Min("seq"), last=Max("seq"))
    if bounds["first"] is None:
        raise BundleError(f"No chained audit events occurred from {date_from} to {date_to}.")
    first_seq, last_seq = bounds["first"], bounds["last"]
    marks = _covering_checkpoints(first_seq, last_seq)
    last_seq = max(last_seq, marks[-1][0])
    folder.mkdir(parents=True, exist_ok=True)
    count = _write_events(folder / "events.jsonl", first_seq, last_seq)
    (folder / "checkpoints.jsonl").write_bytes(b"".join(raw + b"\n" for _seq, raw in marks))
    (folder / "public_key.txt").write_text(base64.b64encode(public_key_bytes()).decode() + "\n")
    manifest = {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "first_seq": first_seq,
        "last_seq": last_seq,
        "events": count,
        "checkpoints": len(marks),
        "exported_at": utc_text(timezone.now()),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    audit_record(action=Action.AUDIT_EXPORTED, system_actor="audit_verify", details={"format": "bundle", **manifest})
    return Bundle(folder, first_seq, last_seq, count, len(marks))


def _covering_checkpoints(first_seq: int, last_seq: int) -> list[tuple[int, bytes]]:
    """(seq, raw line) from the last checkpoint before ``first_seq`` to the first at or after ``last_seq``."""
    found = checkpoints_read()
    if found.fault:
        raise BundleError(f"The checkpoint file is not intact, so no bundle can be signed for: {found.fault}")
    if not found.checkpoints or found.checkpoints[-1].seq < last_seq:
        checkpoint_write(force=True)
        found = checkpoints_read()
    lines = checkpoint_path().read_bytes().splitlines()
    marks = [(mark.seq, lines[mark.line - 1]) for mark in found.checkpoints]
    end = next(i for i, (seq, _raw) in enumerate(marks) if seq >= last_seq)
    begin = max([i for i, (seq, _raw) in enumerate(marks[: end + 1]) if seq < first_seq] or [0])
    return marks[begin : end + 1]


def _write_events(path: Path, first_seq: int, last_seq: int) -> int:
    names = [*CANONICAL_FIELDS, "prev_hash", "hash", "mac", "key_id"]
    rows = (
        AuditEvent.objects.filter(seq__gte=first_seq, seq__lte=last_seq)
        .order_by("seq")
        .values_list(*names)
        .iterator(chunk_size=5000)
    )
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            line = dict(zip(names, row, strict=True))
            line["occurred_at"] = utc_text(line["occurred_at"])
            handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count

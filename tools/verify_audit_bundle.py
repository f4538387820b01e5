#!/usr/bin/env python3
"""Verify a Mentor Link audit bundle without the portal or its database: Python 3.11+ and `cryptography` only.

    python verify_audit_bundle.py BUNDLE_FOLDER [--public-key BASE64_OR_FILE]

A bundle (made by `manage.py audit_verify --export FROM TO OUT`) holds events.jsonl, checkpoints.jsonl,
public_key.txt and manifest.json. This script checks that:

1. every checkpoint line is signed by the public key (pin the key the school gave you with --public-key; without
   it the bundle's own public_key.txt is used and the report says so), and each line names the SHA-256 of the line
   before it;
2. the events run without a gap in seq, each links to the one before (prev_hash), and each hash is
   SHA-256(canonical event + prev_hash), the canonical event being its hashed fields as sorted, compact JSON;
3. the event at each checkpoint's seq has the signed hash, and the last event is signed for by a checkpoint.

It exits 0 ("intact") or 1 naming the first event (or checkpoint line) that is not. The MACs (`mac`) need the
school's secret key and are checked inside the portal by `audit_verify`, not here: the signatures are what an
outsider can check. Kept in one file with no imports from the portal, so it can be handed over on its own; its line
formats are those of mentorship/audit/checkpoints.py and mentorship/audit/bundle.py.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# The fields the hash covers, and the one list of them: the portal's mentorship/audit/chain.py reads CANONICAL_FIELDS
# from here, since this file must stand alone for an auditor. The canonical form sorts them anyway.
HASHED_FIELDS = (
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


class Broken(Exception):
    """The bundle is not intact; the message names where."""


def compact(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: dict[str, Any]) -> str:
    payload = {name: event[name] for name in HASHED_FIELDS}
    return hashlib.sha256(compact(payload) + str(event["prev_hash"]).encode()).hexdigest()


def load_public_key(folder: Path, pinned: str | None) -> tuple[Ed25519PublicKey, str]:
    source = "the bundle's own public_key.txt (not pinned: pass --public-key)"
    text = (folder / "public_key.txt").read_text().strip() if pinned is None else pinned
    if pinned is not None:
        source = "the pinned key"
        if Path(pinned).is_file():
            text = Path(pinned).read_text().strip()
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True)), source
    except (binascii.Error, ValueError):
        raise Broken("The public key is not the base64 of a 32-byte Ed25519 public key.") from None


def checked_checkpoints(folder: Path, key: Ed25519PublicKey) -> dict[int, str]:
    """seq -> signed hash, after checking every line's signature and its link to the line before."""
    signed: dict[int, str] = {}
    previous: bytes | None = None
    for number, raw in enumerate((folder / "checkpoints.jsonl").read_bytes().splitlines(), start=1):
        try:
            fields = json.loads(raw)
            signature = base64.b64decode(fields.pop("sig"), validate=True)
            seq, chain_hash = int(fields["seq"]), str(fields["hash"])
        except (ValueError, KeyError, TypeError):
            raise Broken(f"Checkpoint line {number} is not a checkpoint (damaged or edited).") from None
        try:
            key.verify(signature, compact(fields))
        except InvalidSignature:
            raise Broken(f"Checkpoint line {number} (#{seq}): its signature does not match; it was altered.") from None
        if previous is not None and fields.get("prev") != hashlib.sha256(previous).hexdigest():
            raise Broken(f"Checkpoint line {number} (#{seq}) does not follow the line before it (one was removed).")
        signed[seq] = chain_hash
        previous = raw
    if not signed:
        raise Broken("The bundle has no checkpoint: nothing in it is signed for.")
    return signed


def check_events(folder: Path, signed: dict[int, str]) -> tuple[int, int, int]:
    """(events checked, first seq, last seq); raises Broken naming the first event that is not intact."""
    previous_hash: str | None = None
    expected: int | None = None
    last_good_mark = 0
    count = 0
    first = 0
    with (folder / "events.jsonl").open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                event = json.loads(line)
                seq = int(event["seq"])
                recorded = str(event["hash"])
                computed = event_hash(event)
            except (ValueError, KeyError, TypeError):
                raise Broken(f"Line {number} of events.jsonl is not an event (damaged or edited).") from None
            if expected is None:
                first, last_good_mark = seq, seq - 1
            elif seq != expected:
                raise Broken(f"Event #{expected} is missing: the bundle goes from #{expected - 1} to #{seq}.")
            if previous_hash is not None and event["prev_hash"] != previous_hash:
                raise Broken(f"Event #{seq} does not follow the event before it (its previous-hash differs).")
            if computed != recorded:
                raise Broken(f"Event #{seq} has been altered: its contents no longer match its hash.")
            if seq in signed and signed[seq] != recorded:
                raise Broken(
                    f"Event #{seq} differs from the signed checkpoint of #{seq}: the chain was recomputed after a "
                    f"change among events #{last_good_mark + 1} to #{seq}."
                )
            if seq in signed:
                last_good_mark = seq
            previous_hash, expected, count = recorded, seq + 1, count + 1
    if count == 0:
        raise Broken("The bundle holds no events.")
    last = expected - 1 if expected is not None else 0
    if last_good_mark != last:
        raise Broken(f"Events #{last_good_mark + 1} to #{last} are not signed for by any checkpoint in the bundle.")
    return count, first, last


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Mentor Link audit bundle (no portal needed).")
    parser.add_argument("bundle", type=Path, help="the folder written by `audit_verify --export`")
    parser.add_argument("--public-key", help="the school's checkpoint public key: base64, or a file holding it")
    args = parser.parse_args(argv)
    try:
        key, source = load_public_key(args.bundle, args.public_key)
        signed = checked_checkpoints(args.bundle, key)
        count, first, last = check_events(args.bundle, signed)
    except FileNotFoundError as exc:
        print(f"NOT VERIFIED: the bundle lacks {Path(exc.filename).name}.", file=sys.stderr)
        return 1
    except Broken as exc:
        print(f"NOT VERIFIED: {exc}", file=sys.stderr)
        return 1
    print(f"Intact: {count:,} events (#{first} to #{last}), {len(signed)} checkpoint(s) signed by {source}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

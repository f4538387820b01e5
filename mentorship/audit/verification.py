"""Recompute the hash chain and name the first broken event. Read-only: recording the result is services' job."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .actions import Action, Outcome
from .chain import CANONICAL_FIELDS, GENESIS_HASH, canonical_bytes, utc_text
from .checkpoints import CheckpointFile, checkpoints_read
from .keys import MacKeys, mac_keys
from .models import AuditChainHead, AuditEvent, AuditVerification
from .services import audit_record

CHUNK_SIZE = 10_000


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    events_checked: int
    last_seq: int
    first_broken_seq: int | None = None
    message: str = ""


def chain_check(
    *,
    chunk_size: int = CHUNK_SIZE,
    progress: Callable[[int], None] | None = None,
    checkpoints: CheckpointFile | None = None,
) -> ChainCheck:
    """Walk the chain in seq order up to the head as it stands now (later appends are left for the next run).

    Streams only the hashed columns in chunks, so memory stays flat however long the log is. Checks, per event:
    no gap in seq, prev_hash equals the previous event's hash, hash equals sha256(canonical event + prev_hash), the
    MAC of the hash under its key (which the database does not hold), and the hash signed by a checkpoint at that
    seq, if any; then that no signed checkpoint lies beyond the log's end, that the chain head agrees with the last
    event (catches removed tail events) and that no event has waited for the sequencer longer than
    AUDIT_SEQUENCE_MAX_LAG_SECONDS.
    """
    marks = checkpoints_read() if checkpoints is None else checkpoints
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    head_seq, head_hash = head if head is not None else (0, GENESIS_HASH)
    if marks.fault:
        return ChainCheck(False, 0, head_seq, None, marks.fault)
    if head is None and AuditEvent.objects.filter(seq__isnull=False).exists():
        return ChainCheck(False, 0, 0, 1, "The chain head is missing although the log holds events.")
    signed = {mark.seq: mark.hash for mark in marks.checkpoints}
    rows = (
        _rows_postgresql(head_seq, chunk_size) if connection.vendor == "postgresql" else _rows_orm(head_seq, chunk_size)
    )
    keys = mac_keys()
    expected_seq = 1
    previous_hash = GENESIS_HASH
    checked = 0
    for row in rows:
        fault = _row_fault(row, expected_seq=expected_seq, previous_hash=previous_hash, keys=keys, signed=signed)
        if fault is not None:
            return ChainCheck(False, checked, head_seq, *fault)
        previous_hash = row[14]
        checked += 1
        expected_seq += 1
        if progress is not None and checked % chunk_size == 0:
            progress(checked)
    return _tail_check(checked, previous_hash, head_seq, head_hash, marks)


def _tail_check(checked: int, last_hash: str, head_seq: int, head_hash: str, marks: CheckpointFile) -> ChainCheck:
    latest = marks.checkpoints[-1] if marks.checkpoints else None
    if latest is not None and latest.seq > checked:
        return ChainCheck(
            False,
            checked,
            head_seq,
            checked + 1,
            f"The log ends at #{checked} but a signed checkpoint records #{latest.seq}: events after #{checked} "
            "were removed.",
        )
    if checked != head_seq or last_hash != head_hash:
        return ChainCheck(
            False,
            checked,
            head_seq,
            checked + 1,
            f"The log ends at #{checked} but the chain head records #{head_seq}: events after #{checked} are missing "
            "or the head was changed.",
        )
    lag = settings.AUDIT_SEQUENCE_MAX_LAG_SECONDS
    stuck = (
        AuditEvent.objects.filter(seq__isnull=True, occurred_at__lt=timezone.now() - datetime.timedelta(seconds=lag))
        .order_by("id")
        .values_list("id", "occurred_at")
        .first()
    )
    if stuck is not None:
        return ChainCheck(
            False,
            checked,
            head_seq,
            None,
            f"Event id {stuck[0]}, written at {utc_text(stuck[1])}, is still not chained after more than {lag} s: "
            "the sequencer is not running, or cannot chain it.",
        )
    signed_note = f"; the latest signed checkpoint (#{latest.seq}) matches" if latest is not None else ""
    return ChainCheck(True, checked, head_seq, None, f"All {checked:,} events are intact{signed_note}.")


def _row_fault(
    row: tuple[Any, ...], *, expected_seq: int, previous_hash: str, keys: MacKeys, signed: dict[int, str]
) -> tuple[int, str] | None:
    """(the first broken seq, why) when this event breaks the chain, else None. ``row`` is the canonical fields,
    then prev_hash, hash, mac and key_id."""
    seq = row[0]
    prev_hash, stored_hash, mac, key_id = row[13:17]
    if seq != expected_seq:
        return expected_seq, f"Event #{expected_seq} is missing: the chain goes from #{expected_seq - 1} to #{seq}."
    if prev_hash != previous_hash:
        return (
            seq,
            f"Event #{seq} does not follow the event before it: its previous-hash differs from #{seq - 1}'s hash.",
        )
    if hashlib.sha256(canonical_bytes(*row[:13]) + prev_hash.encode()).hexdigest() != stored_hash:
        return seq, f"Event #{seq} has been altered: its contents no longer match its hash."
    if key_id not in keys.keys:
        return seq, f"Event #{seq} was MACed with key {key_id!r}, which is not in AUDIT_HMAC_KEYS."
    if not hmac.compare_digest(keys.mac(stored_hash, key_id), mac):
        return seq, f"Event #{seq} has been altered: its MAC does not match (the chain was recomputed without the key)."
    if seq in signed and signed[seq] != stored_hash:
        return seq, f"Event #{seq} differs from the signed checkpoint of #{seq}: the chain was rewritten."
    return None


def _rows_orm(head_seq: int, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    rows = (
        AuditEvent.objects.filter(seq__lte=head_seq)
        .order_by("seq")
        .values_list(*CANONICAL_FIELDS, "prev_hash", "hash", "mac", "key_id")
        .iterator(chunk_size=chunk_size)
    )
    for row in rows:
        yield (row[0], utc_text(row[1]), *row[2:])


# PostgreSQL formats the time in UTC and hands details over as text: no datetime objects, no ORM converters per row.
# host(ip) is the address without a netmask, the same text Django returns for the column.
_PG_ROWS = """
SELECT seq, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_id, actor_label, action,
       object_type, object_id, program_id, student_id, outcome, host(ip), request_id, details::text, prev_hash, hash,
       mac, key_id
FROM audit_auditevent WHERE seq <= %s ORDER BY seq
"""


def _rows_postgresql(head_seq: int, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    """Rows in seq order; a helper thread fetches the next chunks while this thread hashes the current one.

    psycopg's C row loading and the server's work release the GIL, so fetching and hashing overlap (about a third
    faster on two cores). The thread uses this connection's server-side cursor and nothing else touches the
    connection until it is done.
    """
    loads = json.loads
    with transaction.atomic():  # a server-side cursor lives inside a transaction
        connection.ensure_connection()
        raw = connection.connection
        chunks: queue.Queue[list[tuple[Any, ...]] | BaseException] = queue.Queue(maxsize=3)
        stop = threading.Event()

        def produce() -> None:
            try:
                with raw.cursor(name="audit_verify") as cursor:
                    cursor.execute(_PG_ROWS, [head_seq])
                    while not stop.is_set():
                        rows = cursor.fetchmany(chunk_size)
                        chunks.put(rows)
                        if not rows:
                            return
            except BaseException as exc:  # handed to the consumer, which raises it
                chunks.put(exc)

        thread = threading.Thread(target=produce, name="audit-verify-fetch", daemon=True)
        thread.start()
        try:
            while True:
                item = chunks.get()
                if isinstance(item, BaseException):
                    raise item
                if not item:
                    break
                for row in item:
                    yield (*row[:12], loads(row[12]), *row[13:])
        finally:
            # The consumer may stop early (a broken event): let the producer finish its last put and close.
            stop.set()
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    chunks.get(timeout=0.05)
            thread.join()


def verification_run(*, verification: AuditVerification) -> AuditVerification:
    """Run a recorded verification to the end and store its result. Safe to call again on a finished one (no-op)."""
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

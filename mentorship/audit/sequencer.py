"""The sequencer: chains committed audit events in order, in batches, shortly after they commit.

Writers only insert (services.audit_record); nothing they do waits on another writer. Afterwards, one sequencer at a
time (the chain head row is its lock) takes the committed, still pending events in id order, gives each the next seq,
links it to the one before (prev_hash, hash: SHA-256 of the canonical event and the previous hash, as before) and MACs
the link with the current AUDIT_HMAC_KEYS key (mac, key_id). A row whose insert committed later than a higher id's
simply gets a later seq: the chain's order is the order the sequencer saw commits, which is all a log can promise.
See docs/decisions.md, "Audit appends no longer wait for each other".

It runs as the `audit.sequence` task, published after each auditing commit (at most one message queued at a time, see
`sequencer_kick`) and every 10 s by beat as the backstop; and checkpoints follow it (checkpoints.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction

from mentorship.celery import task_named

from .chain import CANONICAL_FIELDS, GENESIS_HASH, canonical_bytes, utc_text
from .keys import mac_keys
from .models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000
KICK_KEY = "audit:sequencer-queued"
# A kick's marker lives this long at most: if its message is lost, the next commit after that publishes again.
KICK_TTL_SECONDS = 5

# The pending rows exactly as verification will read them back (UTC text, host(ip), details as text): the hash must
# cover what the database returns, not what the writer sent.
_PG_PENDING = """
SELECT id, to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor_id, actor_label, action,
       object_type, object_id, program_id, student_id, outcome, host(ip), request_id, details::text
FROM audit_auditevent WHERE seq IS NULL ORDER BY id LIMIT %s
"""

_PG_FILL = """
UPDATE audit_auditevent AS e SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash, mac = v.mac, key_id = v.key_id
FROM (SELECT unnest(%s::bigint[]) AS id, unnest(%s::bigint[]) AS seq, unnest(%s::text[]) AS prev_hash,
             unnest(%s::text[]) AS hash, unnest(%s::text[]) AS mac, unnest(%s::text[]) AS key_id) AS v
WHERE e.id = v.id AND e.seq IS NULL
"""


def sequencer_kick() -> None:
    """After an auditing commit: make sure a sequencer run is queued. One cache add per commit, one message per run.

    The task clears the marker before it looks for rows, so a commit that lands after it looked queues the next run.
    A cache or broker failure is only logged: beat runs the sequencer every 10 s anyway.
    """
    try:
        if cache.add(KICK_KEY, 1, KICK_TTL_SECONDS):
            task_named("audit.sequence").delay()
    except Exception:
        logger.warning("could not queue the audit sequencer; beat will run it", exc_info=True)


def sequencer_kick_clear() -> None:
    try:
        cache.delete(KICK_KEY)
    except Exception:
        logger.warning("could not clear the audit sequencer's queued marker")


def sequence_pending(*, batch_size: int = BATCH_SIZE, max_batches: int | None = None) -> int:
    """Chain every committed pending event (in batches of one transaction each). Returns how many were chained.

    Safe to run from several workers at once: the second waits for the first's batch on the head row, then finds
    the rows already chained (the UPDATE also requires seq IS NULL).
    """
    total = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        chained = _sequence_batch(batch_size=batch_size)
        total += chained
        batches += 1
        if chained < batch_size:
            break
    return total


def _sequence_batch(*, batch_size: int) -> int:
    keys = mac_keys()
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:  # a test database's flush empties the head row too
            AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
            head = AuditChainHead.objects.select_for_update().get(pk=1)
        rows = _pending_rows(batch_size)
        if not rows:
            return 0
        seq, previous = head.seq, head.hash
        fills: list[tuple[int, int, str, str, str, str]] = []
        for row in rows:
            seq += 1
            chain_hash = hashlib.sha256(canonical_bytes(seq, *row[1:]) + previous.encode()).hexdigest()
            fills.append((row[0], seq, previous, chain_hash, keys.mac(chain_hash), keys.current_id))
            previous = chain_hash
        _fill(fills)
        AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=previous)
    return len(rows)


def _pending_rows(batch_size: int) -> list[tuple[Any, ...]]:
    """(id, then the canonical fields after seq) of the oldest pending rows."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PG_PENDING, [batch_size])
            return [(*row[:12], json.loads(row[12])) for row in cursor.fetchall()]
    values = (
        AuditEvent.objects.filter(seq__isnull=True).order_by("id").values_list("id", *CANONICAL_FIELDS[1:])[:batch_size]
    )
    return [(row[0], utc_text(row[1]), *row[2:]) for row in values]


def _fill(fills: list[tuple[int, int, str, str, str, str]]) -> None:
    if connection.vendor == "postgresql":
        columns = [list(column) for column in zip(*fills, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(_PG_FILL, columns)
        return
    for pk, seq, prev_hash, chain_hash, mac, key_id in fills:
        AuditEvent.objects.filter(pk=pk, seq__isnull=True).update(
            seq=seq, prev_hash=prev_hash, hash=chain_hash, mac=mac, key_id=key_id
        )

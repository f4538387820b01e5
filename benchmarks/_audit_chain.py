"""Write audit events as a valid hash chain, fast: hashes computed here, rows sent with COPY on PostgreSQL
(bulk_create on SQLite), the chain head set to the last event. Used by audit_bench.py and _seed.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def write_chain(events: Iterable[tuple[Any, ...]]) -> int:
    """`events` yields the canonical values (mentorship.audit.services.CANONICAL_FIELDS order), seq 1, 2, 3, ...

    Returns the number of events written. The caller empties the log first if it is not empty.
    """
    from django.db import connection

    from mentorship.audit.chain import CANONICAL_FIELDS, GENESIS_HASH, canonical_values
    from mentorship.audit.keys import mac_keys
    from mentorship.audit.models import AuditChainHead, AuditEvent

    columns = [*CANONICAL_FIELDS, "prev_hash", "hash", "mac", "key_id"]
    keys = mac_keys()

    def rows() -> Iterable[tuple[Any, ...]]:
        prev = GENESIS_HASH
        for values in events:
            digest = hashlib.sha256(canonical_values(*values) + prev.encode()).hexdigest()
            yield (*values, prev, digest, keys.mac(digest), keys.current_id)
            prev = digest

    last: tuple[Any, ...] | None = None
    written = 0
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        copy_sql = f"COPY audit_auditevent ({', '.join(columns)}) FROM STDIN"
        with connection.connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows():
                copy.write_row((*row[:12], json.dumps(row[12]), *row[13:]))
                last, written = row, written + 1
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_auditevent")
    else:
        batch = []
        for row in rows():
            batch.append(AuditEvent(**dict(zip(columns, row, strict=True))))
            last, written = row, written + 1
            if len(batch) == 5000:
                AuditEvent.objects.bulk_create(batch)
                batch = []
        AuditEvent.objects.bulk_create(batch)
    if last is not None:
        AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": last[0], "hash": last[14]})
    return written

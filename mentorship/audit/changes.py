"""A counter per program, kept in the cache, that moves each time an audited change in that program commits.

Pages that cache figures about programs (the coordinator dashboard) put these counters in their cache key, so a
decision or a Canvas change shows on the next load instead of after the cache period. Reads (student data viewed,
exports, reports) do not move it. A cache outage makes `program_generations` return None: callers then compute
afresh rather than trust a key that might be stale.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.cache import cache

from .actions import Action

logger = logging.getLogger(__name__)

READ_ONLY_ACTIONS = frozenset(
    {
        Action.STUDENT_DATA_VIEWED,
        Action.AUDIT_EXPORTED,
        Action.AUDIT_VERIFIED,
        Action.EVIDENCE_REPORT,
        Action.SIS_CSV_DOWNLOADED,
        Action.ACCESS_DENIED,
    }
)


def _key(program_id: int) -> str:
    return f"program-changes:{program_id}"


def program_changed(program_id: int) -> None:
    """Move the program's counter (after commit). Never raises: a missed move only means figures 30 s old."""
    key = _key(program_id)
    try:
        try:
            cache.incr(key)
        except ValueError:  # no counter yet
            cache.set(key, 1, None)
    except Exception:
        logger.warning("could not record a change of program %s in the cache", program_id)


def program_generations(program_ids: Iterable[int]) -> tuple[int, ...] | None:
    """The counters of these programs, in the order given (0 for one never changed), or None if the cache fails."""
    ids = list(program_ids)
    try:
        found = cache.get_many([_key(pk) for pk in ids])
    except Exception:
        return None
    return tuple(int(found.get(_key(pk), 0)) for pk in ids)

"""Keyset ("seek") pagination for lists ordered by a few columns ending with the id: the next page starts after the
last row shown, so every page costs one index range scan however deep it is (no OFFSET; docs/decisions.md,
"Long lists page by keyset").

A cursor is the ordering columns' values of a boundary row, as URL-safe base64 JSON. It is not secret: it names a
position, and the query it feeds stays inside the viewer's own scope. A cursor that does not decode is ignored (the
page starts from the top) rather than refused, as a stale bookmark would be.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from typing import Any

from django.db.models import Q, QuerySet


def ordering_of(qs: QuerySet[Any]) -> tuple[str, ...] | None:
    """The queryset's explicit ordering when it can be sought (plain columns ending with the id), else None."""
    order = tuple(str(term) for term in qs.query.order_by)
    if not order or order[-1].lstrip("-") not in {"id", "pk"}:
        return None
    if any("__" in term or term.lstrip("-").startswith("?") for term in order):
        return None
    return order


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def encode(values: list[Any]) -> str:
    """The cursor of a boundary row, from its ordering columns' values (in the order's sequence)."""
    plain = [_plain(value) for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str, order: tuple[str, ...]) -> list[Any] | None:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != len(order):
        return None
    if not all(isinstance(value, str | int) and not isinstance(value, bool) for value in values):
        return None
    return values


def beyond(order: tuple[str, ...], values: list[Any], *, backwards: bool = False) -> Q:
    """Rows strictly after the boundary in `order` (before it when `backwards`): the row-value comparison
    (a, b, id) > (x, y, z) spelled as ORs so every database (and each column's own direction) is served."""
    condition = Q(pk__in=[])
    for index, term in enumerate(order):
        column = term.lstrip("-")
        descending = term.startswith("-") != backwards
        step = Q(**{f"{column}__{'lt' if descending else 'gt'}": values[index]})
        for earlier, value in zip(order[:index], values[:index], strict=False):
            step &= Q(**{earlier.lstrip("-"): value})
        condition |= step
    return condition


def reversed_order(order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(term[1:] if term.startswith("-") else f"-{term}" for term in order)

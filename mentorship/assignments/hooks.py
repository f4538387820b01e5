"""What assignments needs from the app above it, supplied at start-up (docs/architecture.md, "Hooks").

An approved, active assignment needs Canvas links; an ended one needs them taken away. The links and the work of
making them are sync's (the app above), so assignments only declares what it asks for and sync answers from its
AppConfig.ready(). The calls run where they always did: plan and retire inside the assignment's transaction (the
outbox rows commit with the change and its audit event), enqueue in transaction.on_commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mentorship.core.hooks import Hook

if TYPE_CHECKING:
    from .models import MentorAssignment


class CanvasLinks(Protocol):
    def plan(self, *, assignment: MentorAssignment) -> Sequence[Any]:
        """Write the rows an approved assignment needs (inside its transaction); return them."""

    def plan_many(self, *, assignments: Sequence[MentorAssignment]) -> Sequence[Any]:
        """`plan` for many approved assignments at once (a bulk approval, inside its transaction)."""

    def retire(self, *, assignment: MentorAssignment) -> Sequence[Any]:
        """Mark the assignment's rows for removal (inside its transaction); return those that need Canvas work."""

    def enqueue(self, *, links: Iterable[Any]) -> None:
        """Publish the work for these rows (after commit)."""


canvas_links: Hook[CanvasLinks] = Hook("the Canvas links", answered_by="the sync app")
register_canvas_links = canvas_links.register

"""Sync's answer to what assignments asks for (mentorship/assignments/hooks.py): plan, retire and enqueue links.

Each call looks the service up on the package when it runs, so a test (or the crash test's subprocess) that
replaces `mentorship.sync.services.links_enqueue` replaces what assignments calls, as it did before the hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mentorship.assignments.models import MentorAssignment

from . import services
from .models import ObserverLink


class SyncCanvasLinks:
    def plan(self, *, assignment: MentorAssignment) -> list[ObserverLink]:
        return services.links_plan(assignment=assignment)

    def plan_many(self, *, assignments: Sequence[MentorAssignment]) -> list[ObserverLink]:
        return services.links_plan_many(assignments=assignments)

    def retire(self, *, assignment: MentorAssignment) -> list[ObserverLink]:
        return services.links_retire(assignment=assignment)

    def enqueue(self, *, links: Iterable[Any]) -> None:
        services.links_enqueue(links=links)

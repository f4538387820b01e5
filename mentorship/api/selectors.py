"""What a token may read: only its programs' rows. Anything outside them is a 404, exactly like a row that does
not exist (docs/architecture.md, "How a change travels": selectors own every read that depends on the viewer)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TypedDict, TypeVar, Unpack

from django.db.models import Model, QuerySet

from mentorship.api.models import ApiToken
from mentorship.assignments.models import MentorAssignment, Program
from mentorship.sync.models import ObserverLink

Row = TypeVar("Row", bound=Model)


def programs_for(*, token: ApiToken) -> QuerySet[Program]:
    return Program.objects.filter(api_tokens=token).order_by("id")


class Narrowing(TypedDict, total=False):
    """The filters every list takes (each list adds its own exact match)."""

    program: int | None
    state: str | None
    updated_since: datetime.datetime | None


def _narrowed(
    rows: QuerySet[Row], *, program_field: str, exact: Mapping[str, object], narrowing: Narrowing
) -> QuerySet[Row]:
    """The filters both lists share: a program, exact matches on the fields given, changed since a moment."""
    program, updated_since = narrowing.get("program"), narrowing.get("updated_since")
    if program is not None:
        rows = rows.filter(**{program_field: program})
    rows = rows.filter(**{field: value for field, value in exact.items() if value not in (None, "")})
    if updated_since is not None:
        rows = rows.filter(updated_at__gte=updated_since)
    return rows.order_by("id")


def assignments_for(
    *, token: ApiToken, student: int | None = None, **narrowing: Unpack[Narrowing]
) -> QuerySet[MentorAssignment]:
    rows = MentorAssignment.objects.filter(program__api_tokens=token).select_related("program", "mentor", "student")
    exact = {"student__canvas_user_id": student, "status": narrowing.get("state")}
    return _narrowed(rows, program_field="program_id", exact=exact, narrowing=narrowing)


def links_for(
    *, token: ApiToken, assignment: int | None = None, **narrowing: Unpack[Narrowing]
) -> QuerySet[ObserverLink]:
    rows = ObserverLink.objects.filter(assignment__program__api_tokens=token).select_related("assignment")
    exact = {"assignment_id": assignment, "state": narrowing.get("state")}
    return _narrowed(rows, program_field="assignment__program_id", exact=exact, narrowing=narrowing)

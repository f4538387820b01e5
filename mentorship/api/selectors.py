"""What a token may read: only its programs' rows. Anything outside them is a 404, exactly like a row that does
not exist (docs/architecture.md, "How a change travels": selectors own every read that depends on the viewer)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TypeVar

from django.db.models import Model, QuerySet

from mentorship.api.models import ApiToken
from mentorship.assignments.models import MentorAssignment, Program
from mentorship.sync.models import ObserverLink

Row = TypeVar("Row", bound=Model)


def programs_for(*, token: ApiToken) -> QuerySet[Program]:
    return Program.objects.filter(api_tokens=token).order_by("id")


def _narrowed(
    rows: QuerySet[Row],
    *,
    program_field: str,
    program: int | None,
    exact: Mapping[str, object],
    updated_since: datetime.datetime | None,
) -> QuerySet[Row]:
    """The filters both lists share: a program, exact matches on the fields given, changed since a moment."""
    if program is not None:
        rows = rows.filter(**{program_field: program})
    rows = rows.filter(**{field: value for field, value in exact.items() if value not in (None, "")})
    if updated_since is not None:
        rows = rows.filter(updated_at__gte=updated_since)
    return rows.order_by("id")


def assignments_for(
    *,
    token: ApiToken,
    program: int | None = None,
    student: int | None = None,
    state: str | None = None,
    updated_since: datetime.datetime | None = None,
) -> QuerySet[MentorAssignment]:
    rows = MentorAssignment.objects.filter(program__api_tokens=token).select_related("program", "mentor", "student")
    exact = {"student__canvas_user_id": student, "status": state}
    return _narrowed(rows, program_field="program_id", program=program, exact=exact, updated_since=updated_since)


def links_for(
    *,
    token: ApiToken,
    program: int | None = None,
    assignment: int | None = None,
    state: str | None = None,
    updated_since: datetime.datetime | None = None,
) -> QuerySet[ObserverLink]:
    rows = ObserverLink.objects.filter(assignment__program__api_tokens=token).select_related("assignment")
    exact = {"assignment_id": assignment, "state": state}
    return _narrowed(
        rows, program_field="assignment__program_id", program=program, exact=exact, updated_since=updated_since
    )

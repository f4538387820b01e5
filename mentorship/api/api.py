"""The SIS API's endpoints (django-ninja): read-only, token-authenticated, keyset-paginated, each use audited.

Pagination is by id (`after` = the last id of the previous page, `next` in every answer): the primary key's index
serves every page at the same cost, and a row changed while a client pages does not move (docs/decisions.md,
"SIS API tokens").
"""

from __future__ import annotations

import datetime
from operator import attrgetter
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.views.decorators.http import require_GET
from ninja import NinjaAPI, Query, Schema
from ninja.security import HttpBearer

from mentorship.api import selectors
from mentorship.api.models import ApiToken
from mentorship.api.schemas import (
    AssignmentOut,
    AssignmentPage,
    ErrorOut,
    LinkOut,
    LinkPage,
    ProgramOut,
    ProgramPage,
)
from mentorship.api.services import api_read_record, api_token_authenticate
from mentorship.assignments.models import MentorAssignment, Program
from mentorship.sync.models import ObserverLink

MAX_PAGE = 500
Row = TypeVar("Row", bound=Model)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return api_token_authenticate(raw=token)


api = NinjaAPI(
    title="Mentor Link SIS API",
    version="1",
    description="Read-only programs, mentor assignments and their Canvas links, for the school's SIS team.",
    auth=TokenAuth(),
    urls_namespace="sis_api",
    docs_url="/docs",
    docs_decorator=require_GET,  # the schema and its docs page are read-only like the rest
)


class Page(Schema):
    after: int | None = None
    limit: int = 100


class AssignmentFilters(Page):
    program: int | None = None
    student: int | None = None  # the student's Canvas user id
    state: MentorAssignment.Status | None = None
    updated_since: datetime.datetime | None = None


class LinkFilters(Page):
    program: int | None = None
    assignment: int | None = None
    state: ObserverLink.State | None = None
    updated_since: datetime.datetime | None = None


def _token(request: HttpRequest) -> ApiToken:
    token = request.auth  # type: ignore[attr-defined]
    assert isinstance(token, ApiToken)
    return token


def _page(rows: QuerySet[Row], page: Page) -> tuple[list[Row], str | None]:
    limit = max(1, min(page.limit, MAX_PAGE))
    if page.after is not None:
        rows = rows.filter(pk__gt=page.after)
    found = list(rows[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return found, (str(found[-1].pk) if more else None)


def _in_scope(request: HttpRequest, program: int | None) -> Program | None:
    """The named program when the token may read it; a 404 for any other, which says nothing of its existence."""
    if program is None:
        return None
    found = selectors.programs_for(token=_token(request)).filter(pk=program).first()
    if found is None:
        raise Http404("No such program.")
    return found


def _assignment_out(row: MentorAssignment) -> dict[str, Any]:
    def person(p: Any) -> dict[str, Any]:
        return {"canvas_user_id": p.canvas_user_id, "sis_user_id": p.sis_user_id or "", "name": p.name}

    return {
        **{field: getattr(row, field) for field in AssignmentOut.model_fields if hasattr(row, field)},
        "program_slug": row.program.slug,
        "mentor": person(row.mentor),
        "student": person(row.student),
    }


def _link_out(row: ObserverLink) -> dict[str, Any]:
    values = {field: getattr(row, field) for field in LinkOut.model_fields if hasattr(row, field)}
    return {**values, "program_id": row.assignment.program_id}


@api.get("/programs", response=ProgramPage, summary="Programs this token may read")
def list_programs(request: HttpRequest, page: Query[Page]) -> dict[str, Any]:
    return _listed(request, selectors.programs_for(token=_token(request)), page, None, lambda row: row)


@api.get("/programs/{program_id}", response={200: ProgramOut, 404: ErrorOut}, summary="One program")
def get_program(request: HttpRequest, program_id: int) -> Program:
    program = _in_scope(request, program_id)
    assert program is not None
    api_read_record(token=_token(request), request=request, returned=1, program=program)
    return program


def _one(request: HttpRequest, rows: QuerySet[Row], pk: int, what: str) -> Row:
    """The row when it is in the token's scope; the same 404 when it is elsewhere or nowhere."""
    row = rows.filter(pk=pk).first()
    if row is None:
        raise Http404(f"No such {what}.")
    return row


def _filters(filters: Page) -> dict[str, Any]:
    """A list's filters as the selector's keyword arguments (the page's own fields left out)."""
    return filters.model_dump(exclude={"after", "limit"})


def _listed(request: HttpRequest, rows: QuerySet[Row], filters: Page, program: Program | None, out: Any) -> Any:
    """One page of a list, audited: the shared body of the list endpoints."""
    found, following = _page(rows, filters)
    api_read_record(token=_token(request), request=request, returned=len(found), program=program)
    return {"items": [out(row) for row in found], "next": following}


def _filtered_page(request: HttpRequest, selector: Any, filters: Page, out: Any) -> Any:
    """A list endpoint's body: the program checked against the token's scope, the selector's rows filtered, a page."""
    program = _in_scope(request, filters.program)  # type: ignore[attr-defined]  # every filtered list has a program
    rows = selector(token=_token(request), **_filters(filters))
    return _listed(request, rows, filters, program, out)


def _shown(request: HttpRequest, selector: Any, pk: int, what: str, *, out: Any, program_of: Any) -> Any:
    """A detail endpoint's body: one row in the token's scope (else 404), audited with its program."""
    row = _one(request, selector(token=_token(request)), pk, what)
    api_read_record(token=_token(request), request=request, returned=1, program=program_of(row))
    return out(row)


@api.get("/assignments", response={200: AssignmentPage, 404: ErrorOut}, summary="Mentor assignments")
def list_assignments(request: HttpRequest, filters: Query[AssignmentFilters]) -> dict[str, Any]:
    return _filtered_page(request, selectors.assignments_for, filters, _assignment_out)


@api.get("/assignments/{assignment_id}", response={200: AssignmentOut, 404: ErrorOut}, summary="One assignment")
def get_assignment(request: HttpRequest, assignment_id: int) -> dict[str, Any]:
    by_program = attrgetter("program")
    return _shown(
        request, selectors.assignments_for, assignment_id, "assignment", out=_assignment_out, program_of=by_program
    )


@api.get("/links", response={200: LinkPage, 404: ErrorOut}, summary="Canvas links and their state")
def list_links(request: HttpRequest, filters: Query[LinkFilters]) -> dict[str, Any]:
    return _filtered_page(request, selectors.links_for, filters, _link_out)


@api.get("/links/{link_id}", response={200: LinkOut, 404: ErrorOut}, summary="One Canvas link")
def get_link(request: HttpRequest, link_id: int) -> dict[str, Any]:
    return _shown(
        request, selectors.links_for, link_id, "link", out=_link_out, program_of=attrgetter("assignment.program")
    )

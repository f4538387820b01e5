"""The JSON shapes of the SIS API (and so of its OpenAPI schema)."""

from __future__ import annotations

import datetime

from ninja import Schema


class ProgramOut(Schema):
    id: int
    slug: str
    name: str
    is_active: bool
    default_link_method: str


class PersonOut(Schema):
    canvas_user_id: int
    sis_user_id: str
    name: str


class AssignmentOut(Schema):
    id: int
    program_id: int
    program_slug: str
    mentor: PersonOut
    student: PersonOut
    status: str
    link_method: str
    link_state: str
    scope: str
    starts_on: datetime.date
    ends_on: datetime.date
    proposed_at: datetime.datetime
    decided_at: datetime.datetime | None
    ended_at: datetime.datetime | None
    updated_at: datetime.datetime


class LinkOut(Schema):
    id: int
    assignment_id: int
    program_id: int
    kind: str
    observer_canvas_id: int
    student_canvas_id: int
    canvas_course_id: int | None
    desired: str
    state: str
    last_error: str
    synced_at: datetime.datetime | None
    linked_at: datetime.datetime | None
    updated_at: datetime.datetime


class ProgramPage(Schema):
    items: list[ProgramOut]
    next: str | None


class AssignmentPage(Schema):
    items: list[AssignmentOut]
    next: str | None


class LinkPage(Schema):
    items: list[LinkOut]
    next: str | None


class ErrorOut(Schema):
    detail: str

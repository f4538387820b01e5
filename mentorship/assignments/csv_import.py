"""CSV import of proposed assignments: validate every row (batched look-ups), then create all or none.

Columns: mentor, student (SIS id, login id or Canvas id; "sis_user_id:X" accepted), starts_on, ends_on (YYYY-MM-DD),
scope (empty = all courses, else course SIS ids separated by ";"), method (empty = the program's default), reason.
The file is read by csv_reading (strictly; its names are re-exported here). Validation makes a fixed number of
queries whatever the row count: people are resolved in one query, existing assignments of the pairs and the
mentors' approved load in one query each. Canvas is asked only about people and courses the portal does not know
yet (once each, people several at a time). A confirmed upload is created by import_batches; `commit` serves the
command and the tests.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import CanvasError, CanvasNotFound, CanvasUser
from mentorship.accounts.models import User
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record
from mentorship.core.spreadsheets import FORMULA_STARTS  # refused outright here
from mentorship.people.courses import courses_note
from mentorship.people.models import Person

from .csv_reading import (
    OPTIONAL_COLUMNS,
    REASON_MAX_LENGTH,
    REQUIRED_COLUMNS,
    Records,
)
from .csv_reading import ImportFileError as ImportFileError  # callers (page, command, tests) import it from here
from .csv_reading import read_csv as read_csv
from .csv_reading import size_message as size_message
from .models import AssignmentCourse, CsvImport, LinkMethod, MentorAssignment, Program
from .services import (
    LIVE_STATUSES,
    AssignmentError,
    NeedsConfirmation,
    assignment_approve,
    assignment_propose,
    past_end_message,
    proposal_audit_details,
    reason_length_message,
)

# Creating a proposal writes its own hash-chained audit event (1-2.5 ms each, benchmarks/csv_import.py), so the
# page creates up to this many in the confirming request; a bigger file is created by a worker (import_queued)
# while the coordinator watches its status page.
INLINE_MAX_ROWS = 1_000


@dataclass
class Row:
    line: int
    raw: dict[str, str]
    errors: list[str] = field(default_factory=list)
    mentor: Person | CanvasUser | None = None
    student: Person | CanvasUser | None = None
    starts_on: datetime.date | None = None
    ends_on: datetime.date | None = None
    method: str = ""
    courses: list[tuple[int, str, str]] = field(default_factory=list)  # (canvas id, sis id, name)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class Preview:
    program: Program
    rows: list[Row]
    line_count: int = 0  # lines in the file, header included (0: not read from a file)
    multi_line_rows: list[int] = field(default_factory=list)

    @property
    def lines_differ(self) -> bool:
        """More lines than header + rows: a cell spans lines, which is legal in CSV but worth a look."""
        return bool(self.line_count) and self.line_count != len(self.rows) + 1

    @property
    def error_rows(self) -> list[Row]:
        return [r for r in self.rows if r.errors]

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.error_rows

    @property
    def new_people(self) -> int:
        seen = {p.id for r in self.rows for p in (r.mentor, r.student) if isinstance(p, CanvasUser)}
        return len(seen)


# --- validating ------------------------------------------------------------------------------------------------


def _parse_date(value: str, column: str, errors: list[str]) -> datetime.date | None:
    value = value.strip()
    if not value:
        errors.append(f"{column} is empty; write the date as YYYY-MM-DD.")
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        errors.append(f"{column} '{value}' is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01.")
        return None


def _person_key(p: Person | CanvasUser | None) -> int | None:
    if p is None:
        return None
    return p.canvas_user_id if isinstance(p, Person) else p.id


def _label(p: Person | CanvasUser | None) -> str:
    return p.name if p is not None else "?"


def validate(
    *, program: Program, records: Sequence[dict[str, str]], client: Any = None, approve: bool = False
) -> Preview:
    """Check every row against the rules; each row gets every error it has, in plain words.

    People are resolved in bulk (people_resolve: each distinct person once, known ones in one query, unknown ones
    from Canvas concurrently); courses once each.
    """
    rows = [Row(line=int(r.get("__line__", 0) or 0), raw=r) for r in records]
    readable = [row for row in rows if not _reading_errors(program, row)]
    canvas = _lazy_client(client)
    _resolve_people(readable, client=client)
    today = timezone.localdate()
    course_cache: dict[str, tuple[int, str, str] | str] = {}
    for row in readable:
        _check_dates(program, row, today)
        _check_fields(program, row)
        _check_scope(row, course_cache, canvas)
    _check_clashes(program, readable, approve=approve)
    preview = Preview(program=program, rows=rows)
    if isinstance(records, Records):
        preview.line_count, preview.multi_line_rows = records.line_count, records.multi_line_rows
    return preview


def _lazy_client(client: Any) -> Any:
    """A function giving the Canvas client, made on first use (most files name only known courses, or none)."""
    from mentorship.people.services import lookup_client

    made: list[Any] = [client]

    def canvas() -> Any:
        if made[0] is None:
            made[0] = lookup_client()
        return made[0]

    return canvas


def _reading_errors(program: Program, row: Row) -> bool:
    """Errors of the row as read (the reader's, a closed program, formulas). True when the reader found errors."""
    if row.raw.get("__errors__"):
        row.errors.extend(row.raw["__errors__"].split("\n"))
    if row.raw.get("__errors__"):
        return True  # what the reader found comes first: the cells may not be what the coordinator meant
    if not program.is_active:
        row.errors.append(f"{program.name} is closed: an administrator must reopen it before you import into it.")
    for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        value = row.raw.get(column, "")
        if value.startswith(FORMULA_STARTS):
            row.errors.append(
                f"{column} starts with '{value[:1].strip() or 'a tab'}', which spreadsheets run as a formula; "
                "remove that first character."
            )
    return False


def _resolve_people(rows: list[Row], *, client: Any) -> None:
    from mentorship.people.services import people_resolve

    idents = [row.raw.get(c, "").strip() for row in rows for c in ("mentor", "student")]
    resolution = people_resolve(identifiers=[i for i in idents if i], client=client)
    for row in rows:
        for column in ("mentor", "student"):
            ident = row.raw.get(column, "").strip()
            if not ident:
                row.errors.append(f"{column} is empty; give the person's SIS id, login id or Canvas id.")
                continue
            found: Person | CanvasUser | None = resolution.known.get(ident) or resolution.from_canvas.get(ident)
            if found is None:
                row.errors.append(f"{column}: " + resolution.errors.get(ident, f"{ident} is not known."))
            setattr(row, column, found)
        if row.mentor is not None and _person_key(row.mentor) == _person_key(row.student):
            row.errors.append("The mentor and the student are the same person; a mentor needs another student.")


def _check_dates(program: Program, row: Row, today: datetime.date) -> None:
    errs = row.errors
    row.starts_on = _parse_date(row.raw.get("starts_on", ""), "starts_on", errs)
    row.ends_on = _parse_date(row.raw.get("ends_on", ""), "ends_on", errs)
    if row.starts_on is None or row.ends_on is None:
        return
    if row.ends_on < row.starts_on:
        errs.append(f"The end date {row.ends_on} is before the start date {row.starts_on}; swap them.")
    elif row.ends_on < today:
        errs.append(past_end_message(row.ends_on))
    elif (row.ends_on - row.starts_on).days + 1 > program.max_assignment_days:
        errs.append(
            f"The assignment lasts {(row.ends_on - row.starts_on).days + 1} days; "
            f"{program.name} allows at most {program.max_assignment_days}. Move the end date earlier."
        )


def _check_fields(program: Program, row: Row) -> None:
    method = row.raw.get("method", "").strip().lower() or program.default_link_method
    if method not in LinkMethod.values:
        row.errors.append(f"method '{method}' is not known; use observee, courses or pairing_code.")
    row.method = method
    reason = row.raw.get("reason", "").strip()
    if not reason:
        row.errors.append("reason is empty; say why this mentor needs to see this student's work.")
    elif len(reason) > REASON_MAX_LENGTH and not row.raw.get("__errors__"):
        row.errors.append(reason_length_message(len(reason)))


def _check_scope(row: Row, course_cache: dict[str, tuple[int, str, str] | str], canvas: Any) -> None:
    scope = [s.strip() for s in row.raw.get("scope", "").split(";") if s.strip()]
    for sis_course in scope:
        if sis_course not in course_cache:
            course_cache[sis_course] = _course_lookup(sis_course, canvas)
        hit = course_cache[sis_course]
        if isinstance(hit, str):
            row.errors.append(hit)
        else:
            row.courses.append(hit)
    if row.method == LinkMethod.COURSES and not scope:
        row.errors.append("method 'courses' needs the courses in scope (course SIS ids separated by ';').")


def _course_lookup(sis_course_id: str, canvas: Any) -> tuple[int, str, str] | str:
    try:
        course = canvas().get_course(f"sis_course_id:{sis_course_id}")
    except CanvasNotFound:
        return f"Canvas has no course with the SIS id {sis_course_id}."
    except CanvasError:
        return f"Canvas could not be reached to find the course {sis_course_id}."
    return (course.id, course.sis_course_id or sis_course_id, course.name)


def _check_clashes(program: Program, rows: list[Row], *, approve: bool) -> None:
    """Duplicates (in the portal and within the file) and mentor capacity, with two queries in all."""
    known_pairs = {
        (r.mentor.pk, r.student.pk) for r in rows if isinstance(r.mentor, Person) and isinstance(r.student, Person)
    }
    mentor_ids = {r.mentor.pk for r in rows if isinstance(r.mentor, Person)}
    existing: dict[tuple[int, int], list[MentorAssignment]] = defaultdict(list)
    if known_pairs:
        for a in MentorAssignment.objects.filter(
            program=program,
            status__in=LIVE_STATUSES,
            mentor_id__in={m for m, _ in known_pairs},
            student_id__in={s for _, s in known_pairs},
        ).only("pk", "mentor_id", "student_id", "starts_on", "ends_on", "status"):
            existing[(a.mentor_id, a.student_id)].append(a)
    approved: dict[int, list[tuple[datetime.date, datetime.date]]] = defaultdict(list)
    if mentor_ids:
        for mentor_id, starts, ends in MentorAssignment.objects.filter(
            program=program, status=MentorAssignment.Status.APPROVED, mentor_id__in=mentor_ids
        ).values_list("mentor_id", "starts_on", "ends_on"):
            approved[mentor_id].append((starts, ends))
    in_file: dict[tuple[int, int], list[tuple[datetime.date, datetime.date, int]]] = defaultdict(list)
    load_in_file: dict[int, list[tuple[datetime.date, datetime.date]]] = defaultdict(list)
    for row in rows:
        if row.starts_on is None or row.ends_on is None or row.ends_on < row.starts_on:
            continue
        m, s = _person_key(row.mentor), _person_key(row.student)
        if m is None or s is None or m == s:
            continue
        start, end = row.starts_on, row.ends_on
        if isinstance(row.mentor, Person) and isinstance(row.student, Person):
            for a in existing.get((row.mentor.pk, row.student.pk), []):
                if a.starts_on <= end and a.ends_on >= start:
                    row.errors.append(
                        f"Duplicate of the existing {a.get_status_display().lower()} assignment number {a.pk} "
                        f"({_label(row.mentor)} → {_label(row.student)}, {a.starts_on} to {a.ends_on})."
                    )
                    break
        for other_start, other_end, other_line in in_file[(m, s)]:
            if other_start <= end and other_end >= start:
                row.errors.append(
                    f"Overlaps line {other_line} in this file: the same mentor and student, with dates that overlap. "
                    "Keep one of the two rows, or change the dates so they follow each other."
                )
                break
        in_file[(m, s)].append((start, end, row.line))
        portal_load = approved.get(row.mentor.pk, []) if isinstance(row.mentor, Person) else []
        load = sum(1 for a_start, a_end in portal_load if a_start <= end and a_end >= start)
        if approve:
            load += sum(1 for a_start, a_end in load_in_file[m] if a_start <= end and a_end >= start)
        if load >= program.mentor_capacity:
            row.errors.append(
                f"Over capacity: {_label(row.mentor)} already has {load} approved assignments at that time; "
                f"{program.name} allows {program.mentor_capacity} per mentor."
            )
        elif not row.errors:
            load_in_file[m].append((start, end))


# --- creating --------------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    created: list[MentorAssignment]
    people_added: int
    approved: int


def commit(
    *,
    preview: Preview,
    actor: User,
    approve: bool = False,
    acknowledged: Sequence[str] = (),
    request: HttpRequest | None = None,
    source: str = "csv",
) -> ImportResult:
    """Create every row or none. Raises AssignmentError naming the first row a rule refused (nothing created)."""

    if not preview.ok:
        raise AssignmentError(f"{len(preview.error_rows)} row(s) have errors; nothing was created.")
    program = preview.program
    if approve and program.requires_second_approver:
        raise AssignmentError(
            f"{program.name} needs a second coordinator to approve: import the rows as proposals instead."
        )
    created: list[MentorAssignment] = []
    approved = 0
    with transaction.atomic():
        pairs, added = people_for_rows(preview=preview, actor=actor, request=request)
        if approve:
            created, approved = _create_one_by_one(pairs, program, actor, acknowledged, request, source)
        else:
            created = create_in_bulk(pairs, program, actor, request, source)
        audit_record(
            action=Action.ASSIGNMENTS_IMPORTED,
            actor=actor,
            program=program,
            request=request,
            details={"rows": len(created), "people_added": len(added), "approved": approved, "source": source},
        )
    return ImportResult(created=created, people_added=len(added), approved=approved)


def people_for_rows(
    *, preview: Preview, actor: User, request: HttpRequest | None
) -> tuple[list[tuple[Row, Person, Person]], dict[int, Person]]:
    """Each row with its mentor and student as Persons; people found in Canvas are added (each once, audited)."""
    from mentorship.people.services import person_upsert_from_canvas

    added: dict[int, Person] = {}
    pairs: list[tuple[Row, Person, Person]] = []
    for row in preview.rows:
        people: list[Person] = []
        for p in (row.mentor, row.student):
            if isinstance(p, CanvasUser):
                if p.id not in added:
                    added[p.id], _ = person_upsert_from_canvas(canvas_user=p, actor=actor, request=request)
                people.append(added[p.id])
            else:
                assert p is not None
                people.append(p)
        pairs.append((row, people[0], people[1]))
    return pairs, added


def _create_one_by_one(
    pairs: list[tuple[Row, Person, Person]],
    program: Program,
    actor: User,
    acknowledged: Sequence[str],
    request: HttpRequest | None,
    source: str,
) -> tuple[list[MentorAssignment], int]:
    """Propose and approve row by row through the services (approval checks capacity under the mentor's lock)."""
    created = []
    for row, mentor, student in pairs:
        assert row.starts_on is not None and row.ends_on is not None
        try:
            assignment = assignment_propose(
                program=program,
                mentor=mentor,
                student=student,
                starts_on=row.starts_on,
                ends_on=row.ends_on,
                reason=row.raw.get("reason", ""),
                link_method=row.method,
                courses=[AssignmentCourse(canvas_course_id=c, sis_course_id=s, name=n) for c, s, n in row.courses],
                actor=actor,
                request=request,
                audit_details={"source": source, "line": row.line},
            )
            assignment_approve(
                assignment=assignment, actor=actor, note="Imported", acknowledged=acknowledged, request=request
            )
        except NeedsConfirmation as exc:
            raise AssignmentError(f"Line {row.line}: {exc}") from exc
        except AssignmentError as exc:
            raise AssignmentError(f"Line {row.line}: {exc} Nothing was created.") from exc
        created.append(assignment)
    return created, len(created)


def create_in_bulk(
    pairs: list[tuple[Row, Person, Person]],
    program: Program,
    actor: User,
    request: HttpRequest | None,
    source: str,
    staged_by: CsvImport | None = None,
) -> list[MentorAssignment]:
    """Insert the proposals in batches; each still gets its own assignment.proposed event (the chain is per event).

    The rows were validated (in a fixed number of queries) just before; the rules are checked again on approval.
    """
    now = timezone.now()
    objs = []
    for row, mentor, student in pairs:
        assert row.starts_on is not None and row.ends_on is not None
        objs.append(
            MentorAssignment(
                program=program,
                mentor=mentor,
                student=student,
                starts_on=row.starts_on,
                ends_on=row.ends_on,
                reason=row.raw.get("reason", "").strip(),
                link_method=row.method,
                scope=MentorAssignment.Scope.COURSES if row.courses else MentorAssignment.Scope.ALL_COURSES,
                proposed_by=actor,
                proposed_at=now,
                staged_by=staged_by,
            )
        )
    MentorAssignment.objects.bulk_create(objs, batch_size=1000)
    AssignmentCourse.objects.bulk_create(
        [
            AssignmentCourse(assignment=obj, canvas_course_id=c, sis_course_id=s, name=n)
            for obj, (row, _, _) in zip(objs, pairs, strict=True)
            for c, s, n in row.courses
        ],
        batch_size=1000,
    )
    courses_note(courses={course for row, _, _ in pairs for course in row.courses})
    for obj, (row, _mentor, student) in zip(objs, pairs, strict=True):
        audit_record(
            action=Action.ASSIGNMENT_PROPOSED,
            actor=actor,
            program=program,
            student=student,
            obj=obj,
            request=request,
            details=proposal_audit_details(
                assignment=obj, course_ids=[c for c, _, _ in row.courses], source=source, line=row.line
            ),
        )
    return objs

"""CSV import of proposed assignments: parse, validate every row (batched look-ups), then create all or none.

Columns: mentor, student (SIS id, login id or Canvas id; "sis_user_id:X" accepted), starts_on, ends_on (YYYY-MM-DD),
scope (empty = all courses, else course SIS ids separated by ";"), method (empty = the program's default), reason.
Validation makes a fixed number of queries whatever the row count: people are resolved in three queries, existing
assignments of the pairs and the mentors' approved load in one query each. Canvas is asked only about people and
courses the portal does not know yet (once each).
"""

from __future__ import annotations

import csv
import datetime
import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import CanvasError, CanvasNotFound, CanvasUser
from mentorship.accounts.models import User
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record
from mentorship.celery import task_named
from mentorship.core.spreadsheets import FORMULA_STARTS  # refused outright here
from mentorship.people.models import Person

from .models import AssignmentCourse, CsvImport, LinkMethod, MentorAssignment, Program
from .services import (
    LIVE_STATUSES,
    AssignmentError,
    NeedsConfirmation,
    assignment_approve,
    assignment_propose,
    proposal_audit_details,
)

REQUIRED_COLUMNS = ("mentor", "student", "starts_on", "ends_on", "reason")
OPTIONAL_COLUMNS = ("scope", "method")
MAX_ROWS = 50_000
# Creating a proposal writes its own hash-chained audit event (1-2.5 ms each, benchmarks/csv_import.py), so the
# page creates up to this many in the confirming request; a bigger file is created by a worker (import_queued)
# while the coordinator watches its status page.
INLINE_MAX_ROWS = 1_000


class ImportFileError(Exception):
    """The file as a whole cannot be read; the message is a sentence (nothing was created)."""


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


# --- reading the file ------------------------------------------------------------------------------------------


def size_message(size: int) -> str:
    limit = int(settings.CSV_IMPORT_MAX_BYTES)
    return (
        f"The file is {size / 1_048_576:.1f} MB; the largest file accepted is {limit / 1_048_576:.0f} MB. "
        "Split it into smaller files. Nothing was created."
    )


def read_csv(data: bytes) -> list[dict[str, str]]:
    """Decode and parse the file; raises ImportFileError with a sentence for anything unreadable."""
    if len(data) > int(settings.CSV_IMPORT_MAX_BYTES):
        raise ImportFileError(size_message(len(data)))
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFileError(
            "The file is saved as UTF-16 text. Save it as 'CSV UTF-8 (comma delimited)' and upload it again."
        )
    if b"\x00" in data[:4096]:
        raise ImportFileError("This is not a CSV text file. Save the spreadsheet as 'CSV UTF-8' and upload that.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is not UTF-8 text (a byte at position {exc.start} cannot be read). "
            "Save it as 'CSV UTF-8 (comma delimited)' and upload it again."
        ) from exc
    first_line = text.splitlines()[0] if text.splitlines() else ""
    header_probe = [h.strip().lower() for h in first_line.split(",")]
    if "mentor" not in header_probe:
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if delimiter in first_line and "mentor" in [h.strip().lower() for h in first_line.split(delimiter)]:
                raise ImportFileError(
                    f"The columns are separated by {name}; the file must use commas. "
                    "Save it as 'CSV UTF-8 (comma delimited)'."
                )
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError("The file has no header row.") from exc
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportFileError(
            f"The header row lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}. "
            f"The first row must name the columns: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}."
        )
    unknown = [c for c in columns if c and c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ImportFileError(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}. "
            f"Use only: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}."
        )
    rows: list[dict[str, str]] = []
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(f"The file has more than {MAX_ROWS:,} rows. Split it into smaller files.")
            row = {col: (values[i] if i < len(values) else "") for i, col in enumerate(columns) if col}
            row["__line__"] = str(reader.line_num)
            row["__extra__"] = "1" if len(values) > len(columns) else ""
            rows.append(row)
    except csv.Error as exc:
        raise ImportFileError(f"Line {reader.line_num} cannot be read as CSV ({exc}). Check its quotes.") from exc
    if not rows:
        raise ImportFileError("The file has a header row but no assignments.")
    return rows


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
    """Check every row against the rules; each row gets every error it has, in plain words."""
    from mentorship.people.services import lookup_client, people_resolve

    rows = [Row(line=int(r.get("__line__", 0) or 0), raw=r) for r in records]
    for row in rows:
        if not program.is_active:
            row.errors.append(f"{program.name} is closed: an administrator must reopen it first.")
        if row.raw.get("__extra__"):
            row.errors.append("The row has more cells than the header has columns (a comma inside a value?).")
        for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            value = row.raw.get(column, "")
            if value.startswith(FORMULA_STARTS):
                row.errors.append(
                    f"{column} starts with '{value[:1].strip() or 'a tab'}', which spreadsheets run as a formula; "
                    "remove it."
                )
    lazy_client: list[Any] = [client]

    def canvas() -> Any:
        if lazy_client[0] is None:
            lazy_client[0] = lookup_client()
        return lazy_client[0]

    idents = [row.raw.get(c, "").strip() for row in rows for c in ("mentor", "student")]
    resolution = people_resolve(identifiers=[i for i in idents if i], client=client)
    course_cache: dict[str, tuple[int, str, str] | str] = {}
    for row in rows:
        errs = row.errors
        for column in ("mentor", "student"):
            ident = row.raw.get(column, "").strip()
            if not ident:
                errs.append(f"{column} is empty; give a SIS id, login id or Canvas id.")
                continue
            found: Person | CanvasUser | None = resolution.known.get(ident) or resolution.from_canvas.get(ident)
            if found is None:
                errs.append(f"{column}: " + resolution.errors.get(ident, f"{ident} is not known."))
            setattr(row, column, found)
        row.starts_on = _parse_date(row.raw.get("starts_on", ""), "starts_on", errs)
        row.ends_on = _parse_date(row.raw.get("ends_on", ""), "ends_on", errs)
        if row.starts_on and row.ends_on:
            if row.ends_on < row.starts_on:
                errs.append(f"The end date {row.ends_on} is before the start date {row.starts_on}.")
            elif (row.ends_on - row.starts_on).days + 1 > program.max_assignment_days:
                errs.append(
                    f"The assignment lasts {(row.ends_on - row.starts_on).days + 1} days; "
                    f"{program.name} allows at most {program.max_assignment_days}."
                )
        method = row.raw.get("method", "").strip().lower() or program.default_link_method
        if method not in LinkMethod.values:
            errs.append(f"method '{method}' is not known; use observee, courses or pairing_code.")
        row.method = method
        if not row.raw.get("reason", "").strip():
            errs.append("reason is empty; say why this mentor needs to see this student's work.")
        if row.mentor is not None and _person_key(row.mentor) == _person_key(row.student):
            errs.append("The mentor and the student are the same person.")
        scope = [s.strip() for s in row.raw.get("scope", "").split(";") if s.strip()]
        for sis_course in scope:
            if sis_course not in course_cache:
                course_cache[sis_course] = _course_lookup(sis_course, canvas)
            hit = course_cache[sis_course]
            if isinstance(hit, str):
                errs.append(hit)
            else:
                row.courses.append(hit)
        if method == LinkMethod.COURSES and not scope:
            errs.append("method 'courses' needs the courses in scope (course SIS ids separated by ';').")
    _check_clashes(program, rows, approve=approve)
    return Preview(program=program, rows=rows)


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
                row.errors.append(f"Duplicate of line {other_line} in this file (same mentor and student, same dates).")
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
    from mentorship.people.services import person_upsert_from_canvas

    if not preview.ok:
        raise AssignmentError(f"{len(preview.error_rows)} row(s) have errors; nothing was created.")
    program = preview.program
    if approve and program.requires_second_approver:
        raise AssignmentError(
            f"{program.name} needs a second coordinator to approve: import the rows as proposals instead."
        )
    created: list[MentorAssignment] = []
    added: dict[int, Person] = {}
    approved = 0
    with transaction.atomic():
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
        if approve:
            created, approved = _create_one_by_one(pairs, program, actor, acknowledged, request, source)
        else:
            created = _create_in_bulk(pairs, program, actor, request, source)
        audit_record(
            action=Action.ASSIGNMENTS_IMPORTED,
            actor=actor,
            program=program,
            request=request,
            details={"rows": len(created), "people_added": len(added), "approved": approved, "source": source},
        )
    return ImportResult(created=created, people_added=len(added), approved=approved)


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


def _create_in_bulk(
    pairs: list[tuple[Row, Person, Person]],
    program: Program,
    actor: User,
    request: HttpRequest | None,
    source: str,
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


def import_queued(*, batch_id: int) -> str:
    """A worker creates a confirmed big import: validate again, then every row or none. Safe to run twice.

    The batch row is locked for the whole transaction, so a duplicate delivery waits, then finds it finished.
    Returns the batch's final state ("done", "failed") or "skipped" when there was nothing to do.
    """
    with transaction.atomic():
        batch = (
            CsvImport.objects.select_for_update(of=("self",))
            .select_related("program", "uploaded_by")
            .filter(pk=batch_id)
            .first()
        )
        if batch is None or batch.state != CsvImport.State.QUEUED:
            return "skipped"
        problem = ""
        try:
            preview = validate(program=batch.program, records=read_csv(batch.content.encode()))
            if not preview.ok:
                first = preview.error_rows[0]
                problem = (
                    f"Something changed since the preview: {len(preview.error_rows)} row(s) now have errors (line "
                    f"{first.line}: {first.errors[0]}). Nothing was created; upload the file again to see them all."
                )
            else:
                result = commit(preview=preview, actor=batch.uploaded_by, source=f"upload:{batch.filename}")
        except AssignmentError as exc:
            problem = f"{exc} Nothing was created."
        except CanvasError as exc:
            problem = f"{exc.user_message} Nothing was created; confirm the file again once Canvas answers."
        batch.finished_at = timezone.now()
        if problem:
            batch.state, batch.problem = CsvImport.State.FAILED, problem
        else:
            batch.state, batch.confirmed_at = CsvImport.State.DONE, batch.finished_at
            batch.created_count, batch.people_added = len(result.created), result.people_added
        batch.save(update_fields=["state", "problem", "confirmed_at", "created_count", "people_added", "finished_at"])
        return str(batch.state)


QUEUED_GRACE = datetime.timedelta(minutes=10)


def import_enqueue(*, batch: CsvImport) -> bool:
    """Publish the worker's job for a queued batch; False when the broker cannot take it now."""
    try:
        task_named("assignments.import_csv").apply_async((batch.pk,), retry=False)
    except Exception:
        return False
    return True


def imports_requeue(*, now: datetime.datetime | None = None) -> int:
    """Beat: publish again the batches still queued after QUEUED_GRACE (the first message was lost)."""
    cutoff = (now or timezone.now()) - QUEUED_GRACE
    sent = 0
    for batch in CsvImport.objects.filter(state=CsvImport.State.QUEUED, queued_at__lt=cutoff):
        if import_enqueue(batch=batch):
            sent += 1
    return sent

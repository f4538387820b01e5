"""CSV and PDF output for auditors. CSV is streamed row by row so memory stays flat however large the log is."""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet

from mentorship.audit.chain import utc_text
from mentorship.audit.models import AuditEvent
from mentorship.core.spreadsheets import neutralise

from .selectors import Evidence
from .sentences import describe

__all__ = ["EVENT_COLUMNS", "csv_rows", "event_rows", "evidence_pdf", "evidence_rows", "neutralise"]

EXPORT_CHUNK = 2000

# (column in the file, field of AuditEvent it is read from), in file order.
EVENT_FIELDS: list[tuple[str, str]] = [
    ("seq", "seq"),
    ("occurred_at_utc", "occurred_at"),
    ("actor", "actor_label"),
    ("action", "action"),
    ("outcome", "outcome"),
    ("program_id", "program_id"),
    ("program", "program__name"),
    ("student_id", "student_id"),
    ("student", "student__name"),
    ("object_type", "object_type"),
    ("object_id", "object_id"),
    ("ip", "ip"),
    ("request_id", "request_id"),
    ("details", "details"),
    ("prev_hash", "prev_hash"),
    ("hash", "hash"),
]
EVENT_COLUMNS = [column for column, _field in EVENT_FIELDS]


def _utc(value: datetime.datetime | None) -> str:
    return utc_text(value) if value else ""


class _Line:
    """A file-like object whose write() returns what was written: csv.writer then yields one line at a time."""

    def write(self, value: str) -> str:
        return value


def csv_rows(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    batch: list[str] = []
    for row in rows:
        batch.append(writer.writerow([neutralise(cell) for cell in row]))
        if len(batch) >= 200:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


def event_rows(events: QuerySet[AuditEvent]) -> Iterator[list[Any]]:
    """Header then one row per event, newest first, read in chunks with only the columns the file needs.

    The codes and ids stay as the log holds them; the last column is the sentence the page shows, resolved a chunk
    at a time (a few queries per chunk, docs/decisions.md "The audit log reads as sentences; the CSV keeps the
    codes")."""
    yield [*EVENT_COLUMNS, "sentence"]
    # Pending events (not chained yet: no seq) first, as the newest (mentorship/audit/sequencer.py).
    rows = events.order_by(F("seq").desc(nulls_first=True), "-id").select_related("program", "student")
    # On PostgreSQL the rows come through a server-side cursor. Outside a transaction Django declares it WITH HOLD,
    # and PostgreSQL then computes the whole result before the first row (1.4 s for 1,000,000 events); inside one it
    # streams. (SQLite's transactions here take the write lock, so it reads without one.)
    streaming = transaction.atomic() if connection.vendor == "postgresql" else contextlib.nullcontext()
    with streaming:
        chunk: list[AuditEvent] = []
        for event in rows.iterator(chunk_size=EXPORT_CHUNK):
            chunk.append(event)
            if len(chunk) >= EXPORT_CHUNK:
                yield from _event_chunk(chunk)
                chunk = []
        yield from _event_chunk(chunk)


def _event_chunk(events: list[AuditEvent]) -> Iterator[list[Any]]:
    for view in describe(events):
        e = view.event
        out = [_field_value(e, name) for _column, name in EVENT_FIELDS]
        out[0] = e.seq_label
        out[1] = _utc(e.occurred_at)
        out[13] = json.dumps(e.details, sort_keys=True, ensure_ascii=False)
        yield [*out, view.sentence]


def _field_value(event: AuditEvent, name: str) -> Any:
    if "__" in name:
        related, attr = name.split("__", 1)
        target = getattr(event, related)
        return getattr(target, attr) if target is not None else None
    return getattr(event, name)


def evidence_rows(evidence: Evidence) -> Iterator[list[Any]]:
    yield [
        "section",
        "when_utc",
        "until_utc",
        "who",
        "what",
        "program",
        "approved_by",
        "approved_at_utc",
        "status",
        "details",
    ]
    for period in evidence.periods:
        a = period.assignment
        scope = period.scope_text
        yield [
            "approved access",
            a.starts_on.isoformat(),
            a.ends_on.isoformat(),
            a.mentor.label,
            f"{a.get_link_method_display()}: {scope}",
            a.program.name,
            a.decided_by.get_username() if a.decided_by and a.status != "rejected" else "",
            _utc(a.decided_at),
            a.get_status_display(),
            f"proposed by {a.proposed_by.get_username() if a.proposed_by else '?'}; reason: {a.reason}",
        ]
        yield [
            "canvas access",
            _utc(period.canvas_from),
            "still linked" if period.still_linked else _utc(period.canvas_until),
            a.mentor.label,
            "Canvas observer access",
            a.program.name,
            "",
            "",
            "linked" if period.still_linked else ("ended" if period.canvas_until else "never linked"),
            f"{len(period.canvas_events)} Canvas events",
        ]
    for event in evidence.views:
        yield _evidence_event_row("view of student data", event, "")
    for event in evidence.events:
        yield _evidence_event_row("event", event, f"#{event.seq_label} ")


def _evidence_event_row(section: str, event: AuditEvent, prefix: str) -> list[Any]:
    details = json.dumps(event.details, sort_keys=True, ensure_ascii=False)
    who_what = [event.actor_label, event.action, event.program_id or "", "", "", event.outcome]
    return [section, _utc(event.occurred_at), "", *who_what, prefix + details]


def evidence_pdf(evidence: Evidence, *, produced_by: str) -> bytes:
    """The evidence report as a PDF a school can file (reportlab, built in memory: one student's events)."""
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    margins = {f"{side}Margin": 12 * mm for side in ("left", "right", "top", "bottom")}
    title = f"Evidence report: {evidence.student.name}"
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), title=title, **margins)
    programs = ", ".join(p.name for p in evidence.programs) or "none"
    story: list[Any] = [
        Paragraph(escape(f"Evidence report: {evidence.student.label}"), styles["Title"]),
        Paragraph(
            escape(f"Produced {_utc(evidence.produced_at)} by {produced_by}. Programs: {programs}"), styles["Normal"]
        ),
    ]
    for heading, header, rows, when_empty in _evidence_sections(evidence):
        story += [Spacer(1, 6 * mm), Paragraph(heading, styles["Heading2"])]
        story.append(_pdf_table(header, rows, styles) if rows else Paragraph(when_empty, styles["Normal"]))
    doc.build(story)
    return buffer.getvalue()


def _pdf_table(header: list[str], rows: list[list[Any]], styles: Any) -> Any:
    """A reportlab table with a repeated, shaded header; every cell neutralised and escaped as text."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    cell = styles["BodyText"].clone("cell", fontSize=8, leading=10)

    def p(text: Any) -> Paragraph:
        return Paragraph(escape(neutralise(text) if text is not None else ""), cell)

    t = Table([[p(h) for h in header]] + [[p(c) for c in row] for row in rows], repeatRows=1)
    t.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return t


_ACCESS_HEADER = (
    "Mentor",
    "Program",
    "Courses in scope",
    "Approved dates",
    "Status",
    "Proposed by",
    "Approved by",
    "Decided (UTC)",
    "Canvas access from",
    "Canvas access until",
)


def _access_rows(evidence: Evidence) -> list[list[Any]]:
    """One row per access period: what was approved, by whom, and when Canvas actually gave and took access."""
    return [
        [
            a.mentor.label,
            a.program.name,
            period.scope_text,
            f"{a.starts_on} to {a.ends_on}",
            a.get_status_display(),
            a.proposed_by.get_username() if a.proposed_by else "",
            a.decided_by.get_username() if a.decided_by and a.status != "rejected" else "",
            _utc(a.decided_at),
            _utc(period.canvas_from) or "never linked",
            "still linked" if period.still_linked else (_utc(period.canvas_until) or ""),
        ]
        for period in evidence.periods
        for a in [period.assignment]
    ]


def _evidence_sections(evidence: Evidence) -> list[tuple[str, list[str], list[list[Any]], str]]:
    """The report's sections: (heading, column headers, rows, sentence shown when there are no rows)."""
    views = [
        [f"#{e.seq_label}", _utc(e.occurred_at), e.actor_label, e.ip or "", json.dumps(e.details, sort_keys=True)]
        for e in evidence.views
    ]
    events = [
        [
            f"#{e.seq_label}",
            _utc(e.occurred_at),
            e.actor_label,
            e.action,
            e.outcome,
            json.dumps(e.details, sort_keys=True),
        ]
        for e in evidence.events
    ]
    return [
        (
            "Who could see this student's work",
            list(_ACCESS_HEADER),
            _access_rows(evidence),
            "No mentor assignments for this student in these programs.",
        ),
        (
            "Every view of this student's data",
            ["Event", "When (UTC)", "Who", "IP", "What"],
            views,
            "No views of this student's data are recorded.",
        ),
        (
            "All events about this student",
            ["Event", "When (UTC)", "Who", "Action", "Outcome", "Details"],
            events,
            "No events.",
        ),
    ]

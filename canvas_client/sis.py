"""``user_observers.csv`` for Canvas SIS imports, and reading Canvas's row warnings back.

Canvas matches both ids to the ``sis_user_id`` of active logins in the importing root account
(docs/canvas.md, "SIS imports"). Row problems do not fail an import: they come back in ``processing_warnings`` as
``[file, message]`` pairs with fixed English strings, which ``parse_processing_warnings`` maps back
to the (observer, student) they name.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .models import is_more_entry

Status = Literal["active", "deleted"]
HEADER = ("observer_id", "student_id", "status")
FILENAME = "user_observers.csv"


@dataclass(frozen=True)
class UserObserverRow:
    observer_id: str
    student_id: str
    status: Status = "active"


def _check_id(value: object, column: str, line: int) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(f"Row {line}: {column} is empty; both people need a SIS id.")
    if any(ch in text for ch in "\r\n\x00"):
        raise ValueError(f"Row {line}: {column} contains a line break or NUL character.")
    return text


def build_user_observers_csv(
    rows: Iterable[UserObserverRow | Sequence[str]],
) -> bytes:
    """UTF-8 (no BOM: Canvas detects the file type from the header line) with CSV quoting.

    Raises ``ValueError`` for an empty id, an unknown status, a self-link or no rows at all.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    count = 0
    for line, row in enumerate(rows, start=1):
        if isinstance(row, UserObserverRow):
            observer, student, status = row.observer_id, row.student_id, row.status
        else:
            if len(row) not in (2, 3):
                raise ValueError(f"Row {line}: expected observer_id, student_id[, status].")
            observer, student = row[0], row[1]
            status = row[2] if len(row) == 3 else "active"  # type: ignore[assignment]
        observer = _check_id(observer, "observer_id", line)
        student = _check_id(student, "student_id", line)
        if status not in ("active", "deleted"):
            raise ValueError(f'Row {line}: status must be "active" or "deleted", not {status!r}.')
        if observer == student:
            raise ValueError(f"Row {line}: {observer} cannot observe themself.")
        writer.writerow((observer, student, status))
        count += 1
    if count == 0:
        raise ValueError("No rows: Canvas would reject an import with only a header.")
    return buffer.getvalue().encode("utf-8")


@dataclass(frozen=True)
class ObserverWarning:
    """One row problem Canvas reported. Ids are the SIS ids Canvas named, or ``None`` if it named
    none."""

    observer_id: str | None
    student_id: str | None
    message: str
    file: str = ""


# Canvas's exact row messages (lib/sis/csv/user_observer_importer.rb; docs/canvas.md, "SIS imports").
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^Can't observe yourself user (?P<both>.+)$"), "both"),
    (re.compile(r"^An observer referenced a non-existent user (?P<observer>.+)$"), "observer"),
    (re.compile(r"^A student referenced a non-existent user (?P<student>.+)$"), "student"),
    (
        re.compile(
            r"^Can't delete a non-existent observer for observer: (?P<observer>.+?), "
            r"student: (?P<student>.+)$"
        ),
        "pair",
    ),
)


def parse_processing_warnings(
    warnings: Iterable[Sequence[str] | str],
) -> list[ObserverWarning]:
    """Turn ``processing_warnings`` (``[file, message]`` pairs) into ``ObserverWarning`` rows.

    Messages that name nobody (``No observer_id given for a user observer``,
    ``Improper status ...``) come back with both ids ``None``.
    """
    out: list[ObserverWarning] = []
    for item in warnings:
        if isinstance(item, str):
            file, message = "", item
        else:
            if is_more_entry(item):
                continue  # Canvas's "and N more" summary: names no row (docs/canvas-rules.md, section 3)
            file, message = (str(item[0]), str(item[1])) if len(item) >= 2 else ("", str(item[0]))
        message = message.strip()
        observer: str | None = None
        student: str | None = None
        for pattern, kind in _PATTERNS:
            match = pattern.match(message)
            if not match:
                continue
            if kind == "both":
                observer = student = match.group("both").strip()
            if kind in ("observer", "pair"):
                observer = match.group("observer").strip()
            if kind in ("student", "pair"):
                student = match.group("student").strip()
            break
        out.append(ObserverWarning(observer, student, message, file))
    return out


ERRORS_FILE_HEADER = ("sis_import_id", "file", "message", "row")


def parse_errors_file(text: str) -> list[ObserverWarning]:
    """Every message of an import from its errors file (``errors_attachment``: ``sis_import_id,file,message,row``,
    written by SisBatch#write_errors_to_file), as ``ObserverWarning`` rows.

    Raises ``ValueError`` when the text is not that file, so a caller never takes a wrong download for "no
    warnings".
    """
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None or tuple(h.strip().lower() for h in header[:4]) != ERRORS_FILE_HEADER:
        raise ValueError("This is not a Canvas SIS errors file (its header is not sis_import_id,file,message,row).")
    pairs = [(row[1], row[2]) for row in reader if len(row) >= 3]
    return parse_processing_warnings(pairs)


def match_warnings(
    rows: Iterable[UserObserverRow], warnings: Iterable[ObserverWarning]
) -> dict[UserObserverRow, list[str]]:
    """Attach each warning to the rows it concerns.

    A warning naming one id (e.g. a non-existent student) applies to every row with that id; one
    naming neither cannot be placed and is left out (callers show it on the batch as a whole).
    """
    row_list = list(rows)
    result: dict[UserObserverRow, list[str]] = {}
    for warning in warnings:
        if warning.observer_id is None and warning.student_id is None:
            continue
        for row in row_list:
            if warning.observer_id is not None and row.observer_id != warning.observer_id:
                continue
            if warning.student_id is not None and row.student_id != warning.student_id:
                continue
            result.setdefault(row, []).append(warning.message)
    return result


__all__ = [
    "FILENAME",
    "HEADER",
    "ObserverWarning",
    "UserObserverRow",
    "build_user_observers_csv",
    "match_warnings",
    "parse_errors_file",
    "parse_processing_warnings",
]

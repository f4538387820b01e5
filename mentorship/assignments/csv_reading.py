"""Reading an import file strictly: the whole file is checked, and every row that cannot be read is named by line.

A lenient CSV reader hides damage: an unclosed quote swallows the rest of the file into one cell, a NUL byte far
into the file reaches the database (PostgreSQL refuses it with a 500, SQLite keeps it), a row with a cell too few is
padded silently. Here the file is decoded once, chunk by chunk (a NUL anywhere is found, not only in the first
4 KB), parsed with ``strict=True``, and each of those cases becomes a row error with its line number, so the preview
says what to fix and nothing is created (docs/decisions.md, "A strict CSV reader").
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator

from django.conf import settings

from .services.rules import REASON_MAX_LENGTH, reason_length_message

REQUIRED_COLUMNS = ("mentor", "student", "starts_on", "ends_on", "reason")
OPTIONAL_COLUMNS = ("scope", "method")
# The downloadable template's header, in the order the sample file uses.
TEMPLATE_COLUMNS = ("mentor", "student", "starts_on", "ends_on", "scope", "method", "reason")
MAX_ROWS = 50_000
CELL_MAX_LENGTH = 255  # ids, dates, methods, course lists: anything longer is not one of them
BINARY_PROBE = 4096
# Control characters other than tab, line feed and carriage return (C0, DEL, C1): never part of a name, a date or
# a reason, and a terminal obeys some of them (ESC, CSI).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class ImportFileError(Exception):
    """The file as a whole cannot be read; the message is a sentence (nothing was created)."""


class Records(list[dict[str, str]]):
    """The rows read, with how many lines the file has (the preview says so when the two differ)."""

    line_count: int = 0
    text: str = ""  # the decoded file, kept for the batch (confirm reads it again)

    @property
    def multi_line_rows(self) -> list[int]:
        return [int(r["__line__"]) for r in self if r.get("__last_line__", r["__line__"]) != r["__line__"]]


def size_message(size: int) -> str:
    limit = int(settings.CSV_IMPORT_MAX_BYTES)
    return (
        f"The file is {size / 1_048_576:.1f} MB; the largest file accepted is {limit / 1_048_576:.0f} MB. "
        "Split it into smaller files. Nothing was created."
    )


def decode_upload(chunks: Iterable[bytes]) -> str:
    """The file as text, decoded as it streams in; raises ImportFileError for a file that is not UTF-8 CSV text."""
    limit = int(settings.CSV_IMPORT_MAX_BYTES)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    parts: list[str] = []
    seen = 0
    for chunk in chunks:
        if seen == 0 and chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ImportFileError(
                "The file is saved as UTF-16 text. Save it as 'CSV UTF-8 (comma delimited)' and upload it again."
            )
        if seen < BINARY_PROBE and b"\x00" in chunk[: BINARY_PROBE - seen]:
            # A NUL at the very start means a spreadsheet or other binary file; later ones are row errors.
            raise ImportFileError("This is not a CSV text file. Save the spreadsheet as 'CSV UTF-8' and upload that.")
        seen += len(chunk)
        if seen > limit:
            raise ImportFileError(size_message(seen))
        try:
            parts.append(decoder.decode(chunk))
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"The file is not UTF-8 text (the byte at position {seen - len(chunk) + exc.start:,} cannot be read). "
                "Save it as 'CSV UTF-8 (comma delimited)' and upload it again."
            ) from exc
    try:
        parts.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            "The file is not UTF-8 text (it ends in the middle of a character). "
            "Save it as 'CSV UTF-8 (comma delimited)' and upload it again."
        ) from exc
    return "".join(parts)


def _chunks(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read_csv(data: bytes | Iterable[bytes]) -> Records:
    """Decode and parse the whole file. Raises ImportFileError for a file that cannot be read at all; a row that
    cannot be read is returned with its errors under "__errors__" (one sentence each, naming its line)."""
    if isinstance(data, bytes | bytearray):
        if len(data) > int(settings.CSV_IMPORT_MAX_BYTES):
            raise ImportFileError(size_message(len(data)))
        data = _chunks(bytes(data))
    text = decode_upload(data)
    if not text.strip():
        raise ImportFileError("The file is empty.")
    lines = text.splitlines(keepends=True)
    columns = _header(lines[0])
    records = Records(_rows(lines, columns))
    records.line_count, records.text = len(lines), text
    if not records:
        raise ImportFileError("The file has a header row but no assignments.")
    return records


def _header(first_line: str) -> list[str]:
    """The column names of the first line; raises ImportFileError with what to change."""
    probe = [h.strip().lower() for h in first_line.split(",")]
    if "mentor" not in probe:
        for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
            if delimiter in first_line and "mentor" in [h.strip().lower() for h in first_line.split(delimiter)]:
                raise ImportFileError(
                    f"The columns are separated by {name}; the file must use commas. "
                    "Save it as 'CSV UTF-8 (comma delimited)'."
                )
    try:
        header = next(csv.reader([first_line], strict=True))
    except (StopIteration, csv.Error) as exc:
        raise ImportFileError(
            "The first line is not a header row: it must name the columns, separated by commas."
        ) from exc
    columns = [h.strip().lower() for h in header]
    allowed = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ImportFileError(
            f"The header row lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}. "
            f"The first row must name the columns: {', '.join(allowed)}."
        )
    unknown = [c for c in columns if c and c not in allowed]
    if unknown:
        raise ImportFileError(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}. Use only: {', '.join(allowed)}."
        )
    return columns


def _rows(lines: list[str], columns: list[str]) -> Iterator[dict[str, str]]:
    """Every row after the header, each with its first and last line; unreadable rows carry their errors."""
    limit = max(csv.field_size_limit(), int(settings.CSV_IMPORT_MAX_BYTES))
    csv.field_size_limit(limit)  # length is judged below, per column, in words a coordinator understands
    reader = csv.reader(iter(lines[1:]), strict=True)
    count = 0
    while True:
        first = reader.line_num + 2  # line numbers of the file, header included
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _unreadable(first, reader.line_num + 1, len(lines), columns, str(exc))
            continue
        if not any(v.strip() for v in values):
            continue
        count += 1
        if count > MAX_ROWS:
            raise ImportFileError(f"The file has more than {MAX_ROWS:,} rows. Split it into smaller files.")
        row = {col: (values[i] if i < len(values) else "") for i, col in enumerate(columns) if col}
        row["__line__"], row["__last_line__"] = str(first), str(reader.line_num + 1)
        errors = _row_errors(values, columns)
        if errors:
            row["__errors__"] = "\n".join(errors)
        yield row


def _unreadable(first: int, last: int, total: int, columns: list[str], problem: str) -> dict[str, str]:
    if "unexpected end of data" in problem or (last >= total and first < last):
        message = (
            f'A quote (") opens in this row and is never closed, so lines {first} to {total} would '
            "run into one cell. Close the quote or remove it, then upload the file again."
        )
    else:
        message = (
            'A quote (") is in the middle of a cell. Put the whole cell in quotes and double the '
            'quotes inside it (write "" for one "), or remove the quote.'
        )
    row = {col: "" for col in columns if col}
    row.update({"__line__": str(first), "__last_line__": str(last), "__errors__": message, "__unread__": "1"})
    return row


def _row_errors(values: list[str], columns: list[str]) -> list[str]:
    errors = []
    if len(values) != len(columns):
        errors.append(
            f"The row has {len(values)} cell{'s' if len(values) != 1 else ''}; the header has {len(columns)} "
            "columns. Check for a missing comma, or a comma inside a value that is not in quotes."
        )
    for column, value in zip(columns, values, strict=False):
        if "\x00" in value:
            errors.append(
                f"{column} contains a NUL byte, which is not text (the file may be damaged). "
                "Retype the cell or export the file again."
            )
        elif _CONTROL.search(value):
            errors.append(f"{column} contains an invisible control character. Retype the cell without it.")
        limit = REASON_MAX_LENGTH if column == "reason" else CELL_MAX_LENGTH
        if len(value) > limit:
            errors.append(
                reason_length_message(len(value))
                if column == "reason"
                else f"{column} is {len(value):,} characters long; it can have at most {limit:,}. "
                "Check that a quote before it is closed."
            )
    return errors

"""`manage.py import_assignments FILE --program SLUG --actor USERNAME [--approve]`: the CSV import for schools that
feed it from their SIS on a schedule. Same rules and audit events as the page; exit status 1 with the row errors."""

from __future__ import annotations

import time
import unicodedata
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments import csv_import
from mentorship.assignments.models import Program
from mentorship.assignments.services import AssignmentError


def visible(text: str) -> str:
    """Text from the file made safe for a terminal: control and format characters (escape sequences, NUL, bidi
    overrides) are shown as \\x1b or \\u202e instead of being obeyed (a crafted name could rewrite the screen)."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf") and ch != "\t":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


class Command(BaseCommand):
    help = "Import proposed mentor assignments from a CSV file (all rows or none)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV with columns mentor, student, starts_on, ends_on, scope, method, reason")
        parser.add_argument("--program", required=True, help="the program's slug")
        parser.add_argument("--actor", required=True, help="username of the coordinator the import acts as")
        parser.add_argument("--approve", action="store_true", help="approve every row as well (same rules)")
        parser.add_argument(
            "--accept-warning",
            action="append",
            default=[],
            dest="acknowledged",
            metavar="CODE",
            help="confirm an approval warning (student_to_student, mentor_student_in_scope); repeatable",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        program = Program.objects.filter(slug=options["program"]).first()
        if program is None:
            raise CommandError(f"There is no program with the slug {visible(options['program'])!r}.")
        actor = User.objects.filter(username=options["actor"], is_active=True).first()
        if actor is None:
            raise CommandError(f"There is no active user {visible(options['actor'])!r}.")
        is_coordinator = ProgramRole.objects.filter(
            program=program, user=actor, role=ProgramRole.Role.COORDINATOR
        ).exists()
        if not is_coordinator:
            raise CommandError(f"{actor.get_username()} is not a coordinator of {program.name}.")
        path = Path(options["file"])
        started = time.monotonic()
        try:
            with path.open("rb") as handle:
                records = csv_import.read_csv(iter(lambda: handle.read(65_536), b""))
        except OSError as exc:
            raise CommandError(f"Cannot read {visible(str(path))}: {exc.strerror}.") from exc
        except csv_import.ImportFileError as exc:
            raise CommandError(visible(str(exc))) from exc
        preview = csv_import.validate(program=program, records=records, approve=options["approve"])
        if not preview.ok:
            for row in preview.error_rows:
                for error in row.errors:
                    self.stderr.write(visible(f"line {row.line}: {error}"))
            raise CommandError(
                f"{len(preview.error_rows)} of {len(preview.rows)} rows have errors; nothing was created."
            )
        try:
            result = csv_import.commit(
                preview=preview,
                actor=actor,
                approve=options["approve"],
                acknowledged=options["acknowledged"],
                source=f"command:{path.name}",
            )
        except AssignmentError as exc:
            raise CommandError(visible(str(exc))) from exc
        self.stdout.write(
            visible(
                f"Imported {len(result.created)} assignment(s) into {program.name}"
                + (f", approved {result.approved}" if options["approve"] else " as proposals")
                + f"; {result.people_added} new people added from Canvas; {time.monotonic() - started:.1f} s."
            )
        )

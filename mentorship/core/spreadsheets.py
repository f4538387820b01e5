"""Cells a spreadsheet would run: one definition for the CSV import (which refuses them) and the auditor's exports
(which neutralise them)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse

# A spreadsheet treats a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """Text safe to open in a spreadsheet: formula-looking cells get a leading apostrophe."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_attachment(body: str | bytes, filename: str) -> HttpResponse:
    """A CSV file download (UTF-8), named for the browser's save dialog."""
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

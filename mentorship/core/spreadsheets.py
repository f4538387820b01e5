"""Cells a spreadsheet would run: one definition for the CSV import (which refuses them) and the auditor's exports
(which neutralise them)."""

from __future__ import annotations

from typing import Any

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

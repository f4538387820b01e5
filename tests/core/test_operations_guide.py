"""docs/operations.md names the portal's real menus and buttons: every bold name that the guide tells an IT admin to
open or press exists as text in a template (a renamed menu fails here, not in front of a school)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "operations.md").read_text()
TEMPLATES = " ".join(path.read_text() for path in (ROOT / "templates").rglob("*.html"))
# Bold words that are prose emphasis, not things on screen.
EMPHASIS = {"Code only", "With migrations", "owner", "portal's role"}


def test_every_menu_and_button_the_guide_names_exists() -> None:
    named = set(re.findall(r"\*\*([^*]+)\*\*", GUIDE)) - EMPHASIS
    assert {"Programs", "Canvas connection", "Drift", "Audit log"} <= named
    missing = sorted(name for name in named if name not in TEMPLATES)
    assert not missing, f"docs/operations.md names what no page shows: {missing}"


def test_the_guide_names_no_menu_the_portal_does_not_have() -> None:
    for stale in ("Sync →", "Audit →", "Sync > Reconciliation"):
        assert stale not in GUIDE

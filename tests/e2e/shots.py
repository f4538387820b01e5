"""Screenshots taken by the journeys; the role guides in docs/ use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

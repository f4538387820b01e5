"""Help inside the portal: the role guides of docs/guides/, rendered to HTML, and their screenshots.

The portal serves the repository's own files, so the help a person reads is the text the guides hold (one source,
docs/decisions.md "Help is the role guides, served by the portal"). Any signed-in person may read any guide: they
describe the portal, not anyone's data.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import markdown
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

GUIDES = {
    "coordinator": "Coordinator's guide",
    "mentor": "Mentor's guide",
    "auditor": "Auditor's guide",
    "admin": "Administrator's guide",
}
SCREENSHOT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*\.png$")


def guides_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "guides"


def screenshots_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "screenshots"


def guide_for(capabilities: object) -> str:
    """The guide a person most likely wants: the role they hold (admin, coordinator, auditor, mentor)."""
    for flag, role in (("is_admin", "admin"), ("coordinates", "coordinator"), ("audits", "auditor")):
        if getattr(capabilities, flag, False):
            return role
    return "mentor"


@functools.lru_cache(maxsize=16)
def _rendered(role: str, mtime: float) -> tuple[str, SafeString]:
    """(title, body) of a guide; cached per file version (the mtime is part of the key)."""
    text = (guides_dir() / f"{role}.md").read_text(encoding="utf-8")
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "toc"], output_format="html")
    # Links between guides and to screenshots are written for the repository; point them at the portal's pages.
    html = re.sub(r'src="(?:\.\./)?screenshots/([a-z0-9-]+\.png)"', _screenshot_src, html)
    html = re.sub(r'href="(?:\./)?(coordinator|mentor|auditor|admin)\.md"', _guide_href, html)
    title_match = re.search(r"<h1[^>]*>(.*?)</h1>", html)
    title = re.sub(r"<[^>]+>", "", title_match.group(1)) if title_match else GUIDES[role]
    # The guides are the repository's own text (reviewed like code), not anyone's input.
    return title, mark_safe(html)  # noqa: S308


def _screenshot_src(match: re.Match[str]) -> str:
    return f'src="{reverse("core:help_screenshot", args=[match.group(1)])}"'


def _guide_href(match: re.Match[str]) -> str:
    return f'href="{reverse("core:help", args=[match.group(1)])}"'


@require_GET
@login_required
def guide(request: HttpRequest, role: str) -> HttpResponse:
    path = guides_dir() / f"{role}.md"
    if role not in GUIDES or not path.is_file():
        raise Http404("No such guide.")
    title, body = _rendered(role, path.stat().st_mtime)
    return render(request, "core/help.html", {"title": title, "body": body, "guides": GUIDES, "role": role})


@require_GET
@login_required
def screenshot(request: HttpRequest, name: str) -> FileResponse:
    path = screenshots_dir() / name
    if not SCREENSHOT_NAME.match(name) or not path.is_file():
        raise Http404("No such picture.")
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response

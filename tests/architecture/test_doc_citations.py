"""Every comment that cites a section of docs/architecture.md, docs/canvas.md or docs/decisions.md names a
section that exists (headings are matched by their text, without the number)."""

from __future__ import annotations

import re

from tests.architecture.imports import ROOT, module_files

CITATION = re.compile(r"docs/(architecture|canvas|decisions)\.md,?\s+\"([^\"]+)\"")


def _headings(doc: str) -> list[str]:
    text = (ROOT / "docs" / f"{doc}.md").read_text()
    return [
        re.sub(r"^#+\s*(\d+\.\s*)?", "", line).replace("`", "") for line in text.splitlines() if line.startswith("#")
    ]


def test_cited_sections_exist():
    headings = {doc: _headings(doc) for doc in ("architecture", "canvas", "decisions")}
    sources = [path for path in module_files().values()] + sorted((ROOT / "tests").rglob("*.py"))
    sources += [ROOT / "fake_canvas" / "README.md", ROOT / "docs" / "canvas.md", ROOT / "docs" / "decisions.md"]
    missing = []
    for path in sources:
        text = re.sub(r"\s*\n\s*(#\s*)?", " ", path.read_text())  # citations may wrap across comment lines
        for doc, title in CITATION.findall(text):
            if not any(title in heading for heading in headings[doc]):
                missing.append(f"{path.relative_to(ROOT)}: docs/{doc}.md has no section {title!r}")
    assert not missing, "\n".join(sorted(set(missing)))

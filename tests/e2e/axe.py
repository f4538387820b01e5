"""Run axe-core (vendored, pinned) in the page and fail on serious or critical violations.

The script is evaluated through the DevTools protocol, which a page's Content-Security-Policy does not govern, so
the portal's strict CSP stays on during browser tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-4.11.0.min.js").read_text()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE + "\n;void 0;")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                           nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    return list(result)


def assert_no_serious_violations(page: Any) -> None:
    serious = [v for v in axe_violations(page) if v["impact"] in {"serious", "critical"}]
    assert not serious, f"axe-core found serious accessibility problems on {page.url}: {serious}"

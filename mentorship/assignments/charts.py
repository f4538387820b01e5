"""Small bar charts drawn on the server as SVG (no script, no CDN; presentation attributes only, so the strict CSP
holds). Each chart carries a <title> and the numbers as text, so screen readers get the same facts."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR_COLOUR = "#1f5f8b"  # 7:1 against white, the page background
ROW_HEIGHT = 22
LABEL_WIDTH = 290  # fits the longest state label ("Waiting for the mentor's pairing code") at 14px
BAR_WIDTH = 160


def bar_chart(data: Sequence[tuple[str, int]], *, title: str) -> SafeString:
    """A horizontal bar chart: one row per (label, count)."""
    peak = max((n for _, n in data), default=0) or 1
    height = ROW_HEIGHT * len(data) + 4
    width = LABEL_WIDTH + BAR_WIDTH + 60
    rows = []
    for i, (label, count) in enumerate(data):
        y = i * ROW_HEIGHT + 2
        bar = round(BAR_WIDTH * count / peak) if count else 0
        rows.append(
            (y + 15, label, LABEL_WIDTH, y + 3, max(bar, 1 if count else 0), LABEL_WIDTH + bar + 6, y + 15, count)
        )
    body = format_html_join(
        "",
        '<text x="0" y="{}" font-size="14" fill="#222">{}</text>'
        '<rect x="{}" y="{}" height="15" width="{}" fill="' + BAR_COLOUR + '"></rect>'
        '<text x="{}" y="{}" font-size="14" fill="#222">{}</text>',
        rows,
    )
    return format_html(
        '<svg class="chart" role="img" aria-labelledby="{id}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'preserveAspectRatio="xMinYMin meet"><title id="{id}">{title}</title>{body}</svg>',
        id="chart-" + "".join(c for c in title.lower() if c.isalnum()),
        w=width,
        h=height,
        title=title,
        body=body,
    )

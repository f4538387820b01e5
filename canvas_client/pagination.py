"""Canvas pagination: follow ``Link: <url>; rel="next"`` exactly as given.

Canvas's page URLs are opaque (enrollments and ``users?sort=id`` use bookmark cursors), ``last`` may
be missing and ``current``/``first`` are dropped when the header grows past ~6 KB (docs/canvas.md,
"Pagination, errors and ids"), so the only thing we rely on is ``next``. We never build page numbers ourselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

from .errors import CanvasError, CanvasTransientError

T = TypeVar("T")

# One link-value: <uri-reference> then ;-separated parameters (a URL cannot hold a bare '>').
_LINK_RE = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]+)*)")
_PARAM_RE = re.compile(r"""([A-Za-z*]+)\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""")


def parse_link_header(value: str | None) -> dict[str, str]:
    """Map each ``rel`` to its URL. A link with several rels (``rel="next last"``) appears under
    each."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK_RE.finditer(value):
        url, params = match.group(1).strip(), match.group(2)
        for name, quoted, bare in _PARAM_RE.findall(params):
            if name.lower() != "rel":
                continue
            for rel in (quoted or bare).split():
                links.setdefault(rel.lower(), url)
    return links


def same_origin(url: str, base_url: str) -> bool:
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower())


# fetch(url, params) -> (decoded JSON body, Link header); params is given for the first page only.
PageFetcher = Callable[[str, Mapping[str, Any] | None], tuple[Any, str | None]]


def paginate(
    fetch: PageFetcher,
    first_url: str,
    params: Mapping[str, Any] | None,
    parse: Callable[[Mapping[str, Any]], T],
    *,
    base_url: str,
    list_key: str | None = None,
    max_pages: int = 10_000,
) -> Iterator[T]:
    """Yield parsed items page by page; nothing is fetched until the first item is asked for."""
    url: str | None = first_url
    page_params = params
    seen: set[str] = set()
    pages = 0
    while url is not None:
        if url in seen or pages >= max_pages:
            # A server that links a page to itself would loop forever; that is a Canvas fault.
            raise CanvasError("Canvas sent a pagination loop", path=urlsplit(url).path)
        seen.add(url)
        pages += 1
        body, link_header = fetch(url, page_params)
        page_params = None
        items = body.get(list_key) if list_key and isinstance(body, Mapping) else body
        if not isinstance(items, list):
            raise CanvasTransientError(
                "Canvas answered a list request with something that is not a list",
                path=urlsplit(url).path,
            )
        for item in items:
            yield parse(item)
        next_url = parse_link_header(link_header).get("next")
        if next_url is None:
            return
        next_url = urljoin(url, next_url)
        # The bearer token goes with every page: never follow a link to another host.
        if not same_origin(next_url, base_url):
            raise CanvasError(
                "Canvas sent a pagination link to another host (check CANVAS_BASE_URL); not following it",
                path=urlsplit(url).path,
            )
        url = next_url


__all__ = ["PageFetcher", "paginate", "parse_link_header", "same_origin"]

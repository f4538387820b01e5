"""The assignment list pages by keyset past the first page: every sort walks forwards and backwards through every
row exactly once, with no OFFSET (docs/decisions.md, "Long lists page by keyset")."""

from __future__ import annotations

import datetime
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments import selectors
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def many(program):
    """Eight assignments with ties in every sort column, so the id has to break them."""
    today = timezone.localdate()
    same_name = [PersonFactory(name="Alex Same", sortable_name="Same, Alex") for _ in range(3)]
    rows = []
    for n in range(8):
        rows.append(
            AssignmentFactory(
                program=program,
                mentor=same_name[n % 3],
                starts_on=today + datetime.timedelta(days=n % 2),
                ends_on=today + datetime.timedelta(days=30 + n % 3),
            )
        )
    return rows


def _no_offset(queries) -> bool:
    return not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)


@pytest.mark.parametrize("sort", sorted(selectors.SORTS))
def test_every_sort_walks_forwards_and_back_through_every_row_once(coordinator, many, sort) -> None:
    qs = selectors.assignments_filtered(user=coordinator, filters=selectors.ListFilters(sort=sort))
    expected = list(qs.values_list("pk", flat=True))
    pages = [selectors.assignments_page(qs=qs, page=1, size=3)]
    while pages[-1].has_next:
        with CaptureQueriesContext(connection) as queries:
            pages.append(selectors.assignments_page(qs=qs, page=len(pages) + 1, size=3, after=pages[-1].next_cursor))
        assert _no_offset(queries), f"{sort}: page {len(pages)} used OFFSET"
    assert [a.pk for p in pages for a in p.items] == expected
    assert [len(p.items) for p in pages] == [3, 3, 2]
    assert pages[-1].total == 8 and not pages[0].has_previous

    back = selectors.assignments_page(qs=qs, page=2, size=3, before=pages[2].previous_cursor)
    assert [a.pk for a in back.items] == [a.pk for a in pages[1].items]
    first = selectors.assignments_page(qs=qs, page=1, size=3, before=back.previous_cursor)
    assert [a.pk for a in first.items] == [a.pk for a in pages[0].items] and not first.has_previous


def test_the_list_page_links_carry_the_cursor(client, coordinator, program) -> None:
    AssignmentFactory.create_batch(selectors.PAGE_SIZE + 2, program=program)
    login(client, coordinator)
    first = client.get(reverse("assignments:list"), {"sort": "oldest"})
    link = re.search(r'href="\?([^"]*after=[^"]*)" rel="next"', first.content.decode())
    assert link, "the Next link carries no cursor"
    with CaptureQueriesContext(connection) as queries:
        second = client.get(f"{reverse('assignments:list')}?{html.unescape(link.group(1))}")
    assert _no_offset(queries)
    page = second.context["page"]
    assert page.number == 2 and len(page.items) == 2 and not page.has_next
    previous = re.search(r'href="\?([^"]*before=[^"]*)" rel="prev"', second.content.decode())
    assert previous, "the Previous link carries no cursor"


def test_a_cursor_that_does_not_decode_starts_from_the_top(client, coordinator, program) -> None:
    rows = AssignmentFactory.create_batch(3, program=program)
    login(client, coordinator)
    response = client.get(reverse("assignments:list"), {"sort": "oldest", "after": "not-a-cursor%%"})
    assert response.status_code == 200
    assert [a.pk for a in response.context["page"].items] == [a.pk for a in rows]

"""The create form's small points: the picker says when it shows only the first matches, and the no-JavaScript
hint is shown only without JavaScript."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mentorship.assignments.views import PICKER_LIMIT
from tests.conftest import login
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


def _options(client, term: str) -> str:
    url = reverse("assignments:person_options")
    return client.get(url, {"field": "mentor", "mentor_q": term}, headers={"HX-Request": "true"}).content.decode()


def test_more_matches_than_shown_says_the_first_ones(client, coordinator):
    for i in range(PICKER_LIMIT + 5):
        PersonFactory(name=f"Quinn Many{i:02d}")
    body = _options(login(client, coordinator), "Quinn")
    assert f"The first {PICKER_LIMIT} matches: choose one, or type more to narrow" in body
    assert "Choose one of" not in body
    assert body.count("Quinn Many") == PICKER_LIMIT


def test_all_matches_shown_says_choose_one(client, coordinator):
    for i in range(3):
        PersonFactory(name=f"Rory Few{i}")
    body = _options(login(client, coordinator), "Rory")
    assert "Choose one of 3 matches" in body


def test_the_no_javascript_hint_is_only_for_browsers_without_it(client, coordinator):
    body = login(client, coordinator).get(reverse("assignments:create")).content.decode()
    hint = body.index("Without JavaScript")
    assert body.rfind("<noscript>", 0, hint) > body.rfind("</noscript>", 0, hint)

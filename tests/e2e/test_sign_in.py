"""The browser stack itself: Debian's chromium signs a coordinator in through the real login form."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.e2e.axe import assert_no_serious_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_in_page_is_accessible_and_signs_a_coordinator_in(live_server, browser_page, coordinator) -> None:
    page = browser_page
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    assert_no_serious_violations(page)

    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert "/accounts/login/" in page.url

    page.get_by_label("Username").fill("coordinator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    assert "/accounts/login/" not in page.url

"""Steps every browser journey takes: sign in through the login form, sign out, wait for the worker's result."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import PASSWORD
from tests.e2e.axe import assert_no_serious_violations


def sign_in(page: Any, url: str, username: str, *, password: str = PASSWORD, open_form: bool = True) -> None:
    """Sign in through the login form (opened first unless the page already shows it)."""
    if open_form:
        page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    assert_no_serious_violations(page)


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").wait_for()


def reload_until(page: Any, text: str, *, timeout: float = 60) -> None:
    """Reload the page until `text` shows (the worker runs on its own schedule), failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not page.get_by_text(text).first.is_visible():
        assert time.monotonic() < deadline, f"Timed out after {timeout:.0f}s waiting for {text!r} on {page.url}"
        page.wait_for_timeout(500)  # a poll interval, not a wait for the outcome
        page.reload()

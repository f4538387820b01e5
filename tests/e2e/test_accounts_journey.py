"""Staff accounts and "Waiting for you" in the browser, axe-core on every page: an admin invites a coordinator who
sets a password from the e-mailed link and sees only their programs; a password reset; a switched-off account
signed out at once; a second approver who finds the proposal in their queue from the e-mail's link."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.journey import sign_in
from tests.e2e.shots import screenshot
from tests.factories import propose

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
NEW_PASSWORD = "lantern-orchard-42"


def _link(pattern: str) -> str:
    """The path of the newest mail's link matching `pattern` (the mail goes to Django's test outbox)."""
    assert mail.outbox, "no mail was sent"
    found = re.search(r"https?://[^/\s]+(" + pattern + r")", mail.outbox[-1].body)
    assert found, mail.outbox[-1].body
    return found.group(1)


def _sign_in_with(page: Any, url: str, username: str, password: str) -> None:
    sign_in(page, url, username, password=password, open_form=False)


def _check(page: Any) -> None:
    assert_no_serious_violations(page)


def test_admin_invites_a_coordinator_who_sets_a_password_and_sees_only_their_programs(
    live_server: Any, browser_page: Any, admin_user: Any, program: Any, other_program: Any
) -> None:
    page = browser_page
    sign_in(page, live_server.url, admin_user.username)
    page.get_by_role("link", name="Accounts").click()
    page.get_by_role("heading", name="Accounts").wait_for()
    _check(page)
    page.get_by_role("link", name="Invite a person").click()
    page.get_by_label("Name").fill("Nina New")
    page.get_by_label("E-mail address").fill("nina@school.test")
    page.get_by_label("Coordinator").check()
    page.get_by_label(program.name).check()
    _check(page)
    screenshot(page, "admin-invite")
    page.get_by_role("button", name="Send the invitation").click()
    page.get_by_text("Invitation sent to nina@school.test").wait_for()
    _check(page)
    screenshot(page, "admin-accounts")
    page.get_by_role("button", name="Sign out").click()

    link = _link(r"/accounts/invitation/[^/\s]+/")
    assert mail.outbox[-1].to == ["nina@school.test"]
    page.goto(f"{live_server.url}{link}")
    page.get_by_role("heading", name="Welcome to Mentor Link").wait_for()
    _check(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    screenshot(page, "invitation-set-password")
    page.get_by_role("button", name="Set my password").click()
    page.get_by_text("Your password is set").wait_for()
    _sign_in_with(page, live_server.url, "nina@school.test", NEW_PASSWORD)
    page.get_by_role("heading", name="Dashboard").wait_for()
    page.get_by_role("link", name="Programs").click()
    page.get_by_role("link", name=program.name).wait_for()
    assert page.get_by_text(other_program.name).count() == 0
    _check(page)

    # The link works once.
    page.goto(f"{live_server.url}{link}")
    page.get_by_text("This invitation was accepted already").wait_for()
    _check(page)


def test_a_coordinator_resets_a_forgotten_password(live_server: Any, browser_page: Any, coordinator: Any) -> None:
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot password?").click()
    page.get_by_role("heading", name="Forgot your password?").wait_for()
    _check(page)
    page.get_by_label("Email").fill(coordinator.email)
    screenshot(page, "password-reset")
    page.get_by_role("button", name="Send the link").click()
    page.get_by_role("heading", name="Check your mail").wait_for()
    _check(page)

    reset_link = _link(r"/accounts/password/reset/[^/\s]+/[^/\s]+/")
    page.goto(f"{live_server.url}{reset_link}")
    page.get_by_role("heading", name="Choose a new password").wait_for()
    _check(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the password").click()
    page.get_by_role("heading", name="Your new password is set").wait_for()
    page.get_by_role("link", name="Sign in").click()
    _sign_in_with(page, live_server.url, coordinator.username, NEW_PASSWORD)


def test_a_switched_off_account_is_signed_out_at_once(
    live_server: Any, browser: Any, browser_page: Any, admin_user: Any, coordinator: Any
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        theirs = context.new_page()
        sign_in(theirs, live_server.url, coordinator.username)
        theirs.get_by_role("heading", name="Dashboard").wait_for()

        page = browser_page
        sign_in(page, live_server.url, admin_user.username)
        page.goto(f"{live_server.url}/accounts/users/")
        page.get_by_role("button", name="Switch off Casey Coordinator").click()
        page.get_by_text("Casey Coordinator is switched off; 1 open session(s) ended.").wait_for()
        _check(page)

        theirs.reload()
        theirs.get_by_label("Username").wait_for()
        assert "/accounts/login/" in theirs.url
        theirs.get_by_label("Username").fill(coordinator.username)
        theirs.get_by_label("Password").fill(PASSWORD)
        theirs.get_by_role("button", name="Sign in").click()
        theirs.get_by_role("alert").wait_for()
        assert theirs.get_by_role("button", name="Sign out").count() == 0
    finally:
        context.close()


def test_a_second_approver_finds_the_proposal_in_their_queue_from_the_mail(
    live_server: Any,
    browser_page: Any,
    program: Any,
    coordinator: Any,
    second_coordinator: Any,
    mentor_person: Any,
    student_person: Any,
) -> None:
    program.requires_second_approver = True
    program.save()
    assignment = propose(
        program, coordinator, mentor_person, student_person, ends_on=timezone.localdate() + datetime.timedelta(days=90)
    )
    assert mail.outbox[-1].to == [second_coordinator.email]
    link = _link(r"/assignments/\d+/")
    assert link == f"/assignments/{assignment.pk}/"

    page = browser_page
    page.goto(f"{live_server.url}{link}")
    page.get_by_label("Username").wait_for()  # the link leads through sign-in to the item
    _sign_in_with(page, live_server.url, second_coordinator.username, PASSWORD)
    assert page.url.endswith(link)
    page.get_by_text(student_person.name).first.wait_for()
    page.get_by_role("link", name="Dashboard").click()
    queue = page.get_by_role("region", name=re.compile("Waiting for you"))
    queue.get_by_role("link", name=re.compile(f"{mentor_person.name} → {student_person.name}")).wait_for()
    _check(page)
    screenshot(page, "dashboard-waiting")
    queue.get_by_role("link", name=re.compile(student_person.name)).click()
    assert page.url.endswith(link)

"""The mentor's journey in a real browser on the real stack: sign in with Canvas (the fake), see two students, open
one, redeem a pairing code with "Link now", see the link confirmed. axe-core checks every page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fake_canvas.seed import DEMO_PASSWORD, demo_people
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.assignments.services import approval_warnings, assignment_approve
from mentorship.people.models import Person
from mentorship.sync.models import PairingCode
from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.shots import screenshot
from tests.factories import AssignmentFactory
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MENTOR_ID = 201  # AIDE-001 in the fake's demo school
STUDENT_IDS = (11101, 11102)


def _person(data: dict[str, Any]) -> Person:
    listed = {key: data[key] for key in ("name", "sortable_name", "sis_user_id", "login_id", "email")}
    return Person.objects.create(canvas_user_id=data["id"], **listed)


def _approve(assignment: MentorAssignment, coordinator: Any) -> None:
    codes = [w.code for w in approval_warnings(assignment=assignment) if w.needs_confirmation]
    assignment_approve(assignment=assignment, actor=coordinator, note="Journey test", acknowledged=codes)


def _two_approved_assignments(program: Any, coordinator: Any) -> tuple[MentorAssignment, MentorAssignment, PairingCode]:
    """AIDE-001 mentors two students: one linked as an observee, one waiting on a pairing code. Returns both
    assignments and the code, once the real worker has done its part."""
    people = {p["id"]: p for p in demo_people()}
    mentor = _person(people[MENTOR_ID])
    first, second = (_person(people[i]) for i in STUDENT_IDS)
    observee = AssignmentFactory(
        program=program, mentor=mentor, student=first, link_method=LinkMethod.OBSERVEE, proposed_by=coordinator
    )
    by_code = AssignmentFactory(
        program=program, mentor=mentor, student=second, link_method=LinkMethod.PAIRING_CODE, proposed_by=coordinator
    )
    _approve(observee, coordinator)
    _approve(by_code, coordinator)

    # The real worker links the first pair in Canvas and gets a pairing code for the second.
    def settled() -> bool:
        observee.refresh_from_db()
        return (
            observee.link_state == MentorAssignment.LinkState.LINKED
            and PairingCode.objects.filter(assignment=by_code, status=PairingCode.Status.ISSUED).exists()
        )

    wait_until(settled, timeout=60, message="the worker to link the first student and issue the second's code")
    return observee, by_code, PairingCode.objects.get(assignment=by_code, status=PairingCode.Status.ISSUED)


def _sign_in_with_canvas(page: Any, login: str) -> None:
    """Follow "Sign in with Canvas" through the fake Canvas's own sign-in page."""
    page.get_by_role("link", name="Sign in with Canvas").click()
    page.wait_for_url(re.compile(r".*/login/oauth2/auth.*"))
    page.get_by_label("Login").fill(login)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log In and Authorize").click()


def test_mentor_signs_in_with_canvas_sees_students_and_links_by_pairing_code(
    stack, browser_page, program, coordinator
) -> None:
    observee, by_code, code = _two_approved_assignments(program, coordinator)
    first, second = observee.student, by_code.student
    mentor_login = next(p["login_id"] for p in demo_people() if p["id"] == MENTOR_ID)
    page = browser_page
    page.goto(f"{stack.url}/accounts/login/")
    assert_no_serious_violations(page)
    _sign_in_with_canvas(page, mentor_login)

    page.wait_for_url(f"{stack.url}/my/")
    page.get_by_role("heading", name="My students").wait_for()
    assert page.get_by_role("heading", name=first.name).is_visible()
    assert page.get_by_role("heading", name=second.name).is_visible()
    waiting = page.locator(f"#assignment-{by_code.pk}")
    assert "Waiting for you to enter your pairing code" in waiting.inner_text()
    assert code.code in waiting.inner_text()
    assert_no_serious_violations(page)
    screenshot(page, "mentor-my-students")

    # One student's courses and work, read from Canvas with the mentor's own token.
    page.get_by_role("link", name=first.name, exact=True).click()
    page.wait_for_url(f"{stack.url}/my/students/{observee.pk}/")
    page.get_by_role("heading", name=first.name, level=1).wait_for()
    assert page.get_by_text("as you see it with your Canvas sign-in").is_visible()
    assert page.locator("section.course").count() > 0
    assert_no_serious_violations(page)
    screenshot(page, "mentor-student")

    # Back to the list; redeem the pairing code with one click.
    page.get_by_role("link", name="My students").first.click()
    page.wait_for_url(f"{stack.url}/my/")
    card = page.locator(f"#assignment-{by_code.pk}")
    card.get_by_role("button", name="Link now").click()
    card.get_by_text("Linked", exact=True).wait_for()
    assert "Waiting for you" not in card.inner_text()
    assert (MENTOR_ID, STUDENT_IDS[1]) in stack.canvas.observer_links()
    code.refresh_from_db()
    assert code.status == PairingCode.Status.REDEEMED
    assert_no_serious_violations(page)
    screenshot(page, "mentor-linked")

    # The mentor removes Mentor Link from their approved integrations in Canvas: the student page asks them to sign
    # in with Canvas again, shows no work, and the sign-in brings them back to that page.
    stack.canvas.control("POST", "revoke", {"user_id": MENTOR_ID})
    page.goto(f"{stack.url}/my/students/{observee.pk}/")
    page.get_by_text(f"Sign in with Canvas again to see {first.name}\u2019s work.").wait_for()
    assert page.locator("section.course").count() == 0
    assert_no_serious_violations(page)
    _sign_in_with_canvas(page, mentor_login)
    page.wait_for_url(f"{stack.url}/my/students/{observee.pk}/")
    page.locator("section.course").first.wait_for()
    assert page.get_by_text("as you see it with your Canvas sign-in").is_visible()

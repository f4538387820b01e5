"""A coordinator's day in the browser: sign in, import a CSV, approve two in bulk, reject one with a reason, and
watch the real worker link the approved ones in the fake Canvas. axe-core checks every page on the way."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from mentorship.assignments.models import MentorAssignment
from mentorship.sync.models import ObserverLink
from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.journey import sign_in
from tests.e2e.shots import screenshot
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Demo-school people of the fake Canvas (fake_canvas.seed): aides mentor students. None is in the portal
# yet, so the import looks every one of them up in Canvas.
PAIRS = [("AIDE-001", "S-1101"), ("AIDE-002", "S-1102"), ("AIDE-003", "S-1103")]


def write_csv(folder: Path) -> Path:
    today = timezone.localdate()
    ends = today + datetime.timedelta(days=60)
    lines = ["mentor,student,starts_on,ends_on,scope,method,reason"]
    lines += [f"sis_user_id:{m},sis_user_id:{s},{today},{ends},,observee,Learning support aide" for m, s in PAIRS]
    path = folder / "aides.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_coordinator_imports_approves_rejects_and_sees_links(
    stack: Any, browser_page: Any, coordinator: Any, program: Any, tmp_path: Path
) -> None:
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())  # data-confirm on destructive buttons
    sign_in(page, stack.url, coordinator.username)
    page.get_by_role("heading", name="Dashboard").wait_for()
    _import_three(page, program=program, csv_path=write_csv(tmp_path))
    first, second, third = MentorAssignment.objects.order_by("pk")
    _approve_two_reject_one(page, stack.url, approve=(first, second), reject=third)

    # The worker links the approved ones in Canvas; the detail page says so.
    wait_until(
        lambda: ObserverLink.objects.filter(assignment__in=[first, second], state="linked").count() == 2,
        timeout=60,
        message="both approved assignments linked in Canvas",
    )
    for assignment in (first, second):
        page.goto(f"{stack.url}/assignments/{assignment.pk}/")
        page.get_by_text("Linked in Canvas at").wait_for()
    assert_no_serious_violations(page)
    screenshot(page, "coordinator-linked")
    expected = {(a.mentor.canvas_user_id, a.student.canvas_user_id) for a in (first, second)}
    assert expected <= stack.canvas.observer_links()
    assert (third.mentor.canvas_user_id, third.student.canvas_user_id) not in stack.canvas.observer_links()

    page.get_by_role("link", name="Dashboard").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    # The figures include what was just decided (not figures kept from the first visit).
    assert page.locator("a.card", has_text="Approved").inner_text().split() == ["2", "Approved"]
    assert page.locator("a.card", has_text="Rejected").inner_text().split() == ["1", "Rejected"]
    assert_no_serious_violations(page)
    screenshot(page, "coordinator-dashboard")
    _check_the_other_pages(page, stack.url, mentor_name=first.mentor.name)


def _import_three(page: Any, *, program: Any, csv_path: Path) -> None:
    """Upload the CSV, read the preview, confirm: three proposals."""
    page.get_by_role("link", name="Assignments", exact=True).click()
    page.get_by_role("link", name="Import a CSV", exact=True).click()
    assert_no_serious_violations(page)
    page.get_by_label("Program").select_option(str(program.pk))
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Check the file").click()
    page.get_by_text("Every row is fine").wait_for()
    assert_no_serious_violations(page)
    screenshot(page, "coordinator-import-preview")
    page.get_by_role("button", name="Create 3 proposed assignments").click()
    page.get_by_text("Imported 3 proposed assignment(s)").wait_for()
    assert MentorAssignment.objects.filter(status="proposed").count() == 3
    assert_no_serious_violations(page)


def _approve_two_reject_one(page: Any, url: str, *, approve: tuple[Any, Any], reject: Any) -> None:
    """Approve two from the list in one go; reject the third on its page, with a reason."""
    for assignment in approve:
        page.get_by_label(f"Select {assignment.mentor.name} → {assignment.student.name}").check()
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_text("2 of 2 selected assignments approved.").wait_for()
    screenshot(page, "coordinator-bulk-approved")

    page.goto(f"{url}/assignments/{reject.pk}/")
    assert_no_serious_violations(page)
    page.get_by_label("Reason for rejecting (required)").fill("The student already has an aide this term.")
    page.get_by_role("button", name="Reject").click()
    page.get_by_text("Assignment rejected.").wait_for()
    reject.refresh_from_db()
    assert reject.status == "rejected" and reject.decision_note == "The student already has an aide this term."


def _check_the_other_pages(page: Any, url: str, *, mentor_name: str) -> None:
    """The other coordinator pages pass the same accessibility check; search-as-you-type fills the mentor picker."""
    for path, heading in (
        ("/assignments/new/", "Propose an assignment"),
        ("/people/", "People"),
        ("/programs/", "Programs"),
    ):
        page.goto(f"{url}{path}")
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        assert_no_serious_violations(page)
    page.goto(f"{url}/assignments/new/")
    page.get_by_label("Search the mentor by name, SIS id or login").fill(mentor_name[:5])
    page.locator("#id_mentor option", has_text=mentor_name).first.wait_for(state="attached")
    screenshot(page, "coordinator-create")

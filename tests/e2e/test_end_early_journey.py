"""'End early' updates by itself: the coordinator ends an assignment and, without reloading, the page goes from
"Waiting to sync" to "Removed from Canvas" once the real worker has removed the link in the fake Canvas."""

from __future__ import annotations

from typing import Any

import pytest

from demo_school import demo_people
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.assignments.services import approval_warnings, assignment_approve
from mentorship.people.models import Person
from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.journey import sign_in
from tests.e2e.shots import screenshot
from tests.factories import AssignmentFactory
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MENTOR_ID, STUDENT_ID = 203, 11103  # AIDE-003 and S-1103 in the fake's demo school


def _linked_assignment(program: Any, coordinator: Any, approver: Any) -> MentorAssignment:
    people = {p["id"]: p for p in demo_people()}
    mentor, student = (
        Person.objects.create(
            canvas_user_id=i, **{k: people[i][k] for k in ("name", "sortable_name", "sis_user_id", "login_id")}
        )
        for i in (MENTOR_ID, STUDENT_ID)
    )
    assignment = AssignmentFactory(
        program=program, mentor=mentor, student=student, link_method=LinkMethod.OBSERVEE, proposed_by=coordinator
    )
    codes = [w.code for w in approval_warnings(assignment=assignment) if w.needs_confirmation]
    assignment_approve(assignment=assignment, actor=approver, note="Journey test", acknowledged=codes)

    def linked() -> bool:
        assignment.refresh_from_db()
        return assignment.link_state == MentorAssignment.LinkState.LINKED

    wait_until(linked, timeout=60, message="the worker to link the mentor in Canvas")
    return assignment


@pytest.mark.parametrize("hold_the_worker", [False, True])
def test_end_early_updates_by_itself(
    stack, browser_page, program, coordinator, second_coordinator, hold_the_worker
) -> None:
    assignment = _linked_assignment(program, coordinator, second_coordinator)
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, stack.url, coordinator.username)
    page.goto(f"{stack.url}/assignments/{assignment.pk}/")
    page.get_by_text("Linked in Canvas at").wait_for()
    if hold_the_worker:
        stack.worker.kill()  # hold the worker so the page is seen waiting, then let it go
    page.get_by_label("Reason for ending early (required)").fill("The student moved to another school.")
    page.get_by_role("button", name="End the assignment").click()
    page.get_by_text("Assignment ended.").wait_for()
    url = page.url
    if hold_the_worker:
        page.get_by_text("Waiting to sync").first.wait_for()
        assert_no_serious_violations(page)
        screenshot(page, "coordinator-end-early-waiting")
        stack.worker.start()
    # No reload: the page polls until Canvas is updated (the worker takes about a second).
    page.get_by_text("Removed from Canvas at").wait_for(timeout=60_000)
    assert page.url == url
    # The whole page reloaded itself once Canvas was updated: the timeline has the worker's outcome too.
    page.locator("ol.timeline").get_by_text("Removed from Canvas").wait_for()
    assert not page.get_by_text("Waiting to sync").is_visible()
    assert (MENTOR_ID, STUDENT_ID) not in stack.canvas.observer_links()
    assert page.locator("#assignment-status").inner_text().startswith("Ended")
    screenshot(page, "coordinator-end-early-done")

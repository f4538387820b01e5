"""Two end-to-end journeys in the browser against the real stack (live portal, real worker, fake Canvas over HTTP):
a two-coordinator assignment scoped to two courses, from proposal to Canvas link to early end; and an admin setting
up a program and a coordinator and finding that in the audit log. axe-core checks every page visited."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from mentorship.accounts.models import ProgramRole
from mentorship.assignments.models import MentorAssignment, Program
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.people.services import person_upsert_from_canvas
from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.journey import reload_until, sign_in, sign_out
from tests.e2e.shots import screenshot
from tests.factories import UserFactory
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def observer_enrollments(stack: Any, observer_id: int) -> list[dict[str, Any]]:
    data = stack.canvas.control("GET", f"enrollments?type=ObserverEnrollment&state=active&user_id={observer_id}")
    return list(data["enrollments"])


def _propose_in_courses(page: Any, url: str, *, mentor: Any, student: Any, courses: list[Any]) -> None:
    """Fill the proposal form as a coordinator would: search both people, tick the courses, give the dates and why."""
    page.goto(f"{url}/assignments/new/")
    page.get_by_role("heading", name="Propose an assignment").wait_for()
    assert_no_serious_violations(page)
    page.get_by_label("Search the mentor by name, SIS id or login").fill("AIDE-007")
    page.locator("#id_mentor option", has_text=mentor.name).first.wait_for(state="attached")
    page.locator("#id_mentor").select_option(str(mentor.pk))
    page.get_by_label("Search the student by name, SIS id or login").fill("S-1107")
    page.locator("#id_student option", has_text=student.name).first.wait_for(state="attached")
    page.locator("#id_student").select_option(str(student.pk))
    for course in courses:
        page.locator(f"#course-{course.id}").check()
    page.locator("#id_link_method").select_option("courses")
    page.locator("#id_ends_on").fill(str(timezone.localdate() + datetime.timedelta(days=30)))
    page.locator("#id_reason").fill("Reading support in two courses.")
    assert_no_serious_violations(page)
    screenshot(page, "journey-coordinator-propose")
    page.get_by_role("button", name="Propose").last.click()
    page.get_by_role("heading", name=f"{mentor.name} mentors {student.name}").wait_for()


def test_two_coordinators_link_a_course_scoped_assignment_and_end_it(
    stack: Any, browser_page: Any, coordinator: Any, second_coordinator: Any, program: Any
) -> None:
    Program.objects.filter(pk=program.pk).update(requires_second_approver=True)
    client = stack.canvas.client()
    mentor, _ = person_upsert_from_canvas(canvas_user=client.get_user("sis_user_id:AIDE-007"), system_actor="test")
    student, _ = person_upsert_from_canvas(canvas_user=client.get_user("sis_user_id:S-1107"), system_actor="test")
    courses = sorted(client.list_user_courses(student.canvas_user_id, state=["available"]), key=lambda c: c.name)
    assert len(courses) >= 2, "the demo student should have several courses"
    picked = courses[:2]
    # The create page caches a student's courses by Person id; an earlier test may have left an entry for this id.
    cache.delete(f"assignments:student-courses:{student.pk}")

    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, stack.url, coordinator.username)
    _propose_in_courses(page, stack.url, mentor=mentor, student=student, courses=picked)
    assignment = MentorAssignment.objects.get(mentor=mentor, student=student)
    assert assignment.status == "proposed" and assignment.link_method == "courses"
    assert_no_serious_violations(page)
    sign_out(page)

    sign_in(page, stack.url, second_coordinator.username)
    page.goto(f"{stack.url}/assignments/{assignment.pk}/")
    assert_no_serious_violations(page)
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("Assignment approved.").wait_for()
    reload_until(page, "Linked in Canvas")
    assert_no_serious_violations(page)
    screenshot(page, "journey-coordinator-linked")
    expected = {c.id for c in picked}
    wait_until(
        lambda: {e["course_id"] for e in observer_enrollments(stack, mentor.canvas_user_id)} == expected,
        timeout=30,
        message="an observer enrollment in each of the two courses in the fake Canvas",
    )

    page.get_by_label("Reason for ending early (required)").fill("The student moved to another school.")
    page.get_by_role("button", name="End the assignment").click()
    page.get_by_text("Assignment ended.").wait_for()
    assert_no_serious_violations(page)
    wait_until(
        lambda: not observer_enrollments(stack, mentor.canvas_user_id),
        timeout=60,
        message="the observer enrollments to be removed from the fake Canvas",
    )
    page.reload()
    assert_no_serious_violations(page)
    screenshot(page, "journey-coordinator-ended")
    assignment.refresh_from_db()
    assert assignment.end_reason == "The student moved to another school."


def test_admin_creates_a_program_grants_a_coordinator_and_finds_it_in_the_audit_log(
    live_server: Any, browser_page: Any, admin_user: Any
) -> None:
    staff = UserFactory(username="jlee", first_name="Jordan", last_name="Lee")
    page = browser_page
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/programs/new/")
    assert_no_serious_violations(page)
    page.locator("#id_name").fill("Reading Buddies")
    page.locator("#id_slug").fill("reading-buddies")
    page.locator("#id_requires_second_approver").check()
    screenshot(page, "journey-admin-program-form")
    page.get_by_role("button", name="Create").click()
    page.get_by_text("Program Reading Buddies created.").wait_for()
    assert_no_serious_violations(page)
    program = Program.objects.get(slug="reading-buddies")
    assert program.requires_second_approver

    page.locator("#id_user").select_option(label="Jordan Lee (jlee)")  # the menu names people as the role table does
    page.locator("#id_role").select_option(ProgramRole.Role.COORDINATOR.value)
    page.get_by_role("button", name="Grant").click()
    page.get_by_text(f"{staff.username} is now").wait_for()
    assert_no_serious_violations(page)
    screenshot(page, "journey-admin-roles")
    assert ProgramRole.objects.filter(program=program, user=staff, role=ProgramRole.Role.COORDINATOR).exists()

    page.goto(f"{live_server.url}/audit/")
    page.get_by_role("heading", name="Audit log").wait_for()
    page.get_by_label("Action").select_option(Action.ROLE_GRANTED.value)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**action=role.granted**")
    assert page.locator("table tbody tr").count() == 1
    assert_no_serious_violations(page)
    screenshot(page, "journey-admin-audit")
    assert AuditEvent.objects.filter(action=Action.ROLE_GRANTED, actor=admin_user).count() == 1

"""The auditor's journey in a real browser: sign in, filter the log, verify the chain, open an evidence report."""

from __future__ import annotations

import pytest

from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.audit.services import audit_record
from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.journey import sign_in
from tests.e2e.shots import screenshot
from tests.factories import record_link_and_view

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_auditor_filters_verifies_and_reads_an_evidence_report(
    live_server, browser_page, auditor, second_coordinator, program, student_person, approved_assignment
) -> None:
    where = {"program": program, "student": student_person}
    audit_record(action=Action.ASSIGNMENT_APPROVED, actor=second_coordinator, obj=approved_assignment, **where)
    record_link_and_view(approved_assignment)
    page = browser_page
    sign_in(page, live_server.url, "auditor")
    page.get_by_role("heading", name="Audit log").wait_for()

    page.get_by_label("Action").select_option(Action.STUDENT_DATA_VIEWED.value)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**action=student_data.viewed**")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1

    page.get_by_role("button", name="Verify the chain now").click()
    page.get_by_text("Verified: All").wait_for()
    assert page.get_by_text("Chain intact").is_visible()
    screenshot(page, "audit-log")

    page.get_by_role("link", name=student_person.name).first.click()
    page.get_by_role("heading", name="Who could see this student's work").wait_for()
    assert page.get_by_text("Sam Second").first.is_visible()
    assert page.get_by_text("still linked").is_visible()
    assert_no_serious_violations(page)
    screenshot(page, "audit-evidence")
    assert AuditEvent.objects.filter(action=Action.EVIDENCE_REPORT, actor=auditor).exists()


def test_auditor_searches_the_log_by_a_persons_name_and_reads_sentences(
    live_server, browser_page, auditor, coordinator, second_coordinator, program, approved_assignment
) -> None:
    """ "Casey" finds Casey Coordinator's events; each reads as a sentence with names, the ids on hover."""
    where = {"program": program, "student": approved_assignment.student, "obj": approved_assignment}
    audit_record(action=Action.ASSIGNMENT_PROPOSED, actor=coordinator, details={"reason": "Reading support"}, **where)
    audit_record(action=Action.ASSIGNMENT_APPROVED, actor=second_coordinator, details={"note": "Agreed"}, **where)
    record_link_and_view(approved_assignment)
    page = browser_page
    sign_in(page, live_server.url, "auditor")
    page.get_by_role("heading", name="Audit log").wait_for()
    assert page.get_by_text("the chain check below covers every one of them").is_visible()

    page.get_by_label("Anyone named").fill("Casey")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**person=Casey**")
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    sentence = rows.first.locator("td.sentence").inner_text()
    assert sentence == "Casey Coordinator proposed Morgan Mentor as mentor of Sasha Student in Learning Support 2026-27"
    assert rows.first.get_by_text("Reading support").is_visible()  # the reason, as a labelled field
    mentor = rows.first.locator("td.sentence span.name", has_text="Morgan Mentor")
    assert "AIDE-001" in (mentor.get_attribute("title") or "")  # ids on hover
    assert_no_serious_violations(page)

    page.get_by_label("Anyone named").fill("Morgan")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**person=Morgan**")
    sentences = page.locator("td.sentence").all_inner_texts()
    assert "Sam Second approved Morgan Mentor as mentor of Sasha Student in Learning Support 2026-27" in sentences
    assert any(s.startswith("Canvas gave Morgan Mentor access to Sasha Student's work") for s in sentences)
    assert not any("{" in s for s in page.locator("td[data-label='Details']").all_inner_texts())
    screenshot(page, "audit-log-search")

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
    audit_record(action=Action.ASSIGNMENT_APPROVED, actor=second_coordinator, program=program, student=student_person)
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

    page.get_by_role("link", name=str(student_person.pk)).first.click()
    page.get_by_role("heading", name="Who could see this student's work").wait_for()
    assert page.get_by_text("coordinator2").first.is_visible()
    assert page.get_by_text("still linked").is_visible()
    assert_no_serious_violations(page)
    screenshot(page, "audit-evidence")
    assert AuditEvent.objects.filter(action=Action.EVIDENCE_REPORT, actor=auditor).exists()

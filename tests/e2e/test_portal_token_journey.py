"""An admin replaces the portal's Canvas token in the browser (issue 14, item 7): a token Canvas refuses is turned
away with the reason and changes nothing; a working one is stored and named. The fake Canvas answers over HTTP;
axe-core checks every page visited."""

from __future__ import annotations

from typing import Any

import pytest

from mentorship.audit.models import AuditEvent
from mentorship.core.canvas import portal_token
from mentorship.core.models import PortalCanvasToken
from tests.e2e.axe import assert_no_serious_violations
from tests.e2e.test_journeys import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_admin_replaces_the_portal_token_after_a_refused_one(
    live_server: Any, browser_page: Any, admin_user: Any, canvas_server: Any
) -> None:
    service = canvas_server.control("POST", "users", {"name": "Mentor Link Service", "admin": True})
    new_token = canvas_server.control("POST", "tokens", {"user_id": service["id"]})["token"]
    page = browser_page
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/sync/connection/")
    page.get_by_role("link", name="Replace the portal's Canvas token").click()
    page.get_by_role("heading", name="The portal's Canvas token").wait_for()
    assert_no_serious_violations(page)

    page.get_by_label("New Canvas token").fill("7~this-token-was-deleted")
    page.get_by_role("button", name="Test and use this token").click()
    page.get_by_text("Canvas does not accept this token").wait_for()
    assert_no_serious_violations(page)
    assert not PortalCanvasToken.objects.exists()
    assert portal_token() == canvas_server.admin_token

    page.get_by_label("New Canvas token").fill(new_token)
    page.get_by_role("button", name="Test and use this token").click()
    page.get_by_text("The portal now uses the token of Mentor Link Service").wait_for()
    assert_no_serious_violations(page)
    assert new_token not in page.content()
    assert portal_token() == new_token
    assert AuditEvent.objects.filter(action="canvas.token_replaced", actor=admin_user).count() == 1

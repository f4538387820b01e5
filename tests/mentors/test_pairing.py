"""Pairing codes on the mentor's page: only their own code, "Link now" with their token, the polled fragment."""

from __future__ import annotations

import pytest

from canvas_client import CanvasClient
from mentorship.accounts.models import User
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent
from mentorship.sync.models import PairingCode
from mentorship.sync.services import pairing_code_issue
from tests.accounts.canvas_world import ADMIN_TOKEN, BASE, World
from tests.conftest import login
from tests.factories import AssignmentFactory, UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def coded(world: World, program, coordinator) -> tuple[MentorAssignment, PairingCode]:  # type: ignore[no-untyped-def]
    assignment = AssignmentFactory(
        program=program,
        mentor=world.mentor_person,
        student=world.student_person,
        status=MentorAssignment.Status.APPROVED,
        link_method=LinkMethod.PAIRING_CODE,
        proposed_by=coordinator,
        decided_by=coordinator,
    )
    admin = CanvasClient(BASE, ADMIN_TOKEN, session=world.session())
    code = pairing_code_issue(assignment=assignment, actor=coordinator, client=admin)
    assignment.refresh_from_db()
    assert assignment.link_state == MentorAssignment.LinkState.AWAITING_REDEMPTION
    return assignment, code


def _canvas_mentor(world: World, client) -> User:  # type: ignore[no-untyped-def]
    assert world.canvas_sign_in(client).status_code == 302
    return User.objects.get(person=world.mentor_person)


def test_mentor_sees_their_code_expiry_link_now_and_instructions(world, coded, client) -> None:
    assignment, code = coded
    _canvas_mentor(world, client)
    html = client.get("/my/").content.decode()
    assert code.code in html
    assert "Waiting for you to enter your pairing code" in html
    assert f'action="/my/students/{assignment.pk}/link/now/"' in html
    assert "Link now" in html
    assert f"{BASE}/profile/observees" in html
    assert "Observing" in html
    # Polls the small fragment while waiting.
    assert f'hx-get="/my/students/{assignment.pk}/link/"' in html
    assert 'hx-trigger="every 5s"' in html


def test_other_mentor_never_sees_the_code(world, coded, client, other_mentor) -> None:
    assignment, code = coded
    login(client, other_mentor)
    assert code.code not in client.get("/my/").content.decode()
    assert client.get(f"/my/students/{assignment.pk}/link/", **HTMX).status_code == 404


def test_local_sign_in_gets_instructions_but_no_link_now_button(world, coded, client) -> None:
    _, code = coded
    login(client, UserFactory(username="local", person=world.mentor_person))
    html = client.get("/my/").content.decode()
    assert code.code in html
    assert "Link now" not in html
    assert "/profile/observees" in html


def test_link_now_redeems_with_the_mentors_token_and_the_fragment_confirms(world, coded, client) -> None:
    assignment, code = coded
    user = _canvas_mentor(world, client)

    response = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Linked" in html
    assert "You are now linked to Sasha Student in Canvas." in html
    assert "hx-trigger" not in html  # polling stops once linked
    assert (world.mentor["id"], world.student["id"]) in world.fake.observer_links()
    code.refresh_from_db()
    assert code.status == PairingCode.Status.REDEEMED
    assert code.redeemed_by_canvas_id == world.mentor["id"]
    assignment.refresh_from_db()
    assert assignment.link_state == MentorAssignment.LinkState.LINKED
    redeemed = AuditEvent.objects.get(action=Action.PAIRING_CODE_REDEEMED)
    assert redeemed.actor_id == user.pk
    assert code.code not in str(redeemed.details)
    # Canvas saw the redemption on the mentor's own behalf.
    assert any(r["method"] == "POST" and r["path"] == "/api/v1/users/self/observees" for r in world.fake.request_log)


def test_link_now_without_htmx_redirects_with_a_message(world, coded, client) -> None:
    assignment, _ = coded
    _canvas_mentor(world, client)
    response = client.post(f"/my/students/{assignment.pk}/link/now/", follow=True)
    html = response.content.decode()
    assert "You are now linked to Sasha Student in Canvas." in html
    assert "Linked" in html


def test_link_now_with_local_sign_in_explains_what_to_do(world, coded, client) -> None:
    assignment, code = coded
    login(client, UserFactory(username="local", person=world.mentor_person))
    response = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX)
    html = response.content.decode()
    assert "needs your Canvas sign-in" in html
    assert "hx-trigger" not in html  # the sentence stays until the mentor reloads or clicks "Check again"
    assert "Check again" in html
    code.refresh_from_db()
    assert code.status == PairingCode.Status.ISSUED
    assert world.fake.observer_links() == set()


def test_link_status_fragment_follows_the_link(world, coded, client) -> None:
    assignment, _ = coded
    _canvas_mentor(world, client)
    waiting = client.get(f"/my/students/{assignment.pk}/link/", **HTMX).content.decode()
    assert "Waiting for you to enter your pairing code" in waiting
    assert "hx-trigger" in waiting
    assert "<html" not in waiting  # a fragment, not a page

    # The mentor entered the code in Canvas; the sync engine recorded the link.
    MentorAssignment.objects.filter(pk=assignment.pk).update(link_state=MentorAssignment.LinkState.LINKED)
    PairingCode.objects.filter(assignment=assignment).update(status=PairingCode.Status.REDEEMED)
    linked = client.get(f"/my/students/{assignment.pk}/link/", **HTMX).content.decode()
    assert "Linked" in linked
    assert "hx-trigger" not in linked


def test_link_status_without_htmx_goes_back_to_the_page(world, coded, client) -> None:
    assignment, _ = coded
    _canvas_mentor(world, client)
    response = client.get(f"/my/students/{assignment.pk}/link/")
    assert response.status_code == 302
    assert response["Location"] == f"/my/#assignment-{assignment.pk}"


def test_expired_code_is_not_shown_and_cannot_be_redeemed(world, coded, client) -> None:
    assignment, code = coded
    PairingCode.objects.filter(pk=code.pk).update(status=PairingCode.Status.EXPIRED)
    _canvas_mentor(world, client)
    assert code.code not in client.get("/my/").content.decode()
    response = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX)
    assert "no valid pairing code" in response.content.decode()
    assert world.fake.observer_links() == set()


def test_link_now_while_canvas_is_down_says_so_and_changes_nothing(world, coded, client) -> None:
    assignment, code = coded
    _canvas_mentor(world, client)
    world.fake.configure(error_rate=1.0)  # every Canvas request answers 503, the confirmation too

    response = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Canvas is not answering right now" in html or "Canvas did not accept the pairing code" in html
    code.refresh_from_db()
    assert code.status == PairingCode.Status.ISSUED
    assert world.fake.observer_links() == set()


# --- one state per code everywhere; tokens; "already linked" ------------------------------------------------------


def _links(assignment: MentorAssignment) -> list[str]:
    from mentorship.sync.models import ObserverLink

    return list(ObserverLink.objects.filter(assignment=assignment).values_list("state", flat=True))


def test_link_now_refreshes_an_expired_token_before_redeeming(world, coded, client) -> None:
    import datetime

    import time_machine
    from django.utils import timezone

    assignment, _ = coded
    _canvas_mentor(world, client)
    world.fake.advance_clock(3700)  # Canvas's hour is over, and the portal's record says so too
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=3700), tick=True):
        world.fake.clear_request_log()
        html = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX).content.decode()
    assert "You are now linked to Sasha Student in Canvas." in html
    calls = [(r["method"], r["path"], r["status"]) for r in world.fake.request_log]
    assert calls[0] == ("POST", "/login/oauth2/token", 200)
    assert ("POST", "/api/v1/users/self/observees", 200) in calls
    assert all(status != 401 for _, _, status in calls)


def test_second_tabs_link_now_says_already_linked(world, coded, client) -> None:
    assignment, _ = coded
    _canvas_mentor(world, client)
    first = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX).content.decode()
    assert "You are now linked" in first
    second = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX).content.decode()
    assert "You are already linked to Sasha Student in Canvas." in second
    assert "no valid pairing code" not in second
    redemptions = [r for r in world.fake.request_log if r["path"] == "/api/v1/users/self/observees"]
    assert len(redemptions) == 1


def test_code_canvas_refuses_is_one_state_on_card_ledger_and_coordinators_view(
    world, coded, client, coordinator, monkeypatch
) -> None:
    from mentorship.core import canvas

    # The portal's token confirms whether the mentor observes the student after a refusal.
    monkeypatch.setattr(canvas, "portal_client", lambda **kw: CanvasClient(BASE, ADMIN_TOKEN, session=world.session()))
    assignment, code = coded
    # Someone else used the code in Canvas first: Canvas now answers 422 "Invalid pairing code.".
    stranger = world.session()
    stranger.headers["Authorization"] = f"Bearer {world.fake.mint_token(world.stranger['id'])}"
    assert stranger.post(f"{BASE}/api/v1/users/self/observees", data={"pairing_code": code.code}).status_code == 200
    _canvas_mentor(world, client)

    html = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX).content.decode()

    assert "Canvas no longer accepts this pairing code" in html
    code.refresh_from_db()
    assert code.status == PairingCode.Status.EXPIRED
    assert _links(assignment) == ["failed"]
    assignment.refresh_from_db()
    assert assignment.link_state == MentorAssignment.LinkState.FAILED
    event = AuditEvent.objects.filter(action=Action.PAIRING_CODE_EXPIRED).get()
    assert event.details["reason"] == "canvas_refused"
    card = client.get("/my/").content.decode()
    assert "Not linked yet: your coordinator has been told" in card
    assert code.code not in card and "Waiting for you" not in card
    login(client, coordinator)
    detail = client.get(f"/assignments/{assignment.pk}/").content.decode()
    assert "Canvas no longer accepts the pairing code" in detail


def test_expired_code_gives_the_card_one_state_before_the_watch_runs(world, coded, client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    assignment, code = coded
    PairingCode.objects.filter(pk=code.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    _canvas_mentor(world, client)
    card = client.get("/my/").content.decode()
    assert "Not linked yet: your coordinator has been told" in card
    assert "Waiting for you to enter your pairing code" not in card
    assert "getting a pairing code for you" not in card
    code.refresh_from_db()
    assert code.status == PairingCode.Status.EXPIRED
    assert _links(assignment) == ["failed"]
    # A stale tab's "Link now" says there is no valid code, and Canvas is not asked.
    world.fake.clear_request_log()
    html = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX).content.decode()
    assert "no valid pairing code" in html
    assert not any(r["path"] == "/api/v1/users/self/observees" for r in world.fake.request_log)


def test_link_now_with_a_revoked_token_asks_to_sign_in_and_keeps_the_code(world, coded, client) -> None:
    from mentorship.accounts.models import CanvasCredential

    assignment, code = coded
    user = _canvas_mentor(world, client)
    world.fake.revoke_user_tokens(world.mentor["id"])
    html = client.post(f"/my/students/{assignment.pk}/link/now/", **HTMX).content.decode()
    assert "needs your Canvas sign-in" in html
    assert 'href="/accounts/canvas/start/?next=' in html
    code.refresh_from_db()
    assert code.status == PairingCode.Status.ISSUED
    assert not CanvasCredential.objects.filter(user=user).exists()


def test_pairing_code_for_a_student_without_a_student_enrollment_says_so(world, program, coordinator) -> None:
    from mentorship.sync.services import SyncError, link_sync, links_plan
    from tests.factories import PersonFactory

    nobody = world.fake.add_user(name="Nadia Noenrol", login_id="nadia")
    person = PersonFactory(canvas_user_id=nobody["id"], name="Nadia Noenrol")
    assignment = AssignmentFactory(
        program=program,
        mentor=world.mentor_person,
        student=person,
        status=MentorAssignment.Status.APPROVED,
        link_method=LinkMethod.PAIRING_CODE,
        proposed_by=coordinator,
        decided_by=coordinator,
    )
    admin = CanvasClient(BASE, ADMIN_TOKEN, session=world.session())
    world.fake.clear_request_log()
    with pytest.raises(SyncError, match="Nadia Noenrol has no active student enrollment in Canvas"):
        pairing_code_issue(assignment=assignment, actor=coordinator, client=admin)
    assert not any("observer_pairing_codes" in r["path"] for r in world.fake.request_log)
    # The sync engine's first try says the same, as the link's error for the coordinator.
    (link,) = links_plan(assignment=assignment)
    assert link_sync(link_id=link.pk, generation=link.generation, client=admin) == "failed"
    link.refresh_from_db()
    assert "has no active student enrollment" in link.last_error
    assert "permission" not in link.last_error
    assert not any("observer_pairing_codes" in r["path"] for r in world.fake.request_log)

"""Staff accounts: invitations, set-password links, switching accounts off, password reset and change."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mentorship.accounts import services
from mentorship.accounts.models import Invitation, ProgramRole, User
from mentorship.audit.models import AuditEvent
from tests.conftest import login

PASSWORD = "a-long-new-password-9"
LINK = re.compile(r"https?://\S+/accounts/invitation/(\S+)/")


@pytest.fixture(autouse=True)
def _fresh_reset_counters():
    """The reset limit counts in the shared cache; each test starts from none."""
    cache.clear()


def _invite(admin_user, program, *, role="coordinator", email="New.Person@school.test"):
    return services.invitation_create(email=email, name="Nina New", role=role, programs=[program], actor=admin_user)


def _token(message) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(1)


@pytest.mark.django_db(transaction=True)
def test_invitation_mails_a_single_use_link_that_opens_the_account_with_its_role(admin_user, program, client):
    _invite(admin_user, program)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.person@school.test"]
    token = _token(mail.outbox[0])
    assert Invitation.objects.get().token_hash == services.token_hash(token)  # only the hash is kept
    assert token not in str(Invitation.objects.values_list().get())

    page = client.get(reverse("accounts:invitation", args=[token]))
    assert page.status_code == 200 and b"Learning Support 2026-27" in page.content
    response = client.post(reverse("accounts:invitation", args=[token]), {"password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    user = User.objects.get(email="new.person@school.test")
    assert user.check_password(PASSWORD) and user.get_full_name() == "Nina New"
    assert ProgramRole.objects.filter(user=user, program=program, role="coordinator").exists()
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions == ["account.invited", "role.granted", "account.invitation_accepted"]

    again = client.post(reverse("accounts:invitation", args=[token]), {"password1": "x" * 12, "password2": "x" * 12})
    assert again.status_code == 410 and "accepted already" in again.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert AuditEvent.objects.count() == 3


@pytest.mark.django_db
def test_accepting_twice_in_the_service_is_refused_and_changes_nothing(admin_user, program):
    invited = _invite(admin_user, program)
    token = invited.link.rstrip("/").rsplit("/", 1)[1]
    services.invitation_accept(token=token, password=PASSWORD)
    with pytest.raises(services.AccountError, match="accepted already"):
        services.invitation_accept(token=token, password="another-password-1")
    assert ProgramRole.objects.filter(role="coordinator", user__email="new.person@school.test").count() == 1


@pytest.mark.django_db
def test_expired_withdrawn_and_unknown_links_are_refused(admin_user, program, client):
    invited = _invite(admin_user, program)
    token = invited.link.rstrip("/").rsplit("/", 1)[1]
    Invitation.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert "expired" in client.get(reverse("accounts:invitation", args=[token])).content.decode()
    Invitation.objects.update(expires_at=timezone.now() + datetime.timedelta(days=1))
    services.invitation_withdraw(invitation=invited.invitation, actor=admin_user)
    with pytest.raises(services.AccountError, match="withdrawn"):
        services.invitation_accept(token=token, password=PASSWORD)
    with pytest.raises(services.AccountError, match="withdrawn already"):
        services.invitation_withdraw(invitation=invited.invitation, actor=admin_user)
    assert client.get(reverse("accounts:invitation", args=["nothing"])).status_code == 404
    assert not User.objects.filter(email="new.person@school.test").exists()


@pytest.mark.django_db
def test_an_existing_account_with_the_address_gets_the_role(admin_user, program, mentor):
    invited = _invite(admin_user, program, role="auditor", email=mentor.email)
    services.invitation_accept(token=invited.link.rstrip("/").rsplit("/", 1)[1], password=PASSWORD)
    assert ProgramRole.objects.filter(user=mentor, role="auditor").exists()
    assert User.objects.filter(email__iexact=mentor.email).count() == 1


@pytest.mark.django_db
def test_an_admin_invitation_makes_an_admin_without_programs(admin_user, program):
    invited = _invite(admin_user, program, role="admin")
    user = services.invitation_accept(token=invited.link.rstrip("/").rsplit("/", 1)[1], password=PASSWORD)
    assert user.is_portal_admin and user.is_staff
    assert not user.program_roles.exists()


@pytest.mark.django_db
def test_the_invite_form_needs_a_program_for_a_coordinator(admin_user, client):
    login(client, admin_user)
    response = client.post(reverse("accounts:invite"), {"name": "N", "email": "n@school.test", "role": "coordinator"})
    assert response.status_code == 200 and "Choose at least one program" in response.content.decode()
    assert not Invitation.objects.exists()


@pytest.mark.django_db
def test_the_invite_form_sends_the_invitation_once(admin_user, program, client):
    login(client, admin_user)
    data = {"name": "Nina New", "email": "nina@school.test", "role": "coordinator", "programs": [program.pk]}
    response = client.post(reverse("accounts:invite"), data)
    assert response.status_code == 302
    again = client.post(reverse("accounts:invite"), data)
    assert again.status_code == 200 and "already waiting" in again.content.decode()
    assert Invitation.objects.count() == 1
    assert AuditEvent.objects.filter(action="account.invited").count() == 1
    listing = client.get(reverse("accounts:users")).content.decode()
    assert "nina@school.test" in listing and "Coordinator of Learning Support 2026-27" in listing


@pytest.mark.django_db
def test_switching_an_account_off_signs_its_browser_out_at_once(admin_user, coordinator, program):
    browser = login(Client(), coordinator)
    other_browser = login(Client(), coordinator)
    assert browser.get(reverse("core:dashboard")).status_code == 200
    admin = login(Client(), admin_user)
    response = admin.post(reverse("accounts:user_active", args=[coordinator.pk]), {"active": "0"}, follow=True)
    assert "2 open session(s) ended" in response.content.decode()
    after = browser.get(reverse("core:dashboard"))
    assert after.status_code == 302 and after["Location"].startswith(reverse("accounts:login"))
    assert other_browser.get(reverse("core:dashboard")).status_code == 302
    assert not any(s.get_decoded().get("_auth_user_id") == str(coordinator.pk) for s in Session.objects.all())
    event = AuditEvent.objects.get(action="account.deactivated")
    assert event.details["sessions_ended"] == 2 and event.actor_id == admin_user.pk

    again = admin.post(reverse("accounts:user_active", args=[coordinator.pk]), {"active": "0"}, follow=True)
    assert "switched off already" in again.content.decode()
    assert AuditEvent.objects.filter(action="account.deactivated").count() == 1

    admin.post(reverse("accounts:user_active", args=[coordinator.pk]), {"active": "1"})
    coordinator.refresh_from_db()
    assert coordinator.is_active and AuditEvent.objects.filter(action="account.reactivated").count() == 1


@pytest.mark.django_db
def test_an_admin_cannot_switch_themselves_off(admin_user):
    with pytest.raises(services.AccountError, match="your own account"):
        services.account_set_active(user=admin_user, active=False, actor=admin_user)
    admin_user.refresh_from_db()
    assert admin_user.is_active


# --- Password reset and change ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reset_answers_the_same_for_unknown_addresses_and_mails_only_real_ones(coordinator, client):
    known = client.post(reverse("accounts:password_reset"), {"email": coordinator.email})
    unknown = client.post(reverse("accounts:password_reset"), {"email": "nobody@school.test"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("accounts:password_reset_done")
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [coordinator.email]
    done = client.get(known["Location"]).content.decode()
    assert "If that address belongs to a Mentor Link account" in done
    assert AuditEvent.objects.filter(action="account.password_reset_requested").count() == 2


@pytest.mark.django_db
def test_reset_link_sets_the_password_once(coordinator, client):
    client.post(reverse("accounts:password_reset"), {"email": coordinator.email})
    path = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+/\S+/)", mail.outbox[0].body).group(1)
    assert "Mentor Link" in mail.outbox[0].subject
    form = client.get(path, follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(form.redirect_chain[-1][0], {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert done.status_code == 302 and done["Location"] == reverse("accounts:password_reset_complete")
    coordinator.refresh_from_db()
    assert coordinator.check_password(PASSWORD)
    assert AuditEvent.objects.filter(action="account.password_reset", actor=coordinator).count() == 1
    reused = Client().get(path, follow=True)
    assert b"This link does not work any more" in reused.content


@pytest.mark.django_db
def test_reset_mails_are_rate_limited_without_saying_so(coordinator, client, settings):
    settings.PASSWORD_RESET_PER_HOUR = 2
    answers = [client.post(reverse("accounts:password_reset"), {"email": coordinator.email}) for _ in range(4)]
    assert {a["Location"] for a in answers} == {reverse("accounts:password_reset_done")}
    assert len(mail.outbox) == 2
    assert AuditEvent.objects.filter(action="account.password_reset_requested", outcome="refused").count() == 2


@pytest.mark.django_db
def test_password_change_is_audited_and_the_login_page_offers_a_reset(coordinator, client):
    assert b"Forgot password?" in client.get(reverse("accounts:login")).content
    login(client, coordinator)
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": "correct-horse-battery", "new_password1": PASSWORD, "new_password2": PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == reverse("accounts:password_change_done")
    assert AuditEvent.objects.filter(action="account.password_changed", actor=coordinator).count() == 1


# --- The Django admin ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_django_admin_shows_audit_events_read_only(admin_user, coordinator, client):
    from mentorship.audit.services import audit_record

    event = audit_record(action="auth.sign_in", actor=coordinator)
    login(client, admin_user)
    assert client.get("/django-admin/audit/auditevent/").status_code == 200
    assert client.get(f"/django-admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/django-admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/django-admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    for model in ("user", "invitation", "programrole"):
        assert client.get(f"/django-admin/accounts/{model}/").status_code == 200, model


@pytest.mark.django_db
def test_django_admin_is_closed_to_staff_flagged_non_admins(coordinator, client):
    coordinator.is_staff = True
    coordinator.save()
    login(client, coordinator)
    assert client.get("/django-admin/accounts/user/").status_code == 403
    assert client.get("/django-admin/audit/auditevent/").status_code == 403


@pytest.mark.django_db
def test_switching_off_in_django_admin_ends_sessions_and_is_audited(admin_user, coordinator):
    browser = login(Client(), coordinator)
    admin = login(Client(), admin_user)
    page = admin.get(f"/django-admin/accounts/user/{coordinator.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("groups", "user_permissions")}
    data.update({"is_active": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00", "last_login_0": ""})
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("is_active")
    response = admin.post(f"/django-admin/accounts/user/{coordinator.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    coordinator.refresh_from_db()
    assert not coordinator.is_active
    assert browser.get(reverse("core:dashboard")).status_code == 302
    changed = AuditEvent.objects.get(action="account.changed")
    assert "is_active" in changed.details["fields"] and changed.actor_id == admin_user.pk

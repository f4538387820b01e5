"""The banner `make run` prints: sign-ins, and where demo mail goes (never a pairing code itself)."""

from __future__ import annotations

import io

import pytest

from mentorship.portal.management.commands.run_portal import Command


def _banner() -> str:
    out = io.StringIO()
    Command(stdout=out)._banner()
    return out.getvalue()


def test_banner_names_the_mail_folder_with_the_file_backend(settings, tmp_path) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    text = _banner()
    assert "http://127.0.0.1:8000/" in text and "coordinator2" in text
    assert f"written to {tmp_path / 'mail'}/" in text


def test_banner_without_a_mail_folder_still_prints(settings) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_FILE_PATH = None  # what settings.py sets for a real mail server
    text = _banner()
    assert "Press Ctrl-C" in text
    assert "written to" not in text


# What each suggested account must see on the page the portal sends it to (a seeded name or figure, not an empty
# page or a refusal).
def _assert_reaches_data(client, username: str) -> None:
    from django.urls import reverse
    from django.utils.html import strip_tags

    from mentorship.assignments.models import MentorAssignment

    response = client.get(reverse("core:home"), follow=True)
    assert response.status_code == 200, f"{username}: {response.status_code}"
    text = strip_tags(response.content.decode())
    approved = MentorAssignment.objects.filter(status="approved").select_related("mentor").first()
    assert approved is not None
    landing = response.redirect_chain[-1][0] if response.redirect_chain else ""
    if "/audit/" in landing:
        assert "Casey Coordinator approved" in text, f"{username} sees no events on {landing}"
    elif "/programs/" in landing:
        assert "Learning Support 2026-27" in text, f"{username} sees no programs on {landing}"
    elif "/my/" in landing:
        mine = MentorAssignment.objects.filter(status="approved", mentor__login_id=username).select_related("student")
        assert mine and all(a.student.name in text for a in mine), f"{username} sees no student on {landing}"
    else:  # a coordinator's dashboard: then the assignment list has the seeded assignments
        body = strip_tags(client.get(reverse("assignments:list")).content.decode())
        assert approved.mentor.name in body, f"{username} sees no assignments"


@pytest.mark.django_db
def test_every_account_the_banner_suggests_reaches_a_page_with_data(client) -> None:
    from django.core.management import call_command

    from mentorship.accounts.models import User
    from mentorship.people.models import Person
    from mentorship.portal.management.commands.run_portal import BANNER_ACCOUNTS
    from mentorship.portal.management.commands.seed_demo import DEMO_PASSWORD, demo_mentor_login

    call_command("seed_demo", stdout=io.StringIO())
    text = _banner()
    for username, _what in BANNER_ACCOUNTS:
        assert username in text
        from django.urls import reverse

        signed_in = client.post(reverse("accounts:login"), {"username": username, "password": DEMO_PASSWORD})
        assert signed_in.status_code == 302, f"{username} could not sign in"
        _assert_reaches_data(client, username)
        client.logout()
    # The mentor signs in with Canvas; the account that sign-in opens is linked to their Person.
    login = demo_mentor_login()
    assert f"login {login}," in text
    mentor = User.objects.create(username=f"canvas-{login}", person=Person.objects.get(login_id=login))
    client.force_login(mentor, backend="django.contrib.auth.backends.ModelBackend")
    _assert_reaches_data(client, login)

"""Help inside the portal: each page links to the role guide, served from docs/guides/ with its screenshots, and the
school's contact in the footer."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mentorship.portal.help import GUIDES, guides_dir
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", sorted(GUIDES))
def test_each_guide_is_served_with_the_same_text_as_the_repository(client, auditor, role):
    response = login(client, auditor).get(reverse("core:help", args=[role]))
    assert response.status_code == 200
    body = response.content.decode()
    first_heading = next(
        line for line in (guides_dir() / f"{role}.md").read_text().splitlines() if line.startswith("# ")
    )
    assert first_heading[2:].replace("'", "&#x27;") in body or first_heading[2:] in body
    assert "../screenshots/" not in body  # pictures point at the portal


def test_screenshots_are_served_and_nothing_else(client, auditor):
    login(client, auditor)
    page = client.get(reverse("core:help", args=["auditor"])).content.decode()
    src = reverse("core:help_screenshot", args=["audit-log.png"])
    assert f'src="{src}"' in page
    picture = client.get(src)
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert client.get(reverse("core:help_screenshot", args=["..%2Fguides%2Fadmin.md"])).status_code == 404
    assert client.get(reverse("core:help_screenshot", args=["missing.png"])).status_code == 404
    assert client.get(reverse("core:help", args=["nobody"])).status_code == 404


@pytest.mark.parametrize(
    ("who", "guide"), [("auditor", "auditor"), ("coordinator", "coordinator"), ("mentor", "mentor")]
)
def test_every_page_links_to_the_readers_guide(client, request, who, guide):
    body = login(client, request.getfixturevalue(who)).get(reverse("core:home"), follow=True).content.decode()
    assert f'href="{reverse("core:help", args=[guide])}"' in body


def test_the_schools_contact_is_in_the_footer(client, auditor, settings):
    settings.SCHOOL_CONTACT = "the school office, mentors@school.example.edu"
    body = login(client, auditor).get(reverse("audit:log")).content.decode()
    assert "Questions about the portal: the school office, mentors@school.example.edu" in body
    settings.SCHOOL_CONTACT = ""
    assert "Questions about the portal" not in client.get(reverse("audit:log")).content.decode()


def test_help_needs_a_sign_in(client):
    response = client.get(reverse("core:help", args=["auditor"]))
    assert response.status_code == 302


@pytest.mark.parametrize("role", sorted(GUIDES))
def test_every_picture_a_guide_shows_exists(role):
    import re

    from mentorship.portal.help import screenshots_dir

    names = re.findall(r"\.\./screenshots/([a-z0-9-]+\.png)", (guides_dir() / f"{role}.md").read_text())
    missing = [n for n in names if not (screenshots_dir() / n).is_file()]
    assert names and not missing, f"{role}.md shows pictures that do not exist: {missing}"

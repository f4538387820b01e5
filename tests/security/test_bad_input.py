"""Bad input of every kind answers 400 with a sentence and changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from mentorship.audit.models import AuditEvent
from tests.conftest import login

pytestmark = pytest.mark.django_db

SENTENCE = "Nothing was changed."


def _assert_refused(response) -> None:
    assert response.status_code == 400
    assert SENTENCE in response.content.decode()


@pytest.mark.parametrize("query", ["next=%00", "q=%1b%5B31m", "q=a%7Fb", "q=%FF%FE", "q=%C3%28", "x%00=1"])
def test_control_characters_and_broken_utf8_in_the_query(client, query):
    _assert_refused(client.get(reverse("accounts:login"), QUERY_STRING=query))


@pytest.mark.parametrize(
    "body", ["username=ad%00min&password=x", "username=%FF%FE&password=x", "username=a%08b&password=x"]
)
def test_bad_form_fields_refused_before_any_sign_in_attempt(client, coordinator, body):
    response = client.post(reverse("accounts:login"), body, content_type="application/x-www-form-urlencoded")
    _assert_refused(response)
    assert AuditEvent.objects.count() == 0


def test_bad_multipart_field_refused(client, auditor):
    login(client, auditor)
    response = client.post(reverse("audit:verify"), {"note": "bell\x07"})
    _assert_refused(response)
    assert AuditEvent.objects.count() == 0


def test_line_breaks_and_tabs_in_form_text_are_fine(client, coordinator):
    body = "username=coordinator&password=wrong%0D%0Apassword%09x"
    response = client.post(reverse("accounts:login"), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200  # an ordinary failed sign-in, not a refusal of the input


def test_oversized_body_is_refused(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = "username=" + "a" * 5000 + "&password=x"
    response = client.post(reverse("accounts:login"), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "too large" in response.content.decode()
    assert AuditEvent.objects.count() == 0


def test_too_many_fields_are_refused(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{n}=x" for n in range(50))
    response = client.post(reverse("accounts:login"), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_oversized_filter_values_are_refused(client, auditor):
    response = login(client, auditor).get(reverse("audit:log"), {"student": "x" * 10_000})
    assert response.status_code == 400
    assert "at most 150 characters" in response.content.decode()


def test_numbers_beyond_64_bits_are_refused(client, auditor):
    login(client, auditor)
    assert client.get(reverse("audit:log"), {"before": str(2**70)}).status_code == 400
    assert client.get("/audit/students/99999999999999999999999/").status_code == 404
    assert client.get("/assignments/99999999999999999999999/").status_code == 404


def test_wrong_types_are_refused(client, auditor):
    login(client, auditor)
    for params in ({"before": "1.5"}, {"after": "-3"}, {"date_to": "2026-13-45"}, {"program": "[1]"}):
        assert client.get(reverse("audit:log"), params).status_code == 400, params

"""Every response carries the security headers: pages, redirects, errors, static files, downloads."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import login

pytestmark = pytest.mark.django_db


def assert_security_headers(response) -> None:
    hsts = response["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts
    assert "includeSubDomains" in hsts
    csp = response["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"], csp  # no 'unsafe-inline', no 'unsafe-eval', no hosts
    assert directives["frame-ancestors"] == ["'none'"], csp
    assert directives["object-src"] == ["'none'"], csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_sign_in_page(client):
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
    assert_security_headers(response)


def test_redirect_to_sign_in(client):
    response = client.get(reverse("audit:log"))
    assert response.status_code == 302
    assert_security_headers(response)


def test_not_found(client, coordinator):
    response = login(client, coordinator).get("/no-such-page/")
    assert response.status_code == 404
    assert_security_headers(response)


def test_method_not_allowed(client, auditor):
    response = login(client, auditor).get(reverse("audit:verify"))
    assert response.status_code == 405
    assert_security_headers(response)


def test_bad_request(client):
    response = client.get(reverse("accounts:login"), QUERY_STRING="next=%00")
    assert response.status_code == 400
    assert_security_headers(response)


def test_static_file(client):
    response = client.get("/static/css/portal.css")
    assert response.status_code == 200
    assert_security_headers(response)


def test_streamed_download(client, auditor):
    response = login(client, auditor).get(reverse("audit:export"))
    assert response.status_code == 200
    assert_security_headers(response)
    b"".join(response.streaming_content)


def test_signed_in_page(client, auditor):
    response = login(client, auditor).get(reverse("audit:log"))
    assert response.status_code == 200
    assert_security_headers(response)
    # Strict CSP holds only if pages carry no inline script or style attributes.
    html = response.content.decode()
    assert "<script>" not in html
    assert " style=" not in html
    assert " onclick=" not in html

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


# (who is signed in, the request, the status it answers): one of each kind of response.
RESPONSES = {
    "sign-in page": (None, lambda: (reverse("accounts:login"), {}), 200),
    "redirect to sign-in": (None, lambda: (reverse("audit:log"), {}), 302),
    "not found": ("coordinator", lambda: ("/no-such-page/", {}), 404),
    "method not allowed": ("auditor", lambda: (reverse("audit:verify"), {}), 405),
    "bad request": (None, lambda: (reverse("accounts:login"), {"QUERY_STRING": "next=%00"}), 400),
    "static file": (None, lambda: ("/static/css/portal.css", {}), 200),
    "streamed download": ("auditor", lambda: (reverse("audit:export"), {}), 200),
}


@pytest.mark.parametrize("kind", RESPONSES)
def test_every_kind_of_response(client, request, kind):
    who, target, status = RESPONSES[kind]
    if who:
        login(client, request.getfixturevalue(who))
    path, extra = target()
    response = client.get(path, **extra)
    assert response.status_code == status
    assert_security_headers(response)
    if response.streaming:
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

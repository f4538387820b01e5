"""OAuth2 against the fake: sign-in page, code exchange, refresh, revoke (docs/canvas.md, "Authentication")."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.testing import ManualClock, fake_session

ROOT = "http://canvas.test"
REDIRECT = "http://portal.test/accounts/canvas/callback"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> FakeCanvas:
    f = FakeCanvas(
        admin_token="A",
        seed="empty",
        clock=clock,
        oauth_client_id="cid",
        oauth_client_secret="csecret",
        throttle={"enabled": False},
    )
    f.add_user(name="Mia Mentor", login_id="mia", password="canvas-demo")
    return f


def _sign_in(s: requests.Session, state: str = "xyz") -> str:
    params = {"client_id": "cid", "response_type": "code", "redirect_uri": REDIRECT, "state": state}
    page = s.get(f"{ROOT}/login/oauth2/auth", params=params)
    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert 'name="password"' in page.text
    r = s.post(
        f"{ROOT}/login/oauth2/auth",
        data={**params, "login": "MIA", "password": "canvas-demo"},
        allow_redirects=False,
    )
    assert r.status_code == 302
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == [state]
    return query["code"][0]


def _token_request(s: requests.Session, grant_type: str, **fields: str) -> requests.Response:
    """POST /login/oauth2/token as the registered client (id cid, secret csecret unless ``fields`` say otherwise)."""
    data = {"grant_type": grant_type, "client_id": "cid", "client_secret": "csecret", **fields}
    return s.post(f"{ROOT}/login/oauth2/token", data=data)


def _exchange(s: requests.Session, code: str, redirect_uri: str = REDIRECT) -> requests.Response:
    return _token_request(s, "authorization_code", redirect_uri=redirect_uri, code=code)


def test_code_flow_returns_token_user_and_refresh_token(fake: FakeCanvas) -> None:
    s = fake_session(fake)
    r = _exchange(s, _sign_in(s, state="s-123"))
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["user"]["name"] == "Mia Mentor"
    assert body["refresh_token"]
    me = fake_session(fake, body["access_token"]).get(f"{ROOT}/api/v1/users/self")
    assert me.json()["id"] == body["user"]["id"]


def test_wrong_password_shows_the_page_again(fake: FakeCanvas) -> None:
    s = fake_session(fake)
    r = s.post(
        f"{ROOT}/login/oauth2/auth",
        data={"client_id": "cid", "redirect_uri": REDIRECT, "login": "mia", "password": "no"},
        allow_redirects=False,
    )
    assert r.status_code == 400
    assert "Invalid username or password." in r.text


def test_cancel_redirects_with_access_denied(fake: FakeCanvas) -> None:
    r = fake_session(fake).post(
        f"{ROOT}/login/oauth2/auth",
        data={"client_id": "cid", "redirect_uri": REDIRECT, "state": "q", "cancel": "1"},
        allow_redirects=False,
    )
    query = parse_qs(urlsplit(r.headers["Location"]).query)
    assert query == {"error": ["access_denied"], "state": ["q"]}


def test_code_works_once_and_redirect_uri_must_match(fake: FakeCanvas) -> None:
    s = fake_session(fake)
    mismatch = _exchange(s, _sign_in(s), redirect_uri="http://evil.test/cb")
    assert mismatch.status_code == 400
    assert mismatch.json()["error"] == "invalid_grant"
    code = _sign_in(s)
    assert _exchange(s, code).status_code == 200
    again = _exchange(s, code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_bad_client_secret_is_invalid_client(fake: FakeCanvas) -> None:
    s = fake_session(fake)
    r = _token_request(s, "authorization_code", client_secret="wrong", code=_sign_in(s), redirect_uri=REDIRECT)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_unknown_client_at_auth(fake: FakeCanvas) -> None:
    r = fake_session(fake).get(
        f"{ROOT}/login/oauth2/auth",
        params={"client_id": "nope", "response_type": "code", "redirect_uri": REDIRECT},
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_client"


def test_token_expires_after_an_hour_and_refresh_gives_a_new_one(fake: FakeCanvas, clock: ManualClock) -> None:
    s = fake_session(fake)
    first = _exchange(s, _sign_in(s)).json()
    clock.advance(3601)
    expired = fake_session(fake, first["access_token"]).get(f"{ROOT}/api/v1/users/self")
    assert expired.status_code == 401
    assert expired.json()["errors"][0]["message"] == "Expired access token."
    refreshed = _token_request(s, "refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert "refresh_token" not in body
    assert body["access_token"] != first["access_token"]
    me = fake_session(fake, body["access_token"]).get(f"{ROOT}/api/v1/users/self")
    assert me.status_code == 200


def test_revoke_kills_the_token_and_its_refresh_token(fake: FakeCanvas) -> None:
    s = fake_session(fake)
    tokens = _exchange(s, _sign_in(s)).json()
    user = fake_session(fake, tokens["access_token"])
    assert user.delete(f"{ROOT}/login/oauth2/token").status_code == 200
    r = user.get(f"{ROOT}/api/v1/users/self")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    refresh = _token_request(s, "refresh_token", refresh_token=tokens["refresh_token"])
    assert refresh.status_code == 400

"""CanvasClient against a tiny scripted transport: wire format, errors, retries, limiter, secrecy.

The scripted adapter produces what the fake cannot (a bare connection error, invalid JSON on a 2xx,
a link to another host) and lets each test say exactly what Canvas answers. Behaviour against the
fake Canvas is in test_client_fake.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from canvas_client import CanvasClient, errors, object_id
from canvas_client.client import canvas_message

BASE = "http://canvas.test"
TOKEN = "tok-SECRET-1234567890"

Reply = tuple[int, Any, dict[str, str]] | Exception | Callable[[requests.PreparedRequest], Any]


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: CaseInsensitiveDict[str]
    body: bytes | None

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs((self.body or b"").decode(), keep_blank_values=True)


@dataclass
class StubCanvas(BaseAdapter):
    """Answers scripted replies per (method, raw path); the last reply of a route repeats."""

    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def on(self, method: str, path: str, *replies: Reply) -> StubCanvas:
        self.routes[(method, path)] = list(replies)
        return self

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        parts = urlsplit(request.url or "")
        body = request.body.encode() if isinstance(request.body, str) else request.body
        self.calls.append(
            Call(
                request.method or "",
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                CaseInsensitiveDict(request.headers),
                body,
            )
        )
        replies = self.routes.get((request.method or "", parts.path))
        if not replies:
            reply: Reply = (
                404,
                {"errors": [{"message": "The specified resource does not exist."}]},
                {},
            )
        else:
            reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            reply = reply(request)
        status, payload, headers = reply  # type: ignore[misc]
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        if isinstance(payload, bytes):
            response._content = payload
        elif isinstance(payload, str):
            response._content = payload.encode()
        else:
            response._content = json.dumps(payload).encode()
            response.headers.setdefault("Content-Type", "application/json")
        response.url = request.url or ""
        response.request = request
        response.reason = "Scripted"
        return response

    def close(self) -> None:
        return None


class RecordingLimiter:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def acquire(self) -> object:
        self.events.append(("acquire", None))
        return len(self.events)

    def release(
        self, ticket: object, *, remaining: float | None, cost: float | None, throttled: bool, rejected: bool = False
    ) -> None:
        self.events.append(("release", (ticket, remaining, cost, throttled)))


def make_client(stub: StubCanvas, **kwargs: Any) -> tuple[CanvasClient, list[float]]:
    session = requests.Session()
    session.mount(BASE, stub)
    sleeps: list[float] = []
    kwargs.setdefault("random", lambda: 1.0)
    client = CanvasClient(BASE, TOKEN, session=session, sleep=sleeps.append, **kwargs)
    return client, sleeps


USER = {"id": 7, "name": "Ada Lovelace", "sortable_name": "Lovelace, Ada", "sis_user_id": "S-7"}
THROTTLED: Reply = (
    403,
    "403 Forbidden (Rate Limit Exceeded)\n",
    {"Content-Type": "text/plain", "X-Rate-Limit-Remaining": "0.0"},
)
UNAVAILABLE: Reply = (503, {"errors": [{"message": "Service Unavailable"}]}, {})


# ------------------------------------------------------------------ ids and basic calls


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (123, "123"),
        ("self", "self"),
        ("sis_user_id:S123", "sis_user_id:S123"),
        ("sis_user_id:A/B 1", "sis_user_id:A%2FB%201"),
        ("sis_login_id:ada@example.org", "sis_login_id:ada%40example.org"),
        ("../etc", "..%2Fetc"),
    ],
)
def test_object_id_escapes_values_but_keeps_the_prefix(value: object, expected: str) -> None:
    assert object_id(value) == expected  # type: ignore[arg-type]


def test_object_id_refuses_empty_ids() -> None:
    with pytest.raises(ValueError, match="required"):
        object_id("  ")


def test_get_user_sends_bearer_token_and_parses_the_user() -> None:
    stub = StubCanvas().on("GET", "/api/v1/users/sis_user_id:S%2F7", (200, USER, {}))
    client, _ = make_client(stub)

    user = client.get_user("sis_user_id:S/7")

    assert user.id == 7 and user.sis_user_id == "S-7" and user.sortable_name == "Lovelace, Ada"
    assert user.login_id is None and user.email is None
    assert stub.calls[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert stub.calls[0].headers["Accept"] == "application/json"


def test_repr_of_client_and_results_hides_secrets() -> None:
    stub = StubCanvas().on(
        "POST",
        "/api/v1/users/7/observer_pairing_codes",
        (
            200,
            {
                "user_id": 7,
                "code": "Ab3dE9",
                "expires_at": "2026-12-04T10:00:00Z",
                "workflow_state": "active",
            },
            {},
        ),
    )
    client, _ = make_client(stub)

    code = client.create_pairing_code(7)

    assert TOKEN not in repr(client)
    assert code.code == "Ab3dE9" and "Ab3dE9" not in repr(code)
    assert code.expires_at == datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        CanvasClient("canvas.school.edu", TOKEN)


# ------------------------------------------------------------------ pagination


def _page(items: list[dict[str, Any]], next_url: str | None) -> Reply:
    headers = {}
    if next_url:
        headers["Link"] = (
            f'<{BASE}/api/v1/users/7/observees?page=1&per_page=2>; rel="current",'
            f'<{next_url}>; rel="next",<{BASE}/api/v1/users/7/observees?page=1>; rel="first"'
        )
    return (200, items, headers)


def test_lists_are_lazy_and_follow_next_links_exactly() -> None:
    page2 = f"{BASE}/api/v1/users/7/observees?page=bookmark:WzEsIjIiXQ&per_page=100"
    page3 = f"{BASE}/api/v1/users/7/observees?page=bookmark:WzIsIjMiXQ%3D%3D&per_page=100"
    pages = iter(
        [
            _page([{"id": 1, "name": "A"}, {"id": 2, "name": "B"}], page2),
            _page([{"id": 3, "name": "C"}], page3),
            _page([{"id": 4, "name": "D"}], None),
        ]
    )
    stub = StubCanvas().on("GET", "/api/v1/users/7/observees", lambda request: next(pages))
    client, _ = make_client(stub)

    observees = client.list_observees(7)
    assert stub.calls == []  # nothing fetched until iterated

    assert [u.id for u in observees] == [1, 2, 3, 4]
    assert [c.query for c in stub.calls] == [
        {"per_page": ["100"]},
        {"page": ["bookmark:WzEsIjIiXQ"], "per_page": ["100"]},
        {"page": ["bookmark:WzIsIjMiXQ=="], "per_page": ["100"]},
    ]
    # the opaque cursor went back byte for byte, still percent-encoded as Canvas wrote it
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}" for c in stub.calls)


def test_list_params_go_on_the_first_page_only() -> None:
    page2 = f"{BASE}/api/v1/users/7/enrollments?page=bookmark:abc"
    stub = StubCanvas().on(
        "GET",
        "/api/v1/users/7/enrollments",
        (
            200,
            [
                {
                    "id": 1,
                    "course_id": 2,
                    "user_id": 7,
                    "type": "StudentEnrollment",
                    "enrollment_state": "active",
                }
            ],
            {"Link": f'<{page2}>; rel="next"'},
        ),
        (200, [], {}),
    )
    client, _ = make_client(stub, per_page=50)

    enrollments = list(client.list_user_enrollments(7, type="StudentEnrollment", state=["active", "invited"]))

    assert [e.id for e in enrollments] == [1]
    assert stub.calls[0].query == {
        "type[]": ["StudentEnrollment"],
        "state[]": ["active", "invited"],
        "per_page": ["50"],
    }
    assert stub.calls[1].query == {"page": ["bookmark:abc"]}


def test_pagination_refuses_a_link_to_another_host() -> None:
    stub = StubCanvas().on(
        "GET",
        "/api/v1/users/7/observers",
        _page([{"id": 1, "name": "A"}], "https://evil.example/api/v1/users/7/observers?page=2"),
    )
    client, _ = make_client(stub)

    items = client.list_observers(7)
    assert next(items).id == 1
    with pytest.raises(errors.CanvasError, match="another host"):
        next(items)
    assert len(stub.calls) == 1


def test_pagination_stops_a_self_referencing_loop() -> None:
    same = f"{BASE}/api/v1/users/7/observers?page=2"
    stub = StubCanvas().on("GET", "/api/v1/users/7/observers", _page([{"id": 1, "name": "A"}], same))
    client, _ = make_client(stub)

    with pytest.raises(errors.CanvasError, match="loop"):
        list(client.list_observers(7))
    assert len(stub.calls) == 2


def test_a_non_list_page_is_a_transient_error() -> None:
    stub = StubCanvas().on("GET", "/api/v1/users/7/observers", (200, {"oops": 1}, {}))
    client, _ = make_client(stub)
    with pytest.raises(errors.CanvasTransientError, match="not a list"):
        list(client.list_observers(7))


# ------------------------------------------------------------------ error classification

NOT_AUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected", "message"),
    [
        (
            403,
            "403 Forbidden (Rate Limit Exceeded)\n",
            {"X-Rate-Limit-Remaining": "0.0"},
            errors.CanvasRateLimited,
            "403 Forbidden (Rate Limit Exceeded)",
        ),
        (429, "Too Many Requests", {"Retry-After": "2"}, errors.CanvasRateLimited, "Too Many Requests"),
        (
            401,
            {"errors": [{"message": "Invalid access token."}]},
            {"WWW-Authenticate": 'Bearer realm="canvas-lms"'},
            errors.CanvasAuthError,
            "Invalid access token.",
        ),
        (
            401,
            {"errors": [{"message": "Expired access token."}], "expired_at": "x"},
            {"WWW-Authenticate": 'Bearer realm="canvas-lms"'},
            errors.CanvasAuthError,
            "Expired access token.",
        ),
        (
            401,
            NOT_AUTHORIZED,
            {},
            errors.CanvasPermissionError,
            "user not authorized to perform that action",
        ),
        (
            403,
            NOT_AUTHORIZED,
            {},
            errors.CanvasPermissionError,
            "user not authorized to perform that action",
        ),
        (
            404,
            {"errors": [{"message": "The specified resource does not exist."}]},
            {},
            errors.CanvasNotFound,
            "The specified resource does not exist.",
        ),
        (
            422,
            {"errors": [{"message": "Invalid pairing code."}]},
            {},
            errors.CanvasValidationError,
            "Invalid pairing code.",
        ),
        (
            400,
            {"message": "Can't add an enrollment to a concluded course."},
            {},
            errors.CanvasValidationError,
            "Can't add an enrollment to a concluded course.",
        ),
        (409, {"errors": "Conflict happened"}, {}, errors.CanvasValidationError, "Conflict happened"),
        (
            400,
            {"errors": {"pseudonym": {"unique_id": [{"message": "ID already in use"}]}}},
            {},
            errors.CanvasValidationError,
            "pseudonym unique_id ID already in use",
        ),
        (500, "<html>boom</html>", {}, errors.CanvasTransientError, "<html>boom</html>"),
        (502, "", {}, errors.CanvasTransientError, "Scripted"),
        (
            503,
            {"errors": [{"message": "Service Unavailable"}]},
            {},
            errors.CanvasTransientError,
            "Service Unavailable",
        ),
    ],
)
def test_errors_are_typed_with_status_and_canvas_message(
    status: int, body: Any, headers: dict[str, str], expected: type[errors.CanvasError], message: str
) -> None:
    stub = StubCanvas().on("POST", "/api/v1/users/self/observees", (status, body, headers))
    client, _ = make_client(stub)

    with pytest.raises(errors.CanvasError) as info:
        client.redeem_pairing_code("Ab3dE9")

    error = info.value
    assert type(error) is expected
    assert error.status == status
    assert error.message == message
    assert error.user_message.endswith(".")
    assert "Ab3dE9" not in str(error) and TOKEN not in str(error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"errors": [{"field": "search_term", "message": "3 or more characters is required"}]},
            "search_term: 3 or more characters is required",
        ),
        ({"errors": [{"message": "a"}, {"message": "b"}]}, "a; b"),
        ({"errors": {"base": ["Cannot observe yourself"]}}, "Cannot observe yourself"),
        (
            {"errors": {"user": ["is invalid"], "observee": ["is missing"]}},
            "user is invalid; observee is missing",
        ),
        ({"errors": "Invalid as_user_id"}, "Invalid as_user_id"),
        (
            {"error": "invalid_grant", "error_description": "authorization code expired"},
            "invalid_grant: authorization code expired",
        ),
        ({"error": "invalid_client"}, "invalid_client"),
        ("plain text problem\n", "plain text problem"),
        ({}, "fallback"),
    ],
)
def test_canvas_message_reads_every_body_shape(body: Any, expected: str) -> None:
    assert canvas_message(body, default="fallback") == expected


def test_user_messages_are_sentences_a_coordinator_can_act_on() -> None:
    assert errors.CanvasNotFound("x", status=404).user_message == (
        "Canvas says this user or link does not exist (404). Check the person's Canvas account, then retry."
    )
    assert errors.CanvasAuthError("Invalid access token.", status=401).user_message.startswith(
        "Canvas rejected the portal's access token (401"
    )
    assert "replace the portal's Canvas token" in errors.CanvasAuthError("x", status=401).user_message
    assert "Sign in with Canvas again" in errors.CanvasAuthError("x", status=401, acting_as="user").user_message
    assert errors.CanvasPermissionError("user not authorized", status=401).user_message.startswith(
        "The portal's Canvas account lacks a permission (401): user not authorized"
    )
    assert "Invalid pairing code." in errors.CanvasValidationError("Invalid pairing code.", status=422).user_message
    for error in (
        errors.CanvasValidationError("Invalid pairing code.", status=422),
        errors.CanvasAuthError("Revoked access token.", status=401),
        errors.CanvasPermissionError("user not authorized to perform that action", status=403),
        errors.CanvasError("Something odd.", status=418),
    ):
        assert error.user_message.endswith(".") and ".." not in error.user_message
    assert "retries by itself" in errors.CanvasRateLimited("x", status=403).user_message
    assert "retries by itself" in errors.CanvasTransientError("x", status=503).user_message
    assert "could not be reached" in errors.CanvasTransientError("ConnectTimeout").user_message


def test_redirects_are_not_followed() -> None:
    stub = StubCanvas().on(
        "GET",
        "/api/v1/users/self",
        (301, "", {"Location": "https://canvas.test/api/v1/users/self"}),
    )
    client, _ = make_client(stub)
    with pytest.raises(errors.CanvasError, match="CANVAS_BASE_URL") as info:
        client.get_self()
    assert info.value.status == 301 and len(stub.calls) == 1


# ------------------------------------------------------------------ retries


def test_idempotent_get_retries_transient_errors_with_full_jitter_backoff() -> None:
    stub = StubCanvas().on("GET", "/api/v1/users/7", UNAVAILABLE, UNAVAILABLE, (200, USER, {}))
    jitter = iter([0.5, 0.25])
    client, sleeps = make_client(stub, random=lambda: next(jitter))

    assert client.get_user(7).name == "Ada Lovelace"
    assert len(stub.calls) == 3
    # attempt 1: 0.5 * min(8, 0.5); attempt 2: 0.25 * min(8, 1.0)
    assert sleeps == [0.25, 0.25]


def test_backoff_is_capped() -> None:
    stub = StubCanvas().on("GET", "/api/v1/users/7", UNAVAILABLE)
    client, sleeps = make_client(stub, max_retries=7)

    with pytest.raises(errors.CanvasTransientError):
        client.get_user(7)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert len(stub.calls) == 8


def test_retry_after_on_5xx_is_honoured_within_the_cap() -> None:
    stub = StubCanvas().on(
        "GET",
        "/api/v1/users/7",
        (503, "busy", {"Retry-After": "2"}),
        (503, "busy", {"Retry-After": "3600"}),
        (200, USER, {}),
    )
    client, sleeps = make_client(stub, random=lambda: 0.0)

    assert client.get_user(7).id == 7
    assert sleeps == [2.0, 8.0]  # an hour-long Retry-After is clipped to backoff_cap


def test_transient_retries_are_bounded() -> None:
    stub = StubCanvas().on("GET", "/api/v1/users/7", UNAVAILABLE)
    client, sleeps = make_client(stub)

    with pytest.raises(errors.CanvasTransientError) as info:
        client.get_user(7)
    assert info.value.status == 503
    assert len(stub.calls) == 4 and len(sleeps) == 3  # max_retries=3


def test_throttled_calls_retry_up_to_their_own_limit_and_honour_retry_after() -> None:
    stub = StubCanvas().on("GET", "/api/v1/users/7", THROTTLED)
    client, sleeps = make_client(stub, max_throttle_retries=5, random=lambda: 0.0)

    with pytest.raises(errors.CanvasRateLimited):
        client.get_user(7)
    assert len(stub.calls) == 6 and sleeps == [0.0] * 5

    stub2 = StubCanvas().on("GET", "/api/v1/users/7", (429, "slow down", {"Retry-After": "3"}), (200, USER, {}))
    client2, sleeps2 = make_client(stub2, random=lambda: 0.0)
    assert client2.get_user(7).id == 7
    assert sleeps2 == [3.0]


def test_throttle_and_transient_budgets_are_separate() -> None:
    stub = StubCanvas().on(
        "PUT",
        "/api/v1/users/5/observees/7",
        THROTTLED,
        UNAVAILABLE,
        THROTTLED,
        UNAVAILABLE,
        (200, USER, {}),
    )
    client, sleeps = make_client(stub, max_retries=2, max_throttle_retries=2)

    assert client.add_observee(5, 7).id == 7
    assert len(stub.calls) == 5 and len(sleeps) == 4


@pytest.mark.parametrize("reply", [UNAVAILABLE, THROTTLED, requests.ConnectionError("reset")])
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.redeem_pairing_code("Ab3dE9"),
        lambda c: c.create_observer_enrollment(3, 5, 7),
        lambda c: c.start_sis_import(1, b"observer_id,student_id,status\r\nA,B,active\r\n"),
        lambda c: c.create_pairing_code(7),
        lambda c: c.oauth_exchange_code(client_id="1", client_secret="s", redirect_uri="http://p/cb", code="c"),
    ],
)
def test_non_idempotent_calls_never_retry(reply: Reply, call: Callable[[CanvasClient], Any]) -> None:
    stub = StubCanvas()
    for path in (
        "/api/v1/users/self/observees",
        "/api/v1/courses/3/enrollments",
        "/api/v1/accounts/1/sis_imports",
        "/api/v1/users/7/observer_pairing_codes",
        "/login/oauth2/token",
    ):
        stub.on("POST", path, reply)
    client, sleeps = make_client(stub)

    with pytest.raises((errors.CanvasTransientError, errors.CanvasRateLimited)):
        call(client)
    assert len(stub.calls) == 1 and sleeps == []


def test_connection_errors_and_timeouts_become_transient_errors_without_the_token() -> None:
    stub = StubCanvas().on(
        "GET",
        "/api/v1/users/7",
        requests.ConnectionError(f"boom Authorization: Bearer {TOKEN}"),
        requests.ReadTimeout("read timed out"),
        (200, USER, {}),
    )
    client, _ = make_client(stub)
    assert client.get_user(7).id == 7

    stub.on("GET", "/api/v1/users/8", requests.ConnectTimeout(f"connect {TOKEN}"))
    with pytest.raises(errors.CanvasTransientError) as info:
        client.get_user(8)
    error = info.value
    assert error.status is None
    assert isinstance(error.__cause__, requests.ConnectTimeout)  # wrapped, not leaked raw
    assert TOKEN not in str(error) and TOKEN not in repr(error) and TOKEN not in error.user_message
    assert "ConnectTimeout" in error.message


def test_invalid_json_on_success_is_transient_and_retried_for_reads() -> None:
    stub = StubCanvas().on("GET", "/api/v1/users/7", (200, b"<html>proxy</html>", {}), (200, USER, {}))
    client, sleeps = make_client(stub)
    assert client.get_user(7).id == 7
    assert len(sleeps) == 1

    stub.on("GET", "/api/v1/users/8", (200, b"{not json", {}))
    with pytest.raises(errors.CanvasTransientError, match="not valid JSON"):
        client.get_user(8)


# ------------------------------------------------------------------ limiter hook


def test_limiter_sees_every_attempt_with_rate_headers() -> None:
    stub = StubCanvas().on(
        "GET",
        "/api/v1/users/7",
        THROTTLED,
        requests.ConnectionError("reset"),
        (200, USER, {"X-Rate-Limit-Remaining": "512.5", "X-Request-Cost": "0.25"}),
    )
    limiter = RecordingLimiter()
    client, _ = make_client(stub, limiter=limiter)

    client.get_user(7)

    assert limiter.events == [
        ("acquire", None),
        ("release", (1, 0.0, None, True)),
        ("acquire", None),
        ("release", (3, None, None, False)),
        ("acquire", None),
        ("release", (5, 512.5, 0.25, False)),
    ]


def test_oauth_authorize_url_carries_the_client_state_and_scope() -> None:
    client, _ = make_client(StubCanvas())
    url = client.oauth_authorize_url(
        client_id="10",
        redirect_uri="https://portal/accounts/canvas/callback/",
        state="xyz",
        scope=["a", "b"],
    )
    parts = urlsplit(url)
    assert parts.path == "/login/oauth2/auth"
    assert parse_qs(parts.query) == {
        "client_id": ["10"],
        "response_type": ["code"],
        "redirect_uri": ["https://portal/accounts/canvas/callback/"],
        "state": ["xyz"],
        "scope": ["a b"],
    }


def test_oauth_calls_use_their_own_credentials_and_skip_the_limiter() -> None:
    token_json = {
        "access_token": "user-access-1",
        "token_type": "Bearer",
        "user": {"id": 42, "name": "Mentor"},
        "refresh_token": "refresh-1",
        "expires_in": 3600,
    }
    refreshed = {k: v for k, v in token_json.items() if k != "refresh_token"} | {"access_token": "user-access-2"}
    stub = (
        StubCanvas()
        .on("POST", "/login/oauth2/token", (200, token_json, {}), (200, refreshed, {}))
        .on("DELETE", "/login/oauth2/token", (200, b"", {}))
    )
    limiter = RecordingLimiter()
    client, _ = make_client(stub, limiter=limiter)
    token = client.oauth_exchange_code(
        client_id="10", client_secret="sekrit", redirect_uri="https://portal/cb", code="one-time"
    )
    assert (token.access_token, token.refresh_token, token.user_id, token.expires_in) == (
        "user-access-1",
        "refresh-1",
        42,
        3600,
    )
    assert "user-access-1" not in repr(token) and "refresh-1" not in repr(token)
    exchange = stub.calls[0]
    assert "Authorization" not in exchange.headers
    assert exchange.form == {
        "grant_type": ["authorization_code"],
        "client_id": ["10"],
        "client_secret": ["sekrit"],
        "redirect_uri": ["https://portal/cb"],
        "code": ["one-time"],
    }

    again = client.oauth_refresh(client_id="10", client_secret="sekrit", refresh_token="refresh-1")
    assert again.access_token == "user-access-2" and again.refresh_token == "refresh-1"
    assert stub.calls[1].form["grant_type"] == ["refresh_token"]

    client.oauth_revoke("user-access-2")
    assert stub.calls[2].method == "DELETE"
    assert stub.calls[2].headers["Authorization"] == "Bearer user-access-2"
    assert limiter.events == []


# ------------------------------------------------------------------ request shapes


def test_observer_enrollment_form_fields() -> None:
    enrollment = {
        "id": 900,
        "course_id": 3,
        "user_id": 5,
        "associated_user_id": 7,
        "type": "ObserverEnrollment",
        "enrollment_state": "active",
        "course_section_id": 31,
    }
    stub = StubCanvas().on("POST", "/api/v1/courses/sis_course_id:ALG1-P3/enrollments", (200, enrollment, {}))
    client, _ = make_client(stub)

    result = client.create_observer_enrollment("sis_course_id:ALG1-P3", 5, 7, start_at=datetime(2026, 9, 1, tzinfo=UTC))

    assert (result.id, result.associated_user_id, result.course_section_id) == (900, 7, 31)
    assert stub.calls[0].form == {
        "enrollment[user_id]": ["5"],
        "enrollment[type]": ["ObserverEnrollment"],
        "enrollment[associated_user_id]": ["7"],
        "enrollment[enrollment_state]": ["active"],
        "enrollment[notify]": ["false"],
        "enrollment[start_at]": ["2026-09-01T00:00:00+00:00"],
    }


def test_sis_import_sends_raw_csv_and_never_batch_mode() -> None:
    payload = {"id": 77, "workflow_state": "created", "progress": 0}
    stub = StubCanvas().on("POST", "/api/v1/accounts/1/sis_imports", (200, payload, {}))
    client, _ = make_client(stub)
    csv_bytes = b"observer_id,student_id,status\r\nAIDE-014,S-2044,active\r\n"

    result = client.start_sis_import(1, csv_bytes)

    assert (result.id, result.workflow_state, result.finished) == (77, "created", False)
    call = stub.calls[0]
    assert call.body == csv_bytes
    assert call.headers["Content-Type"].startswith("text/csv")
    assert call.query == {"import_type": ["instructure_csv"], "extension": ["csv"]}
    assert not any("batch" in key for key in call.query)


def test_sis_import_status_parses_warnings() -> None:
    payload = {
        "id": 77,
        "workflow_state": "imported_with_messages",
        "progress": 100,
        "processing_warnings": [["user_observers.csv", "A student referenced a non-existent user S-1"]],
        "processing_errors": [],
    }
    stub = StubCanvas().on("GET", "/api/v1/accounts/1/sis_imports/77", (200, payload, {}))
    client, _ = make_client(stub)

    result = client.get_sis_import(1, 77)

    assert result.finished and result.succeeded and result.progress == 100
    assert result.processing_warnings == (("user_observers.csv", "A student referenced a non-existent user S-1"),)


def test_observee_calls_pass_root_account_id() -> None:
    stub = (
        StubCanvas()
        .on("PUT", "/api/v1/users/5/observees/7", (200, USER, {}))
        .on("DELETE", "/api/v1/users/5/observees/7", (200, USER, {}))
    )
    client, _ = make_client(stub)

    client.add_observee(5, 7, root_account_id="all")
    client.remove_observee(5, 7, root_account_id=1)
    client.add_observee(5, 7)

    assert stub.calls[0].form == {"root_account_id": ["all"]}
    assert stub.calls[1].query == {"root_account_id": ["1"]}
    assert stub.calls[2].form == {} and stub.calls[2].query == {}


def test_missing_submissions_in_observer_mode_needs_course_ids() -> None:
    stub = StubCanvas().on(
        "GET",
        "/api/v1/users/self/missing_submissions",
        (200, [{"id": 1, "course_id": 3, "name": "Essay", "due_at": "2026-11-20T23:59:00Z"}], {}),
    )
    client, _ = make_client(stub)

    with pytest.raises(ValueError, match="course_ids"):
        client.list_missing_submissions("self", observed_user_id=7)
    items = list(client.list_missing_submissions("self", observed_user_id=7, course_ids=[3, 4]))

    assert items[0].name == "Essay" and items[0].submission is None
    assert stub.calls[0].query == {
        "observed_user_id": ["7"],
        "course_ids[]": ["3", "4"],
        "per_page": ["100"],
    }


def test_delete_enrollment_defaults_to_delete_task() -> None:
    enrollment = {
        "id": 9,
        "course_id": 3,
        "user_id": 5,
        "type": "ObserverEnrollment",
        "enrollment_state": "deleted",
    }
    stub = StubCanvas().on("DELETE", "/api/v1/courses/3/enrollments/9", (200, enrollment, {}))
    client, _ = make_client(stub)

    assert client.delete_enrollment(3, 9).enrollment_state == "deleted"
    assert stub.calls[0].query == {"task": ["delete"]}
    with pytest.raises(ValueError):
        client.delete_enrollment(3, 9, task="explode")


# ------------------------------------------------------------------ no secrets in logs


def test_no_token_or_pairing_code_in_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    stub = (
        StubCanvas()
        .on(
            "GET",
            "/api/v1/users/7",
            UNAVAILABLE,
            requests.ConnectionError(f"x {TOKEN}"),
            (200, USER, {}),
        )
        .on(
            "POST",
            "/api/v1/users/self/observees",
            (422, {"errors": [{"message": "Invalid pairing code."}]}, {}),
        )
    )
    client, _ = make_client(stub)
    caplog.set_level(logging.DEBUG, logger="canvas_client")

    client.get_user(7)
    with pytest.raises(errors.CanvasValidationError):
        client.redeem_pairing_code("Zz9Yy8")

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "canvas retry GET /api/v1/users/7" in text
    assert TOKEN not in text and "Zz9Yy8" not in text

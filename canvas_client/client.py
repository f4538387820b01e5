"""The Canvas REST client: one method per endpoint the portal uses (docs/canvas.md, "For developers: canvas_client").

Rules this module keeps:
- Every failure is a ``CanvasError`` subclass, never a bare ``requests`` exception, and no message
  holds the token (we send it only in the Authorization header and scrub it from foreign text).
- Idempotent calls (GET, PUT observee, DELETE) retry transient failures and throttling a bounded
  number of times with exponential backoff and full jitter. Calls that create something
  (pairing-code redemption, enrollment POST, SIS import, ...) never retry: a lost answer may hide a
  done action, and only the caller can confirm it (e.g. by listing observers).
- The limiter sees every request made with the client's token, before (``acquire``) and after
  (``release`` with ``X-Rate-Limit-Remaining``/``X-Request-Cost``).
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import requests

from .errors import (
    ActingAs,
    CanvasAuthError,
    CanvasError,
    CanvasNotFound,
    CanvasPermissionError,
    CanvasRateLimited,
    CanvasTransientError,
    CanvasValidationError,
)
from .models import (
    Assignment,
    CanvasUser,
    Course,
    Enrollment,
    OAuthToken,
    PairingCode,
    SisImport,
)
from .pagination import paginate
from .throttle import Limiter, NullLimiter

logger = logging.getLogger("canvas_client")

T = TypeVar("T")
UserId = int | str
Params = Mapping[str, Any]

# Sentinel: use the client's own token (vs. None = send no Authorization header, or a user's token).
_OWN_TOKEN = object()

RATE_LIMIT_MARKER = "Rate Limit Exceeded"


def object_id(value: UserId) -> str:
    """Path segment for a Canvas id: ``123``, ``self`` or ``sis_user_id:S/1`` ->
    ``sis_user_id:S%2F1``.

    The value after the prefix is URL-escaped (docs/canvas.md, "Pagination, errors and ids": ``/`` must become ``%2F``).
    """
    if isinstance(value, bool):
        raise TypeError("a Canvas id cannot be a boolean")
    text = str(value).strip()
    if not text:
        raise ValueError("A Canvas id is required; got an empty value.")
    prefix, sep, rest = text.partition(":")
    if sep and prefix.replace("_", "").isalnum():
        return f"{prefix}:{quote(rest, safe='')}"
    return quote(text, safe="")


def _form_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _clean(params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values and encode booleans/datetimes the way Canvas reads form fields."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            out[key] = [_form_value(v) for v in value]
        else:
            out[key] = _form_value(value)
    return out


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def _float_header(response: requests.Response, name: str) -> float | None:
    raw = response.headers.get(name)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def canvas_message(body: Any, default: str) -> str:
    """Canvas's own message, from any of the error shapes it uses (docs/canvas.md, "Throttling")."""
    if isinstance(body, Mapping):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            parts = []
            for err in errors:
                if isinstance(err, Mapping):
                    msg = err.get("message")
                    field = err.get("field")
                    if msg:
                        parts.append(f"{field}: {msg}" if field and field not in str(msg) else msg)
                elif err:
                    parts.append(str(err))
            if parts:
                return "; ".join(str(p) for p in parts)
        if isinstance(errors, Mapping) and errors:
            parts = []
            for field, value in errors.items():
                for msg in _flatten_messages(value):
                    parts.append(f"{field} {msg}" if field != "base" else msg)
            if parts:
                return "; ".join(parts)
        if isinstance(errors, str) and errors:
            return errors
        error, description = body.get("error"), body.get("error_description")
        if isinstance(error, str) and isinstance(description, str) and error and description:
            return f"{error}: {description}"  # OAuth2 token endpoint (RFC 6749 section 5.2)
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return default


def _flatten_messages(value: Any) -> list[str]:
    """``{"errors":{"user":{"name":[{"message":"..."}]}}}`` and friends -> flat message list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        if isinstance(value.get("message"), str):
            return [value["message"]]
        out: list[str] = []
        for key, inner in value.items():
            out.extend(f"{key} {m}" for m in _flatten_messages(inner))
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(_flatten_messages(item))
        return out
    return [str(value)] if value is not None else []


class CanvasClient:
    """A Canvas REST client bound to one base URL and one token.

    ``acting_as`` says whose token this is ("portal" service account, or a signed-in "user"), so
    ``CanvasError.user_message`` can tell the reader who must act. ``sleep`` and ``random`` are
    injectable so tests never really wait.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | tuple[float, float] = (5, 30),
        per_page: int = 100,
        session: requests.Session | None = None,
        limiter: Limiter | None = None,
        max_retries: int = 3,
        max_throttle_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        acting_as: ActingAs = "portal",
        user_agent: str = "mentor-link canvas_client",
    ) -> None:
        if not base_url or urlsplit(base_url).scheme not in {"http", "https"}:
            raise ValueError("CANVAS_BASE_URL must be an http(s) URL such as https://school.instructure.com")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.per_page = max(1, min(int(per_page), 100))
        self._owns_session = session is None
        self.session = session or requests.Session()
        self.limiter: Limiter = limiter or NullLimiter()
        self.max_retries = max_retries
        self.max_throttle_retries = max_throttle_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._random = random
        self.acting_as: ActingAs = acting_as
        self.user_agent = user_agent

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> CanvasClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the token.
        return f"CanvasClient(base_url={self.base_url!r}, acting_as={self.acting_as!r})"

    # ----------------------------------------------------------------- users
    def get_self(self) -> CanvasUser:
        """The token's own user: proves the token works (used by /healthz)."""
        return CanvasUser.from_json(self._get_json("/api/v1/users/self"))

    def get_user(self, user_id: UserId) -> CanvasUser:
        return CanvasUser.from_json(self._get_json(f"/api/v1/users/{object_id(user_id)}"))

    def search_users(self, account_id: UserId, term: str) -> Iterator[CanvasUser]:
        """Users in an account matching ``term`` (Canvas needs at least 3 characters)."""
        return self._paginate(
            f"/api/v1/accounts/{object_id(account_id)}/users",
            {"search_term": term, "include[]": ["email"]},
            CanvasUser.from_json,
        )

    def create_user(
        self,
        account_id: UserId,
        *,
        name: str,
        unique_id: str,
        sis_user_id: str | None = None,
        email: str | None = None,
        password: str | None = None,
    ) -> CanvasUser:
        """Admin helper for tests and seeding. Not retried: a lost answer may hide a created
        user."""
        data: dict[str, Any] = {
            "user[name]": name,
            "user[skip_registration]": True,
            "pseudonym[unique_id]": unique_id,
            "pseudonym[sis_user_id]": sis_user_id,
            "pseudonym[password]": password,
            "pseudonym[send_confirmation]": False,
        }
        if email:
            data.update(
                {
                    "communication_channel[type]": "email",
                    "communication_channel[address]": email,
                    "communication_channel[skip_confirmation]": True,
                }
            )
        body = self._request("POST", f"/api/v1/accounts/{object_id(account_id)}/users", data=data, idempotent=False)
        return CanvasUser.from_json(body)

    # ------------------------------------------------------- observer links
    def list_observees(self, user_id: UserId) -> Iterator[CanvasUser]:
        return self._paginate(f"/api/v1/users/{object_id(user_id)}/observees", None, CanvasUser.from_json)

    def list_observers(self, user_id: UserId) -> Iterator[CanvasUser]:
        return self._paginate(f"/api/v1/users/{object_id(user_id)}/observers", None, CanvasUser.from_json)

    def get_observee(self, user_id: UserId, observee_id: UserId) -> CanvasUser:
        """The linked student; raises ``CanvasNotFound`` when there is no link."""
        path = f"/api/v1/users/{object_id(user_id)}/observees/{object_id(observee_id)}"
        return CanvasUser.from_json(self._get_json(path))

    def add_observee(
        self, observer_id: UserId, student_id: UserId, *, root_account_id: UserId | None = None
    ) -> CanvasUser:
        """Link observer to student (PUT: idempotent, so retried). Without ``root_account_id``
        Canvas links on the domain root account only; ``"all"`` links on every shared root
        account."""
        path = f"/api/v1/users/{object_id(observer_id)}/observees/{object_id(student_id)}"
        body = self._request("PUT", path, data={"root_account_id": root_account_id}, idempotent=True)
        return CanvasUser.from_json(body)

    def remove_observee(
        self, observer_id: UserId, student_id: UserId, *, root_account_id: UserId | None = None
    ) -> CanvasUser:
        """Unlink (DELETE, retried). A 404 after a retry may mean the first attempt worked:
        confirm with ``get_observee`` rather than trusting it."""
        path = f"/api/v1/users/{object_id(observer_id)}/observees/{object_id(student_id)}"
        body = self._request("DELETE", path, params={"root_account_id": root_account_id}, idempotent=True)
        return CanvasUser.from_json(body)

    def create_pairing_code(self, student_id: UserId) -> PairingCode:
        """A new 6-character code valid for 7 days. Not retried: it would mint codes nobody
        holds."""
        body = self._request(
            "POST",
            f"/api/v1/users/{object_id(student_id)}/observer_pairing_codes",
            idempotent=False,
        )
        return PairingCode.from_json(body)

    def redeem_pairing_code(self, code: str, *, observer_id: UserId = "self") -> CanvasUser:
        """Link ``observer_id`` (usually the signed-in mentor) to the code's student.

        Canvas consumes the code before answering, so this is never retried: if the answer is lost,
        confirm by listing the student's observers (docs/architecture.md, "Sync").
        """
        if not code or not code.strip():
            raise ValueError("A pairing code is required.")
        body = self._request(
            "POST",
            f"/api/v1/users/{object_id(observer_id)}/observees",
            data={"pairing_code": code.strip()},
            idempotent=False,
        )
        return CanvasUser.from_json(body)

    # ------------------------------------------------------------- courses
    def get_course(self, course_id: UserId) -> Course:
        return Course.from_json(self._get_json(f"/api/v1/courses/{object_id(course_id)}"))

    def list_user_courses(self, user_id: UserId, *, state: str | Iterable[str] | None = None) -> Iterator[Course]:
        return self._paginate(
            f"/api/v1/users/{object_id(user_id)}/courses",
            {"state[]": _as_list(state)},
            Course.from_json,
        )

    def create_course(
        self,
        account_id: UserId,
        *,
        name: str,
        course_code: str,
        sis_course_id: str | None = None,
        publish: bool = True,
    ) -> Course:
        """Admin helper for tests and seeding. Not retried."""
        data = {
            "course[name]": name,
            "course[course_code]": course_code,
            "course[sis_course_id]": sis_course_id,
            "offer": publish,
        }
        body = self._request("POST", f"/api/v1/accounts/{object_id(account_id)}/courses", data=data, idempotent=False)
        return Course.from_json(body)

    # --------------------------------------------------------- enrollments
    def list_user_enrollments(
        self,
        user_id: UserId,
        *,
        type: str | Iterable[str] | None = None,
        state: str | Iterable[str] | None = None,
    ) -> Iterator[Enrollment]:
        return self._paginate(
            f"/api/v1/users/{object_id(user_id)}/enrollments",
            {"type[]": _as_list(type), "state[]": _as_list(state)},
            Enrollment.from_json,
        )

    def list_course_enrollments(
        self,
        course_id: UserId,
        *,
        type: str | Iterable[str] | None = None,
        user_id: UserId | None = None,
    ) -> Iterator[Enrollment]:
        return self._paginate(
            f"/api/v1/courses/{object_id(course_id)}/enrollments",
            {"type[]": _as_list(type), "user_id": user_id},
            Enrollment.from_json,
        )

    def create_observer_enrollment(
        self,
        course_id: UserId,
        observer_id: UserId,
        student_id: UserId,
        *,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
    ) -> Enrollment:
        """A one-off, course-scoped observer enrollment, active at once, without notification.

        Not retried: a lost answer may hide a created enrollment; confirm with
        ``list_course_enrollments(course, user_id=observer, type="ObserverEnrollment")``.
        """
        data = {
            "enrollment[user_id]": observer_id,
            "enrollment[type]": "ObserverEnrollment",
            "enrollment[associated_user_id]": student_id,
            "enrollment[enrollment_state]": "active",
            "enrollment[notify]": False,
            "enrollment[start_at]": start_at,
            "enrollment[end_at]": end_at,
        }
        body = self._request(
            "POST",
            f"/api/v1/courses/{object_id(course_id)}/enrollments",
            data=data,
            idempotent=False,
        )
        return Enrollment.from_json(body)

    def enroll_user(
        self,
        course_id: UserId,
        user_id: UserId,
        *,
        type: str,
        associated_user_id: UserId | None = None,
        enrollment_state: str = "active",
    ) -> Enrollment:
        """Admin helper for tests and seeding (StudentEnrollment, TeacherEnrollment, ...). Not
        retried."""
        data = {
            "enrollment[user_id]": user_id,
            "enrollment[type]": type,
            "enrollment[associated_user_id]": associated_user_id,
            "enrollment[enrollment_state]": enrollment_state,
            "enrollment[notify]": False,
        }
        body = self._request(
            "POST",
            f"/api/v1/courses/{object_id(course_id)}/enrollments",
            data=data,
            idempotent=False,
        )
        return Enrollment.from_json(body)

    def delete_enrollment(self, course_id: UserId, enrollment_id: UserId, *, task: str = "delete") -> Enrollment:
        """End an enrollment. Canvas's default task is ``conclude``; the portal wants ``delete``."""
        if task not in {"conclude", "delete", "inactivate", "deactivate"}:
            raise ValueError(f"Unknown enrollment task {task!r}.")
        path = f"/api/v1/courses/{object_id(course_id)}/enrollments/{object_id(enrollment_id)}"
        body = self._request("DELETE", path, params={"task": task}, idempotent=True)
        return Enrollment.from_json(body)

    # ---------------------------------------------------------- coursework
    def list_assignments(
        self, user_id: UserId, course_id: UserId, *, bucket: str | None = None
    ) -> Iterator[Assignment]:
        return self._paginate(
            f"/api/v1/users/{object_id(user_id)}/courses/{object_id(course_id)}/assignments",
            {"include[]": ["submission"], "bucket": bucket},
            Assignment.from_json,
        )

    def list_missing_submissions(
        self,
        user_id: UserId,
        *,
        observed_user_id: UserId | None = None,
        course_ids: Sequence[UserId] | None = None,
    ) -> Iterator[Assignment]:
        """Missing work. In observer mode Canvas requires ``course_ids`` (docs/canvas.md, "The observer's view")."""
        if observed_user_id is not None and not course_ids:
            raise ValueError("Canvas requires course_ids when observed_user_id is given.")
        return self._paginate(
            f"/api/v1/users/{object_id(user_id)}/missing_submissions",
            {
                "observed_user_id": observed_user_id,
                "course_ids[]": list(course_ids) if course_ids else None,
            },
            Assignment.from_json,
        )

    # --------------------------------------------------------- SIS imports
    def start_sis_import(self, account_id: UserId, csv_bytes: bytes) -> SisImport:
        """Upload a CSV as a raw body. Never batch mode: it deletes whatever the file omits.

        Not retried: a second upload would run the import twice.
        """
        if not csv_bytes:
            raise ValueError("The SIS import file is empty.")
        path = f"/api/v1/accounts/{object_id(account_id)}/sis_imports"
        body = self._request(
            "POST",
            path,
            params={"import_type": "instructure_csv", "extension": "csv"},
            body=csv_bytes,
            headers={"Content-Type": "text/csv; charset=utf-8"},
            idempotent=False,
        )
        return SisImport.from_json(body)

    def get_sis_import(self, account_id: UserId, import_id: UserId) -> SisImport:
        path = f"/api/v1/accounts/{object_id(account_id)}/sis_imports/{object_id(import_id)}"
        return SisImport.from_json(self._get_json(path))

    # --------------------------------------------------------------- OAuth2
    # These use the client id/secret or the user's own token, never the portal token, and they
    # bypass the limiter: they count against other throttle buckets.
    def oauth_authorize_url(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        state: str,
        scope: str | Iterable[str] | None = None,
        force_login: bool = False,
        purpose: str | None = None,
    ) -> str:
        query: dict[str, Any] = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "state": state,
        }
        if scope:
            query["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        if force_login:
            query["force_login"] = "1"
        if purpose:
            query["purpose"] = purpose
        return f"{self.base_url}/login/oauth2/auth?{urlencode(query)}"

    def oauth_exchange_code(self, *, client_id: str, client_secret: str, redirect_uri: str, code: str) -> OAuthToken:
        """Trade the one-time code for a token. Not retried: the code works once."""
        data = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        }
        body = self._request("POST", "/login/oauth2/token", data=data, idempotent=False, token=None, limited=False)
        return OAuthToken.from_json(body)

    def oauth_refresh(self, *, client_id: str, client_secret: str, refresh_token: str) -> OAuthToken:
        """A fresh access token; the refresh token stays valid (Canvas returns no new one)."""
        data = {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
        # The refresh token is reusable, so a retry only mints one more short-lived token.
        body = self._request("POST", "/login/oauth2/token", data=data, idempotent=True, token=None, limited=False)
        token = OAuthToken.from_json(body)
        if token.refresh_token is None:
            token = OAuthToken(
                access_token=token.access_token,
                token_type=token.token_type,
                user_id=token.user_id,
                user_name=token.user_name,
                expires_in=token.expires_in,
                refresh_token=refresh_token,
            )
        return token

    def oauth_revoke(self, access_token: str, *, expire_sessions: bool = False) -> None:
        """Revoke a user's token (sign-out). Safe to retry: revoking twice changes nothing."""
        self._request(
            "DELETE",
            "/login/oauth2/token",
            params={"expire_sessions": "1" if expire_sessions else None},
            idempotent=True,
            token=access_token,
            limited=False,
            allow_empty=True,
        )

    # ------------------------------------------------------------ plumbing
    def _get_json(self, path: str, params: Params | None = None) -> Any:
        return self._request("GET", path, params=params, idempotent=True)

    def _paginate(self, path: str, params: Params | None, parse: Callable[[Mapping[str, Any]], T]) -> Iterator[T]:
        first_params = dict(_clean(params or {}))
        first_params["per_page"] = self.per_page

        def fetch(url: str, page_params: Params | None) -> tuple[Any, str | None]:
            body, response = self._send("GET", url, params=page_params, idempotent=True)
            return body, response.headers.get("Link")

        return paginate(fetch, self._url(path), first_params, parse, base_url=self.base_url)

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}{path_or_url}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        data: Params | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        token: object = _OWN_TOKEN,
        limited: bool = True,
        allow_empty: bool = False,
    ) -> Any:
        body_out, _ = self._send(
            method,
            self._url(path),
            params=_clean(params) if params else None,
            data=_clean(data) if data else None,
            body=body,
            headers=headers,
            idempotent=idempotent,
            token=token,
            limited=limited,
            allow_empty=allow_empty,
        )
        return body_out

    def _decode(
        self,
        response: requests.Response,
        *,
        url: str,
        allow_empty: bool = False,
        method: str = "GET",
    ) -> Any:
        if not response.content:
            if allow_empty:
                return None
            raise CanvasTransientError(
                "Canvas sent an empty answer",
                status=response.status_code,
                method=method,
                path=urlsplit(url).path,
                acting_as=self.acting_as,
            )
        try:
            return response.json()
        except ValueError:
            if allow_empty:
                return None
            raise CanvasTransientError(
                "Canvas sent an answer that is not valid JSON",
                status=response.status_code,
                method=method,
                path=urlsplit(url).path,
                acting_as=self.acting_as,
            ) from None

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1)))."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return self._random() * ceiling

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        data: Params | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
        token: object = _OWN_TOKEN,
        limited: bool = True,
        allow_empty: bool = False,
    ) -> tuple[Any, requests.Response]:
        """Send with retries; return (decoded JSON, 2xx response) or raise a ``CanvasError``."""
        transient_attempts = 0
        throttle_attempts = 0
        while True:
            try:
                return self._send_once(
                    method,
                    url,
                    params=params,
                    data=data,
                    body=body,
                    headers=headers,
                    token=token,
                    limited=limited,
                    allow_empty=allow_empty,
                )
            except CanvasRateLimited as exc:
                if not idempotent or throttle_attempts >= self.max_throttle_retries:
                    raise
                throttle_attempts += 1
                delay = self._backoff(throttle_attempts)
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, 60.0))
                error: CanvasError = exc
            except CanvasTransientError as exc:
                if not idempotent or transient_attempts >= self.max_retries:
                    raise
                transient_attempts += 1
                delay = self._backoff(transient_attempts)
                if exc.retry_after is not None:
                    # A 503 may say when to come back; honour it, within our own cap.
                    delay = max(delay, min(exc.retry_after, self.backoff_cap))
                error = exc
            logger.info(
                "canvas retry %s %s after %s (%.2fs)",
                method,
                urlsplit(url).path,
                type(error).__name__,
                delay,
            )
            self._sleep(delay)

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        params: Params | None,
        data: Params | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        token: object,
        limited: bool,
        allow_empty: bool,
    ) -> tuple[Any, requests.Response]:
        path = urlsplit(url).path
        bearer = self._token if token is _OWN_TOKEN else token
        all_headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        all_headers.update(headers or {})
        use_limiter = limited and token is _OWN_TOKEN
        ticket = self.limiter.acquire() if use_limiter else None
        released = False
        started = time.monotonic()
        try:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=body if body is not None else data,
                    headers=all_headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                # The text of requests' exceptions can include the URL; ours never carries a token,
                # but scrub anyway in case a caller's base_url or session added one.
                reason = _scrub(f"{type(exc).__name__}: {exc}", bearer, self._token)
                raise CanvasTransientError(reason, method=method, path=path, acting_as=self.acting_as) from exc
            remaining = _float_header(response, "X-Rate-Limit-Remaining")
            cost = _float_header(response, "X-Request-Cost")
            throttled = _is_throttled(response)
            if use_limiter:
                released = True
                self.limiter.release(ticket, remaining=remaining, cost=cost, throttled=throttled)
        finally:
            if use_limiter and not released:
                self.limiter.release(ticket, remaining=None, cost=None, throttled=False)
        elapsed_ms = (time.monotonic() - started) * 1000
        logger.debug(
            "canvas %s %s -> %s in %.0f ms (cost %s, remaining %s)",
            method,
            path,
            response.status_code,
            elapsed_ms,
            cost,
            remaining,
        )
        if 200 <= response.status_code < 300:
            return self._decode(response, url=url, allow_empty=allow_empty, method=method), response
        raise self._error(response, method=method, path=path, throttled=throttled, secrets=(bearer,))

    def _error(
        self,
        response: requests.Response,
        *,
        method: str,
        path: str,
        throttled: bool,
        secrets: tuple[object, ...],
    ) -> CanvasError:
        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        message = _scrub(canvas_message(body, default=response.reason or f"HTTP {status}"), *secrets, self._token)
        kwargs: dict[str, Any] = {
            "status": status,
            "method": method,
            "path": path,
            "acting_as": self.acting_as,
            "retry_after": _float_header(response, "Retry-After"),
        }
        if 300 <= status < 400:
            # Redirects are not followed: the bearer token must only go to CANVAS_BASE_URL.
            return CanvasError("Canvas redirected the request; check CANVAS_BASE_URL (https, exact host)", **kwargs)
        if throttled:
            return CanvasRateLimited(message, **kwargs)
        if status == 401:
            if "WWW-Authenticate" in response.headers:
                return CanvasAuthError(message, **kwargs)
            return CanvasPermissionError(message, **kwargs)
        if status == 403:
            return CanvasPermissionError(message, **kwargs)
        if status == 404:
            return CanvasNotFound(message, **kwargs)
        if status in {400, 409, 422}:
            return CanvasValidationError(message, **kwargs)
        if status >= 500 or status in {408, 425}:
            return CanvasTransientError(message, **kwargs)
        return CanvasError(message, **kwargs)


def _is_throttled(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    # Canvas answers a full bucket with 403 and a plain-text body (docs/canvas.md, "Throttling").
    return response.status_code == 403 and RATE_LIMIT_MARKER in response.text


def _scrub(text: str, *secrets: object) -> str:
    for secret in secrets:
        if isinstance(secret, str) and secret:
            text = text.replace(secret, "[redacted]")
    return text


__all__ = ["CanvasClient", "canvas_message", "object_id"]

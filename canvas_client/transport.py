"""How the client talks to Canvas: the session, the token, retries, throttling, decoding and typed errors.

Rules this module keeps:
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import requests

from .errors import ActingAs, CanvasError, CanvasRateLimited, CanvasTransientError, error_for_status
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


class Transport:
    """The HTTP half of ``CanvasClient``: one base URL, one token, one session, one limiter.

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
        # The retry policy: how many tries for each kind of failure, and the backoff's base and cap in seconds.
        self.max_retries, self.max_throttle_retries = max_retries, max_throttle_retries
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._sleep, self._random = sleep, random
        self.acting_as: ActingAs = acting_as
        self.user_agent = user_agent

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never the token.
        return f"CanvasClient(base_url={self.base_url!r}, acting_as={self.acting_as!r})"

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

    def _request(self, method: str, path: str, *, idempotent: bool, **options: Any) -> Any:
        """``_send`` for a path of this Canvas, with empty parameters dropped; returns the decoded body.

        ``options`` are ``_send``'s: params, data, body, headers, token, limited, allow_empty."""
        for form in ("params", "data"):
            options[form] = _clean(options[form]) if options.get(form) else None
        body_out, _ = self._send(method, self._url(path), idempotent=idempotent, **options)
        return body_out

    def _decode(self, response: requests.Response, *, url: str, allow_empty: bool = False, method: str = "GET") -> Any:
        if response.content:
            try:
                return response.json()
            except ValueError:
                problem = "Canvas sent an answer that is not valid JSON"
        else:
            problem = "Canvas sent an empty answer"
        if allow_empty:
            return None
        raise CanvasTransientError(
            problem, status=response.status_code, method=method, path=urlsplit(url).path, acting_as=self.acting_as
        ) from None

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1)))."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return self._random() * ceiling

    def _send(self, method: str, url: str, *, idempotent: bool, **request: Any) -> tuple[Any, requests.Response]:
        """Send with retries; return (decoded JSON, 2xx response) or raise a ``CanvasError``.

        ``request`` is ``_send_once``'s keywords. Throttling and transient failures are counted apart, each
        against its own limit, and only an idempotent call is retried at all."""
        attempts = {True: 0, False: 0}  # throttled? -> retries so far
        while True:
            try:
                return self._send_once(method, url, **request)
            except (CanvasRateLimited, CanvasTransientError) as exc:
                throttled = isinstance(exc, CanvasRateLimited)
                limit, wait_cap = (
                    (self.max_throttle_retries, 60.0) if throttled else (self.max_retries, self.backoff_cap)
                )
                if not idempotent or attempts[throttled] >= limit:
                    raise
                attempts[throttled] += 1
                delay = self._backoff(attempts[throttled])
                if exc.retry_after is not None:
                    # Canvas (or a 503) may say when to come back; honour it, within our own cap.
                    delay = max(delay, min(exc.retry_after, wait_cap))
                logger.info(
                    "canvas retry %s %s after %s (%.2fs)", method, urlsplit(url).path, type(exc).__name__, delay
                )
                self._sleep(delay)

    def _send_once(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Params | None = None,
        data: Params | None = None,
        body: bytes | None = None,
        token: object = _OWN_TOKEN,
        limited: bool = True,
        allow_empty: bool = False,
    ) -> tuple[Any, requests.Response]:
        path = urlsplit(url).path
        bearer = self._token if token is _OWN_TOKEN else token
        all_headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if bearer:
            all_headers["Authorization"] = f"Bearer {bearer}"
        all_headers.update(headers or {})
        response, throttled = self._exchange(
            method,
            url,
            params=params,
            data=body if body is not None else data,
            headers=all_headers,
            # A user's token (or none) is not the portal's budget: the limiter counts only our own.
            use_limiter=limited and token is _OWN_TOKEN,
            secrets=(bearer,),
        )
        if 200 <= response.status_code < 300:
            return self._decode(response, url=url, allow_empty=allow_empty, method=method), response
        raise self._error(response, method=method, path=path, throttled=throttled, secrets=(bearer,))

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        params: Params | None,
        data: Params | bytes | None,
        headers: Mapping[str, str],
        use_limiter: bool,
        secrets: tuple[object, ...],
    ) -> tuple[requests.Response, bool]:
        """One HTTP request between the limiter's acquire and release; returns (response, throttled).

        The ticket is released on every path, with Canvas's budget headers when an answer came."""
        path = urlsplit(url).path
        ticket = self.limiter.acquire() if use_limiter else None
        released = False
        started = time.monotonic()
        try:
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                # The text of requests' exceptions can include the URL; ours never carries a token,
                # but scrub anyway in case a caller's base_url or session added one.
                reason = _scrub(f"{type(exc).__name__}: {exc}", *secrets, self._token)
                raise CanvasTransientError(reason, method=method, path=path, acting_as=self.acting_as) from exc
            remaining = _float_header(response, "X-Rate-Limit-Remaining")
            cost = _float_header(response, "X-Request-Cost")
            throttled = _is_throttled(response)
            if use_limiter:
                released = True
                self.limiter.release(
                    ticket, remaining=remaining, cost=cost, throttled=throttled, rejected=_token_rejected(response)
                )
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
        return response, throttled

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
        return error_for_status(
            status,
            message,
            throttled=throttled,
            authenticate_header="WWW-Authenticate" in response.headers,
            method=method,
            path=path,
            acting_as=self.acting_as,
            retry_after=_float_header(response, "Retry-After"),
        )


def _token_rejected(response: requests.Response) -> bool:
    """Canvas refused the token itself, not the action (docs/canvas-rules.md, "5. Tokens")."""
    return response.status_code == 401 and "WWW-Authenticate" in response.headers


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

"""Typed Canvas errors, one class per thing the caller should do next.

Every error carries Canvas's own message (``message``), the HTTP ``status`` when there was a
response, and ``user_message``: a sentence a coordinator can act on. None of them ever contains a
token: the client builds the text itself from status codes and response bodies, and scrubs the token
from any text it did not write (see ``client._scrub``).
"""

from __future__ import annotations

from typing import Any, Literal

ActingAs = Literal["portal", "user"]


def _clause(text: str) -> str:
    """Canvas's message without its final full stop, to sit inside one of our sentences."""
    return text.strip().rstrip(".")


class CanvasError(Exception):
    """Base class: Canvas refused the request or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        acting_as: ActingAs = "portal",
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        # Seconds from a Retry-After header, when Canvas (or a proxy) sent one.
        self.retry_after = retry_after
        self.status = status
        self.method = method
        self.path = path
        self.acting_as = acting_as
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{where}{status}{self.message}".strip()

    @property
    def status_text(self) -> str:
        return str(self.status) if self.status is not None else "no response"

    @property
    def user_message(self) -> str:
        return f"Canvas refused the request ({self.status_text}): {_clause(self.message)}."

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class CanvasRateLimited(CanvasError):
    """Canvas's throttle refused the request (403 "Rate Limit Exceeded", or 429). Slow down, retry.

    A throttled request is rejected by Canvas's middleware before any action runs.
    """

    @property
    def user_message(self) -> str:
        return (
            f"Canvas is throttling the portal's requests ({self.status_text}, "
            "rate limit exceeded). The portal slows down and retries by itself; "
            "act only if this persists for hours."
        )


class CanvasTransientError(CanvasError):
    """5xx, timeout, connection failure or a garbled 2xx answer: retrying later may work."""

    @property
    def user_message(self) -> str:
        if self.status is None:
            return (
                f"Canvas could not be reached or did not answer in time ({_clause(self.message)}). "
                "The portal retries by itself; if this persists, check that Canvas is up."
            )
        if self.status < 300:
            return (
                f"Canvas sent an answer the portal could not read ({self.status}). "
                "The portal retries reads by itself; if this persists, check CANVAS_BASE_URL "
                "and any proxy in front of Canvas."
            )
        return (
            f"Canvas had a temporary problem ({self.status}). "
            "The portal retries by itself; if this persists, check Canvas's status page."
        )


class CanvasAuthError(CanvasError):
    """The access token is invalid, expired or revoked (401 with WWW-Authenticate).

    Nothing sent with this token will work until it is replaced; callers stop all Canvas work.
    """

    @property
    def user_message(self) -> str:
        if self.acting_as == "user":
            return (
                f"Canvas no longer accepts your Canvas sign-in "
                f"({self.status_text}: {_clause(self.message)}). Sign in with Canvas again."
            )
        return (
            f"Canvas rejected the portal's access token ({self.status_text}: {_clause(self.message)}). "
            "An administrator must replace the portal's Canvas token (Canvas connection page)."
        )


class CanvasPermissionError(CanvasError):
    """The token works but its user may not do this (401 without WWW-Authenticate, or 403)."""

    @property
    def user_message(self) -> str:
        if self.acting_as == "user":
            return (
                f"Canvas says your account may not do this ({self.status_text}): {_clause(self.message)}. "
                "Ask a coordinator to check your mentor link."
            )
        return (
            f"The portal's Canvas account lacks a permission ({self.status_text}): {_clause(self.message)}. "
            "Ask a Canvas administrator to grant it (see docs/canvas.md), then retry."
        )


class CanvasNotFound(CanvasError):
    """404: the user, course, link or enrollment does not exist (or is not visible to this
    token)."""

    @property
    def user_message(self) -> str:
        return (
            f"Canvas says this user or link does not exist ({self.status_text}). "
            "Check the person's Canvas account, then retry."
        )


class CanvasValidationError(CanvasError):
    """400, 409 or 422: Canvas refused the data; ``message`` is Canvas's explanation."""

    @property
    def user_message(self) -> str:
        return (
            f"Canvas refused the request ({self.status_text}): {_clause(self.message)}. Correct the data, then retry."
        )


def error_for_status(
    status: int, message: str, *, throttled: bool, authenticate_header: bool, **context: Any
) -> CanvasError:
    """The error class for a refused request, chosen by what the caller should do next.

    ``context`` is the error's keywords (method, path, acting_as, retry_after); ``authenticate_header`` says
    whether a 401 came with WWW-Authenticate (a dead token) or without (a permission refused)."""
    if 300 <= status < 400:
        # Redirects are not followed: the bearer token must only go to CANVAS_BASE_URL.
        message = "Canvas redirected the request; check CANVAS_BASE_URL (https, exact host)"
        return CanvasError(message, status=status, **context)
    if throttled:
        return CanvasRateLimited(message, status=status, **context)
    if status == 401 and authenticate_header:
        return CanvasAuthError(message, status=status, **context)
    return _ERROR_BY_STATUS.get(status, _by_range(status))(message, status=status, **context)


def _by_range(status: int) -> type[CanvasError]:
    return CanvasTransientError if status >= 500 else CanvasError


_ERROR_BY_STATUS: dict[int, type[CanvasError]] = {
    401: CanvasPermissionError,
    403: CanvasPermissionError,
    404: CanvasNotFound,
    400: CanvasValidationError,
    409: CanvasValidationError,
    422: CanvasValidationError,
    408: CanvasTransientError,
    425: CanvasTransientError,
}


__all__ = [
    "ActingAs",
    "CanvasAuthError",
    "CanvasError",
    "CanvasNotFound",
    "CanvasPermissionError",
    "CanvasRateLimited",
    "CanvasTransientError",
    "CanvasValidationError",
    "error_for_status",
]

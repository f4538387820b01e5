"""Small helpers shared by the fake: time formatting, Canvas error bodies, parameter access."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

Clock = Callable[[], float]

NOT_FOUND_BODY = {"errors": [{"message": "The specified resource does not exist."}]}
UNAUTHORIZED_BODY = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
UNAUTHENTICATED_BODY = {
    "status": "unauthenticated",
    "errors": [{"message": "user authorization required"}],
}
THROTTLED_BODY = b"403 Forbidden (Rate Limit Exceeded)\n"


def iso(ts: float | None) -> str | None:
    """Canvas renders times as ISO 8601 UTC with a trailing Z and whole seconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> float | None:
    """Accept ISO 8601 (with Z or an offset, or a bare date) and return epoch seconds."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def real_clock() -> float:
    return time.time()


class ApiError(Exception):
    """Raised by a handler to answer with a Canvas error body."""

    def __init__(self, status: int, body: Any, headers: Iterable[tuple[str, str]] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = list(headers or [])


def not_found() -> ApiError:
    return ApiError(404, NOT_FOUND_BODY)


def unauthorized() -> ApiError:
    return ApiError(401, UNAUTHORIZED_BODY)


def enrollment_error(message: str) -> ApiError:
    return ApiError(400, {"message": message})


def observee_error(message: str, status: int = 422) -> ApiError:
    return ApiError(status, {"errors": [{"message": message}]})


def encode_bookmark(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return "bookmark:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_bookmark(page: str) -> Any:
    token = page[len("bookmark:") :]
    token += "=" * (-len(token) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, json.JSONDecodeError):
        return None


class Params:
    """Canvas-style parameters from the query string, a form body and a JSON body.

    ``get("enrollment", "type")`` finds ``enrollment[type]`` in the query or form, or
    ``{"enrollment": {"type": ...}}`` in a JSON body; ``getlist("type")`` reads ``type[]``.
    """

    def __init__(self, multi: Any, json_body: Any) -> None:
        self.multi = multi
        self.json = json_body if isinstance(json_body, dict) else {}

    def get(self, *path: str, default: Any = None) -> Any:
        flat = path[0] + "".join(f"[{p}]" for p in path[1:])
        if flat in self.multi:
            return self.multi.get(flat)
        if flat in self.json:
            return self.json[flat]
        node: Any = self.json
        for part in path:
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def getlist(self, *path: str) -> list[Any]:
        flat = path[0] + "".join(f"[{p}]" for p in path[1:])
        values = list(self.multi.getlist(flat + "[]")) + list(self.multi.getlist(flat))
        node: Any = self.json
        for part in path:
            if not isinstance(node, dict) or part not in node:
                node = None
                break
            node = node[part]
        if isinstance(node, list):
            values.extend(node)
        elif node is not None:
            values.append(node)
        return values

    def has(self, *path: str) -> bool:
        return self.get(*path) is not None or bool(self.getlist(*path))

    def bool(self, *path: str) -> bool:
        value = self.get(*path)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes", "on")


def split_raw_path(raw: str) -> list[str]:
    """Split a still-escaped path into unescaped segments (so %2F stays inside a segment)."""
    return [unquote(seg) for seg in raw.split("/")]


def raw_request_path(environ: dict[str, Any]) -> str:
    """The path as the client sent it, still escaped (REQUEST_URI/RAW_URI), so %2F in a segment survives routing;
    PATH_INFO (already unescaped) only when the server gives nothing better."""
    raw_uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
    if not raw_uri:
        return str(environ.get("PATH_INFO", "/"))
    raw_path = str(raw_uri).split("?", 1)[0]
    return urlsplit(raw_path).path if "://" in raw_path else raw_path

"""FakeCanvas: the WSGI app, its switches, the /__fake__/ control endpoints and the Python API."""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import math
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from werkzeug.datastructures import CombinedMultiDict
from werkzeug.wrappers import Request

from . import seed as seeds
from .api import CanvasApi
from .base import Ctx, Reply
from .fixtures import Fixtures
from .oauth import OAuth
from .sis import SETTINGS_KEYS, SisImports
from .state import State
from .throttle import Throttle
from .util import (
    NOT_FOUND_BODY,
    THROTTLED_BODY,
    UNAUTHENTICATED_BODY,
    ApiError,
    Clock,
    Params,
    iso,
    raw_request_path,
    split_raw_path,
)

log = logging.getLogger("fake_canvas")

LATENCY_CAP_S = 30.0
DEFAULT_CONFIG: dict[str, Any] = {
    "latency_ms": 0.0,
    "latency_median_ms": 0.0,
    "latency_sigma": 0.5,
    "error_rate": 0.0,
    "drop_rate": 0.0,
    "sis_paused": False,
    "sis_row_delay_ms": 0.0,
}
REQUEST_LOG_LIMIT = 100_000


class DroppedResponse(Exception):
    """Raised from the response iterator so the server closes the connection mid-response."""


class _NoSuchControl(LookupError):
    pass


class _DropFilter(logging.Filter):
    """Keep waitress from logging a traceback for every deliberately dropped response."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedResponse)


logging.getLogger("waitress").addFilter(_DropFilter())


def _dropped_body() -> Iterator[bytes]:
    # Waitress sends the status line and headers with the first non-empty chunk; raising next
    # makes it close the connection well short of the declared Content-Length, so an HTTP client
    # gets no usable answer (requests raises ChunkedEncodingError / ConnectionError).
    yield b"\n"
    raise DroppedResponse


# (method, path template, handler name, needs a token)
ROUTES: tuple[tuple[str, str, str, bool], ...] = (
    ("GET", "api/v1/users/:user_id", "user_show", True),
    ("GET", "api/v1/accounts/:account_id", "account_show", True),
    ("GET", "api/v1/accounts/:account_id/users", "account_users", True),
    ("POST", "api/v1/accounts/:account_id/users", "account_user_create", True),
    ("POST", "api/v1/accounts/:account_id/courses", "account_course_create", True),
    ("GET", "api/v1/users/:user_id/observees", "observees_index", True),
    ("POST", "api/v1/users/:user_id/observees", "observees_create", True),
    ("GET", "api/v1/users/:user_id/observers", "observers_index", True),
    ("GET", "api/v1/users/:user_id/observees/:observee_id", "observee_show", True),
    ("PUT", "api/v1/users/:user_id/observees/:observee_id", "observee_update", True),
    ("DELETE", "api/v1/users/:user_id/observees/:observee_id", "observee_destroy", True),
    ("GET", "api/v1/users/:user_id/observers/:observer_id", "observer_show", True),
    ("POST", "api/v1/users/:user_id/observer_pairing_codes", "pairing_code_create", True),
    ("GET", "api/v1/users/:user_id/enrollments", "user_enrollments", True),
    ("GET", "api/v1/users/:user_id/courses", "user_courses", True),
    ("GET", "api/v1/users/:user_id/courses/:course_id/assignments", "user_assignments", True),
    ("GET", "api/v1/users/:user_id/missing_submissions", "missing_submissions", True),
    ("GET", "api/v1/courses/:course_id", "course_show", True),
    ("GET", "api/v1/courses/:course_id/enrollments", "course_enrollments", True),
    ("GET", "api/v1/courses/:course_id/assignments", "course_assignments", True),
    ("GET", "api/v1/courses/:course_id/students/submissions", "course_student_submissions", True),
    ("POST", "api/v1/courses/:course_id/enrollments", "enrollment_create", True),
    ("DELETE", "api/v1/courses/:course_id/enrollments/:enrollment_id", "enrollment_destroy", True),
    ("POST", "api/v1/accounts/:account_id/sis_imports", "sis_import_create", True),
    ("GET", "api/v1/accounts/:account_id/sis_imports", "sis_import_index", True),
    ("GET", "api/v1/accounts/:account_id/sis_imports/:import_id", "sis_import_show", True),
    ("GET", "files/:file_id/download", "sis_errors_file", False),
    ("GET", "login/oauth2/auth", "oauth_auth_page", False),
    ("POST", "login/oauth2/auth", "oauth_auth_submit", False),
    ("POST", "login/oauth2/token", "oauth_token", False),
    ("DELETE", "login/oauth2/token", "oauth_revoke", True),
)


def _compile_routes() -> dict[tuple[str, int], list[tuple[list[str], str, bool]]]:
    table: dict[tuple[str, int], list[tuple[list[str], str, bool]]] = collections.defaultdict(list)
    for method, template, handler, auth in ROUTES:
        parts = template.split("/")
        table[(method, len(parts))].append((parts, handler, auth))
    return table


class FakeCanvas(Fixtures, CanvasApi, SisImports, OAuth):
    """A Canvas look-alike. See fake_canvas/README.md for the switches and control API."""

    def __init__(
        self,
        admin_token: str = "T",  # noqa: S107 - a fake's default
        seed: str = "empty",
        oauth_client_id: str | None = None,
        oauth_client_secret: str | None = None,
        state_file: str | None = None,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
        rng_seed: int | None = None,
        save_interval: float = 5.0,
        **switches: Any,
    ) -> None:
        if seed not in ("empty", "demo"):
            raise ValueError("seed must be 'empty' or 'demo'.")
        base_clock = clock or time.time
        # The test control `advance_clock` moves the fake's own time (token expiry, due dates), not the machine's.
        self.clock_offset = 0.0
        self.clock = lambda: base_clock() + self.clock_offset
        self.sleep = sleep or time.sleep
        self.lock = threading.RLock()
        self.sis_cond = threading.Condition(self.lock)
        self.rng = random.Random(rng_seed)
        self.admin_token = admin_token
        self.seed = seed
        self.oauth_client_id = oauth_client_id
        self.oauth_client_secret = oauth_client_secret
        self.state_file = state_file
        self.config: dict[str, Any] = dict(DEFAULT_CONFIG)
        self.throttle = Throttle(self.clock)
        self._log: collections.deque[dict[str, Any]] = collections.deque(maxlen=REQUEST_LOG_LIMIT)
        self._routes = _compile_routes()
        self._dirty = False
        self._closed = threading.Event()
        if state_file and os.path.exists(state_file):
            self.state = State.load(state_file, self.clock)
            log.info("Loaded fake Canvas state from %s", state_file)
        else:
            self.state = self._fresh_state()
        self._install_admin_token()
        self.configure(**switches)
        self.wsgi_app = self._wsgi
        self._saver: threading.Thread | None = None
        if state_file:
            self._saver = threading.Thread(target=self._save_loop, args=(save_interval,), name="fake-save", daemon=True)
            self._saver.start()

    # ---- state lifecycle -----------------------------------------------------------------------

    def _fresh_state(self) -> State:
        state = State(self.clock)
        if self.seed == "demo":
            seeds.build_demo(state)
        else:
            seeds.build_empty(state)
        return state

    def _install_admin_token(self) -> None:
        self.state.tokens[self.admin_token] = {
            "user_id": seeds.SERVICE_ACCOUNT_ID,
            "kind": "admin",
            "state": "active",
            "expires_at": None,
        }

    def _mark_dirty(self) -> None:
        self._dirty = True

    def save_state(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            self.state.save(self.state_file)
            self._dirty = False

    def _save_loop(self, interval: float) -> None:
        while not self._closed.wait(interval):
            if self._dirty:
                try:
                    self.save_state()
                except OSError:
                    log.exception("Could not save the fake Canvas state file.")

    def close(self) -> None:
        """Stop the periodic saver and write the state file one last time."""
        self._closed.set()
        self.save_state()

    def reset(self) -> None:
        with self.lock:
            self.state = self._fresh_state()
            self._install_admin_token()
            self.throttle.reset()
            self._log.clear()
            self._dirty = True

    # ---- switches ------------------------------------------------------------------------------

    def configure(
        self,
        latency_ms: float | None = None,
        latency_median_ms: float | None = None,
        error_rate: float | None = None,
        drop_rate: float | None = None,
        throttle: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Partial update: None leaves a setting alone. Returns the whole configuration."""
        unknown = set(extra) - {"latency_sigma", *SETTINGS_KEYS}
        if unknown:
            raise ValueError(f"Unknown switches: {', '.join(sorted(unknown))}.")
        with self.lock:
            if latency_ms is not None:
                self.config.update(latency_ms=float(latency_ms), latency_median_ms=0.0)
            if latency_median_ms is not None:
                self.config.update(latency_median_ms=float(latency_median_ms), latency_ms=0.0)
            for name, value in (("error_rate", error_rate), ("drop_rate", drop_rate)):
                if value is not None:
                    if not 0.0 <= float(value) <= 1.0:
                        raise ValueError(f"{name} must be between 0 and 1.")
                    self.config[name] = float(value)
            if "latency_sigma" in extra:
                self.config["latency_sigma"] = float(extra["latency_sigma"])
            if "sis_row_delay_ms" in extra:
                self.config["sis_row_delay_ms"] = float(extra["sis_row_delay_ms"])
            if "sis_paused" in extra:
                self.config["sis_paused"] = bool(extra["sis_paused"])
                self.sis_cond.notify_all()
            if throttle is not None:
                self.throttle.settings.update(throttle)
            return self.config_view()

    def config_view(self) -> dict[str, Any]:
        return {**self.config, "throttle": self.throttle.settings.as_dict()}

    def _latency(self) -> float:
        cfg = self.config
        if cfg["latency_median_ms"] > 0:
            seconds = self.rng.lognormvariate(math.log(cfg["latency_median_ms"]), cfg["latency_sigma"]) / 1000.0
        else:
            seconds = cfg["latency_ms"] / 1000.0
        return min(seconds, LATENCY_CAP_S)

    # ---- tokens --------------------------------------------------------------------------------

    def mint_token(self, user_id: int | str) -> str:
        with self.lock:
            user = self.find_user(user_id)
            token = "fake~" + secrets.token_urlsafe(24)
            self.state.tokens[token] = {
                "user_id": user["id"],
                "kind": "minted",
                "state": "active",
                "expires_at": None,
            }
            self._dirty = True
            return token

    def invalidate_token(self, token: str, reason: str = "invalid") -> None:
        """reason: "invalid" (deleted token), "revoked" or "expired"."""
        if reason not in ("invalid", "revoked", "expired"):
            raise ValueError("reason must be invalid, revoked or expired.")
        with self.lock:
            record = self.state.tokens.setdefault(token, {"user_id": None, "kind": "unknown", "expires_at": None})
            if reason == "expired":
                record["expires_at"] = self.clock() - 1
                record["state"] = "active"
            else:
                record["state"] = reason

    def advance_clock(self, seconds: float) -> float:
        """Move the fake's clock forward (an OAuth access token dies after its hour); returns the new time."""
        if float(seconds) < 0:
            raise ValueError("The clock only moves forward.")
        with self.lock:
            self.clock_offset += float(seconds)
            return self.clock()

    def revoke_user_tokens(self, user_id: int | str) -> int:
        """What a user's "Remove" on an approved integration in Canvas does: every token of theirs is deleted, refresh
        tokens included (docs/canvas-rules.md, section 5). The admin token is not touched. Returns how many."""
        with self.lock:
            user = self.find_user(user_id)
            count = 0
            for token, record in self.state.tokens.items():
                if token == self.admin_token or record.get("user_id") != user["id"] or record["state"] != "active":
                    continue
                record["state"] = "revoked"
                count += 1
            self._dirty = True
            return count

    def restore_token(self, token: str) -> None:
        with self.lock:
            record = self.state.tokens.get(token)
            if record is None:
                return
            record["state"] = "active"
            if record.get("expires_at") is not None and record["expires_at"] <= self.clock():
                record["expires_at"] = self.clock() + 3600
            if record.get("user_id") is None:
                del self.state.tokens[token]

    def _authenticate(self, token: str | None) -> dict[str, Any]:
        if not token:
            raise ApiError(401, UNAUTHENTICATED_BODY)
        challenge = [("WWW-Authenticate", 'Bearer realm="canvas-lms"')]
        record = self.state.tokens.get(token)
        if record is None or record["state"] == "invalid" or record.get("user_id") is None:
            raise ApiError(401, {"errors": [{"message": "Invalid access token."}]}, challenge)
        if record["state"] == "revoked":
            raise ApiError(401, {"errors": [{"message": "Revoked access token."}]}, challenge)
        expires_at = record.get("expires_at")
        if expires_at is not None and expires_at <= self.clock():
            raise ApiError(
                401,
                {"errors": [{"message": "Expired access token."}], "expired_at": iso(expires_at)},
                challenge,
            )
        user = self.state.users.get(record["user_id"])
        if user is None:
            raise ApiError(401, {"errors": [{"message": "Invalid access token."}]}, challenge)
        return user

    # ---- WSGI ----------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raw_path = raw_request_path(environ)
        if raw_path.startswith("/__fake__/") or raw_path == "/__fake__":
            return self._control(environ, start_response, raw_path)
        req = Request(environ)
        token = self._token_from(req)
        bucket = (
            "token:" + hashlib.sha256(token.encode()).hexdigest() if token else "ip:" + str(environ.get("REMOTE_ADDR"))
        )
        started = time.monotonic()
        reserved = self.throttle.settings.enabled
        if reserved and not self.throttle.reserve(bucket):
            self._record(req.method, raw_path, 403, started, throttled=True)
            start_response(
                "403 Forbidden",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(THROTTLED_BODY))),
                    ("X-Rate-Limit-Remaining", "0.0"),
                ],
            )
            return [THROTTLED_BODY]
        reply = self._served(req, raw_path, token, bucket=bucket if reserved else None)
        dropped = reply.status < 500 and self.config["drop_rate"] > 0 and self.rng.random() < self.config["drop_rate"]
        body, headers = self._encode(reply)
        # Who the token belongs to, so a test can tell the mentor's own calls from the portal's.
        as_user = self.state.tokens.get(token, {}).get("user_id") if token else None
        self._record(req.method, raw_path, reply.status, started, dropped=dropped, as_user=as_user)
        if dropped:
            start_response(
                "502 Bad Gateway",
                [("Content-Type", "text/plain"), ("Content-Length", "64")],
            )
            return _dropped_body()
        start_response(f"{reply.status} {HTTPStatus(reply.status).phrase}", headers)
        return [body]

    def _served(self, req: Request, raw_path: str, token: str | None, *, bucket: str | None) -> Reply:
        """The reply to a request the throttle let in: latency, injected errors, then the API; the reservation is
        settled whatever happens and its cost reported in the headers, as Canvas does (bucket None: no throttle)."""
        try:
            delay = self._latency()
            if delay > 0:
                # The request sleeps while holding its up-front reservation, like a slow Canvas.
                self.sleep(delay)
            if self.config["error_rate"] and self.rng.random() < self.config["error_rate"]:
                reply = Reply(
                    503,
                    {"errors": [{"message": "The service is temporarily unavailable."}]},
                    [("Retry-After", "1")],
                )
            else:
                reply = self._dispatch(req, raw_path, token)
        finally:
            if bucket is not None:
                cost, remaining = self.throttle.settle(bucket)
        if bucket is not None:
            reply.headers += [
                ("X-Request-Cost", f"{cost:.6f}"),
                ("X-Rate-Limit-Remaining", f"{max(0.0, remaining):.6f}"),
            ]
        return reply

    def _token_from(self, req: Request) -> str | None:
        auth = req.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        token = req.args.get("access_token")
        if token is None and req.method != "GET" and req.mimetype == "application/x-www-form-urlencoded":
            token = req.form.get("access_token")
        return token or None

    def _params(self, req: Request) -> Params:
        json_body = None
        if req.mimetype == "application/json":
            try:
                json_body = json.loads(req.get_data() or b"null")
            except ValueError:
                json_body = None
        if req.method == "GET":
            return Params(req.args, None)
        return Params(CombinedMultiDict([req.args, req.form]), json_body)

    def _dispatch(self, req: Request, raw_path: str, token: str | None) -> Reply:
        parts = split_raw_path(raw_path.strip("/"))
        match = None
        for template, handler, auth in self._routes.get((req.method, len(parts)), ()):
            kwargs: dict[str, str] = {}
            for want, got in zip(template, parts, strict=True):
                if want.startswith(":"):
                    if not got:
                        break
                    kwargs[want[1:]] = got
                elif want != got:
                    break
            else:
                match = (handler, auth, kwargs)
                break
        try:
            if match is None:
                raise ApiError(404, NOT_FOUND_BODY)
            handler, auth, kwargs = match
            ctx = Ctx(req=req, params=self._params(req), raw_path=raw_path, token=token)
            with self.lock:
                if auth:
                    ctx.user = self._authenticate(token)
                reply: Reply = getattr(self, handler)(ctx, **kwargs)
                if req.method != "GET":
                    self._dirty = True
                return reply
        except ApiError as err:
            return Reply(err.status, err.body, list(err.headers))
        except (ValueError, TypeError):
            # Unparseable input (a bad date, a non-numeric id); Canvas answers 400 for these.
            return Reply(400, {"errors": [{"message": "Invalid parameter."}]}, [])
        except Exception:
            log.exception("The fake Canvas failed on %s %s", req.method, raw_path)
            return Reply(
                500,
                {
                    "errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}],
                    "error_report_id": 1,
                },
                [],
            )

    def _encode(self, reply: Reply) -> tuple[bytes, list[tuple[str, str]]]:
        body = reply.body
        if not isinstance(body, bytes):
            body = json.dumps(body, separators=(",", ":")).encode()
        headers = [("Content-Type", reply.content_type), ("Content-Length", str(len(body)))]
        return body, headers + reply.headers

    def _record(self, method: str, path: str, status: int, started: float, **extra: Any) -> None:
        entry = {
            "method": method,
            "path": path,
            "status": status,
            "t": self.clock(),
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
        }
        entry.update({k: v for k, v in extra.items() if v})
        self._log.append(entry)

    # ---- /__fake__/ control --------------------------------------------------------------------

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any], raw_path: str) -> Iterable[bytes]:
        req = Request(environ)
        name = raw_path[len("/__fake__/") :].strip("/")
        try:
            body = json.loads(req.get_data() or b"{}") if req.method in ("POST", "PUT") else {}
        except ValueError:
            body = None
        status, payload = 200, None
        try:
            if not isinstance(body, dict):
                raise ValueError("The body must be a JSON object.")
            payload = self._control_action(req.method, name, body, req)
        except LookupError as exc:
            if isinstance(exc, _NoSuchControl):
                status, payload = 404, {"error": f"No control endpoint {req.method} {name}."}
            else:
                status, payload = 400, {"error": f"Missing field {exc}."}
        except ApiError as exc:
            status, payload = exc.status, exc.body
        except (ValueError, TypeError) as exc:
            status, payload = 400, {"error": str(exc)}
        data = json.dumps(payload).encode()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _control_action(self, method: str, name: str, body: dict[str, Any], req: Request) -> Any:
        if (method, name) == ("GET", "health"):
            return {"ok": True}
        if (method, name) == ("GET", "config"):
            return self.config_view()
        if method == "POST" and name in ("config", "configure"):
            return self.configure(**body)
        if (method, name) == ("POST", "tokens"):
            return {"token": self.mint_token(body["user_id"]), "user_id": body["user_id"]}
        if (method, name) == ("POST", "invalidate"):
            self.invalidate_token(str(body["token"]), str(body.get("reason", "invalid")))
            return {"ok": True}
        if (method, name) == ("POST", "clock"):
            return {"now": iso(self.advance_clock(float(body.get("advance_seconds", 0))))}
        if (method, name) == ("GET", "clock"):
            return {"now": iso(self.clock())}
        if (method, name) == ("POST", "revoke"):
            return {"revoked": self.revoke_user_tokens(body["user_id"])}
        if (method, name) == ("POST", "restore"):
            self.restore_token(str(body["token"]))
            return {"ok": True}
        if (method, name) == ("GET", "requests"):
            return {"requests": self.request_log}
        if (method, name) in (("DELETE", "requests"), ("POST", "requests/clear")):
            self.clear_request_log()
            return {"ok": True}
        if (method, name) == ("POST", "reset"):
            self.reset()
            return {"ok": True}
        if (method, name) == ("POST", "save"):
            self.save_state()
            return {"ok": True}
        if (method, name) == ("GET", "links"):
            return {"links": [{"observer_id": o, "student_id": s} for o, s in sorted(self.observer_links())]}
        if (method, name) == ("GET", "enrollments"):
            return {"enrollments": self._enrollment_view(req)}
        if (method, name) == ("GET", "pairing_codes"):
            return {"pairing_codes": self.pairing_codes()}
        if (method, name) == ("GET", "sis_imports"):
            return {"sis_imports": self.sis_imports()}
        if (method, name) == ("POST", "users"):
            return self.add_user(**body)
        if (method, name) == ("POST", "courses"):
            return self.add_course(**body)
        if (method, name) == ("POST", "enrollments"):
            return self.enroll(**body)
        raise _NoSuchControl(name)

    def _enrollment_view(self, req: Request) -> list[dict[str, Any]]:
        """?type=ObserverEnrollment&state=active&user_id=N&course_id=N, all optional."""
        args = req.args
        with self.lock:
            out = []
            for e in sorted(self.state.enrollments.values(), key=lambda e: e["id"]):
                if args.get("type") and e["type"] != args["type"]:
                    continue
                if args.get("state") and e["workflow_state"] != args["state"]:
                    continue
                if args.get("user_id") and str(e["user_id"]) != args["user_id"]:
                    continue
                if args.get("course_id") and str(e["course_id"]) != args["course_id"]:
                    continue
                out.append(self._public_enrollment(e))
            return out

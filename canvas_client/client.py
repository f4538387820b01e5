"""The Canvas REST client: one method per endpoint the portal uses (docs/canvas.md, "For developers: canvas_client").

The HTTP half (session, retries, throttling, typed errors) is ``canvas_client.transport.Transport``; this module
holds the endpoints. Calls that create something (pairing-code redemption, enrollment POST, SIS import, ...) never
retry: a lost answer may hide a done action, and only the caller can confirm it (e.g. by listing observers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from .errors import CanvasError, CanvasTransientError
from .models import (
    Assignment,
    CanvasUser,
    Course,
    Enrollment,
    OAuthToken,
    PairingCode,
    SisImport,
)
from .transport import RATE_LIMIT_MARKER, Params, Transport, UserId, _as_list, canvas_message, object_id

__all__ = ["RATE_LIMIT_MARKER", "CanvasClient", "Params", "UserId", "canvas_message", "object_id"]


# A filter Canvas takes as an array parameter (`state[]=active&state[]=invited`): one value, several, or none.
Filter = str | Iterable[str] | None
# A moment Canvas takes in ISO 8601 (an enrollment's start or end); None leaves it unset.
Moment = datetime | None


def _array_params(**filters: Filter) -> Params:
    return {f"{name}[]": _as_list(value) for name, value in filters.items()}


class CanvasClient(Transport):
    """A Canvas REST client bound to one base URL and one token (see Transport for the options)."""

    # ----------------------------------------------------------------- users
    def get_self(self) -> CanvasUser:
        """The token's own user: proves the token works (used by /healthz)."""
        return CanvasUser.from_json(self._get_json("/api/v1/users/self"))

    def get_account(self, account_id: UserId) -> dict[str, Any]:
        """The account as Canvas describes it; refused (401 without ``WWW-Authenticate``) to a token whose user
        is not an admin of it or of an account above it (``AccountsController#show`` needs ``:read``)."""
        return dict(self._get_json(f"/api/v1/accounts/{object_id(account_id)}"))

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

    def list_user_courses(self, user_id: UserId, *, state: Filter = None, include: Filter = None) -> Iterator[Course]:
        path = f"/api/v1/users/{object_id(user_id)}/courses"
        return self._paginate(path, _array_params(state=state, include=include), Course.from_json)

    def list_observed_courses(self) -> Iterator[Course]:
        """The caller's own courses with the observees' student enrollments and scores beside its observer ones
        (`/users/self/courses?include[]=observed_users`): what a course-only observer may read (docs/canvas-rules.md,
        section 1)."""
        return self.list_user_courses("self", include=["observed_users", "total_scores"])

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
        self, user_id: UserId, *, type: Filter = None, state: Filter = None
    ) -> Iterator[Enrollment]:
        path = f"/api/v1/users/{object_id(user_id)}/enrollments"
        return self._paginate(path, _array_params(type=type, state=state), Enrollment.from_json)

    def list_course_enrollments(
        self,
        course_id: UserId,
        *,
        type: Filter = None,
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
        start_at: Moment = None,
        end_at: Moment = None,
    ) -> Enrollment:
        """A one-off, course-scoped observer enrollment, active at once, without notification.

        Not retried: a lost answer may hide a created enrollment; confirm with
        ``list_course_enrollments(course, user_id=observer, type="ObserverEnrollment")``.
        """
        return self._enroll(
            course_id,
            user_id=observer_id,
            type="ObserverEnrollment",
            associated_user_id=student_id,
            enrollment_state="active",
            notify=False,
            start_at=start_at,
            end_at=end_at,
        )

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
        return self._enroll(
            course_id,
            user_id=user_id,
            type=type,
            associated_user_id=associated_user_id,
            enrollment_state=enrollment_state,
            notify=False,
        )

    def _enroll(self, course_id: UserId, **fields: Any) -> Enrollment:
        """POST one enrollment with these `enrollment[...]` fields, in this order. Never retried."""
        data = {f"enrollment[{name}]": value for name, value in fields.items()}
        path = f"/api/v1/courses/{object_id(course_id)}/enrollments"
        return Enrollment.from_json(self._request("POST", path, data=data, idempotent=False))

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

    def list_course_assignments(self, course_id: UserId, *, bucket: str | None = None) -> Iterator[Assignment]:
        """A course's assignments with the caller's and its observees' submissions (`include[]=observed_users`), the
        read an observer may make with only a course enrollment (docs/canvas-rules.md, section 1)."""
        return self._paginate(
            f"/api/v1/courses/{object_id(course_id)}/assignments",
            {"include[]": ["submission", "observed_users"], "bucket": bucket},
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

    def download_sis_errors_file(self, url: str) -> str:
        """The text of an import's errors file (``SisImport.errors_attachment_url``).

        First with the URL alone: its verifier is enough for about an hour, and Canvas may redirect the download to
        a files host that must never see the token (docs/canvas-rules.md, section 3). Then, on this Canvas's own
        host only, with the token. Raises ``CanvasError`` when neither works.
        """
        url = self._url(url)
        path = urlsplit(url).path
        try:
            response = self.session.get(url, timeout=self.timeout, headers={"User-Agent": self.user_agent})
        except requests.RequestException as exc:
            raise CanvasTransientError(type(exc).__name__, method="GET", path=path, acting_as=self.acting_as) from exc
        if response.ok:
            return response.content.decode("utf-8-sig", "replace")
        if urlsplit(url).netloc != urlsplit(self.base_url).netloc:
            raise CanvasError(
                "Canvas's SIS errors file could not be downloaded", status=response.status_code, method="GET", path=path
            )
        _, response = self._send("GET", url, idempotent=True, allow_empty=True)
        return response.content.decode("utf-8-sig", "replace")

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
            token = dataclasses.replace(token, refresh_token=refresh_token)
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

"""The Python API tests and the demo use to set up and inspect the fake: people, courses, enrollments,
assignments and submissions in; links, codes, imports and the request log out."""

from __future__ import annotations

import collections
from typing import Any

from . import seed as seeds
from .sis import SisImports
from .util import (
    iso,
)


class Fixtures(SisImports):
    """Mixed into FakeCanvas; relies on the attributes FakeCanvas sets up (see FakeBase)."""

    _dirty: bool
    _log: collections.deque[dict[str, Any]]

    def add_user(
        self,
        *,
        name: str,
        sis_user_id: str | None = None,
        login_id: str | None = None,
        email: str | None = None,
        password: str | None = seeds.DEMO_PASSWORD,
        admin: bool = False,
    ) -> dict[str, Any]:
        with self.lock:
            user = self.state.add_user(
                name=name,
                sis_user_id=sis_user_id,
                login_id=login_id,
                email=email,
                password=password,
                admin=admin,
            )
            self._dirty = True
            return self._public_user(user)

    def _public_user(self, user: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "name", "sortable_name", "short_name", "sis_user_id", "login_id", "email")
        return {k: user.get(k) for k in keys}

    def add_course(
        self, *, name: str, course_code: str | None = None, sis_course_id: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            course = self.state.add_course(name=name, course_code=course_code, sis_course_id=sis_course_id)
            self._dirty = True
            keys = ("id", "name", "course_code", "sis_course_id", "workflow_state")
            return {k: course[k] for k in keys}

    def enroll(
        self,
        course_id: int,
        user_id: int,
        type: str = "StudentEnrollment",
        associated_user_id: int | None = None,
        state: str = "active",
    ) -> dict[str, Any]:
        with self.lock:
            e = self.state.enroll(
                course_id=course_id,
                user_id=user_id,
                type=type,
                associated_user_id=associated_user_id,
                state=state,
            )
            self._dirty = True
            return self._public_enrollment(e)

    def add_assignment(
        self,
        course_id: int,
        *,
        name: str,
        due_at: float | None = None,
        points_possible: float = 10.0,
        submission_types: list[str] | None = None,
    ) -> dict[str, Any]:
        """due_at is epoch seconds (on the fake's clock) or None for undated."""
        with self.lock:
            a = self.state.add_assignment(
                course_id=course_id,
                name=name,
                due_at=due_at,
                points_possible=points_possible,
                submission_types=submission_types,
            )
            self._dirty = True
            return dict(a)

    def set_submission(
        self,
        assignment_id: int,
        user_id: int,
        *,
        submitted_at: float | None = None,
        score: float | None = None,
        posted: bool = True,
    ) -> dict[str, Any]:
        """`posted=False`: graded but not yet posted, so observers do not see the score."""
        with self.lock:
            sub = self.state.set_submission(
                assignment_id=assignment_id,
                user_id=user_id,
                submitted_at=submitted_at,
                score=score,
            )
            sub["unposted"] = not posted
            self._dirty = True
            return dict(sub)

    def _public_enrollment(self, e: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "course_id", "course_section_id", "user_id", "type", "associated_user_id")
        out = {k: e.get(k) for k in keys}
        out["enrollment_state"] = e["workflow_state"]
        out["start_at"], out["end_at"] = iso(e.get("start_at")), iso(e.get("end_at"))
        return out

    def observer_links(self) -> set[tuple[int, int]]:
        with self.lock:
            return {
                (link["observer_id"], link["student_id"])
                for link in self.state.links.values()
                if link["workflow_state"] == "active"
            }

    def observer_enrollments(self) -> list[dict[str, Any]]:
        """ObserverEnrollments whose state is active."""
        with self.lock:
            return [
                self._public_enrollment(e)
                for e in sorted(self.state.enrollments.values(), key=lambda e: e["id"])
                if e["type"] == "ObserverEnrollment" and e["workflow_state"] == "active"
            ]

    def pairing_codes(self) -> list[dict[str, Any]]:
        with self.lock:
            now = self.clock()
            return [
                {
                    "user_id": r["user_id"],
                    "code": r["code"],
                    "expires_at": iso(r["expires_at"]),
                    "workflow_state": r["workflow_state"],
                    "active": r["workflow_state"] == "active" and r["expires_at"] > now,
                    "redeemed_by": r.get("redeemed_by"),
                }
                for r in self.state.pairing_codes.values()
            ]

    def sis_imports(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.sis_json(r) for r in self.state.sis_imports.values()]

    @property
    def request_log(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._log)

    def clear_request_log(self) -> None:
        with self.lock:
            self._log.clear()

"""The Python API tests and the demo use to set up and inspect the fake: people, courses, enrollments,
assignments and submissions in; links, codes, imports and the request log out."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from . import seed as seeds
from .sis import SisImports
from .util import iso


class Fixtures(SisImports):
    """Mixed into FakeCanvas; relies on the attributes FakeCanvas sets up (see FakeBase)."""

    _dirty: bool
    _log: collections.deque[dict[str, Any]]

    # Each adder takes the fields its State method takes (State is the one place that names and defaults them),
    # except the id, which the fake chooses.
    def add_user(self, *, name: str, password: str | None = seeds.DEMO_PASSWORD, **fields: Any) -> dict[str, Any]:
        """A user who signs in with ``password`` (the demo one unless told); fields as ``State.add_user``."""
        return self._change(self.state.add_user, self._public_user, name=name, password=password, **fields)

    def add_pairs(self, n: int, *, tag: str, sis_ids: bool = True) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """``n`` (mentor, student) users for load runs: "Mentor i" and "Student i", signing in as ``{tag}m{i}@t`` and
        ``{tag}s{i}@t``, with SIS ids ``{TAG}M{i}`` and ``{TAG}S{i}`` unless ``sis_ids`` is false."""
        pairs = []
        for i in range(n):
            mentor, student = (
                self.add_user(
                    name=f"{role} {i}",
                    sis_user_id=f"{tag.upper()}{role[0]}{i}" if sis_ids else None,
                    login_id=f"{tag.lower()}{role[0].lower()}{i}@t",
                )
                for role in ("Mentor", "Student")
            )
            pairs.append((mentor, student))
        return pairs

    def _public_user(self, user: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "name", "sortable_name", "short_name", "sis_user_id", "login_id", "email")
        return {k: user.get(k) for k in keys}

    def add_course(self, *, name: str, **fields: Any) -> dict[str, Any]:
        def public(course: dict[str, Any]) -> dict[str, Any]:
            return {k: course[k] for k in ("id", "name", "course_code", "sis_course_id", "workflow_state")}

        return self._change(self.state.add_course, public, name=name, **fields)

    def enroll(self, course_id: int, user_id: int, type: str = "StudentEnrollment", **fields: Any) -> dict[str, Any]:
        """An enrollment (active unless ``state`` says otherwise); fields as ``State.enroll``."""
        return self._change(
            self.state.enroll, self._public_enrollment, course_id=course_id, user_id=user_id, type=type, **fields
        )

    def add_assignment(self, course_id: int, *, name: str, **fields: Any) -> dict[str, Any]:
        """due_at is epoch seconds (on the fake's clock) or None for undated."""
        return self._change(self.state.add_assignment, dict, course_id=course_id, name=name, **fields)

    def set_submission(self, assignment_id: int, user_id: int, *, posted: bool = True, **fields: Any) -> dict[str, Any]:
        """`posted=False`: graded but not yet posted, so observers do not see the score."""

        def public(submission: dict[str, Any]) -> dict[str, Any]:
            submission["unposted"] = not posted
            return dict(submission)

        return self._change(self.state.set_submission, public, assignment_id=assignment_id, user_id=user_id, **fields)

    def _change(
        self,
        change: Callable[..., dict[str, Any]],
        public: Callable[[dict[str, Any]], dict[str, Any]],
        **fields: Any,
    ) -> dict[str, Any]:
        """One change to the state under the lock, marked for saving; ``public`` copies out what callers see."""
        if "id" in fields:
            raise TypeError("the fake chooses the ids of what a test adds")
        with self.lock:
            row = change(**fields)
            self._dirty = True
            return public(row)

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

"""The fake's data: plain dicts (JSON-serialisable as they are) plus indexes rebuilt on load.

The model methods here carry Canvas's side effects (docs/canvas.md, "Observer links"): a user-level link enrolls
the observer in the student's current courses and in student enrollments created later, removing
it deletes every ObserverEnrollment of that pair, and student enrollment changes carry over to the
observer enrollments they caused. Callers hold the FakeCanvas lock.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
from collections import defaultdict
from typing import Any

from .util import Clock

ROLE_IDS = {
    "StudentEnrollment": 3,
    "TeacherEnrollment": 4,
    "TaEnrollment": 5,
    "DesignerEnrollment": 6,
    "ObserverEnrollment": 7,
}
ENROLLMENT_TYPES = {
    "student": "StudentEnrollment",
    "teacher": "TeacherEnrollment",
    "ta": "TaEnrollment",
    "designer": "DesignerEnrollment",
    "observer": "ObserverEnrollment",
}
# Canvas counts these student enrollments when linking an observer ("active or pending").
LINKABLE_STATES = ("active", "invited", "creation_pending")
PAIRING_CODE_ALPHABET = string.ascii_letters + string.digits
PAIRING_CODE_LIFETIME = 7 * 24 * 3600
INT_KEYED = ("accounts", "users", "courses", "sections", "enrollments", "assignments", "sis_imports")
TABLES = (
    "accounts",
    "users",
    "courses",
    "sections",
    "enrollments",
    "assignments",
    "submissions",
    "links",
    "pairing_codes",
    "sis_imports",
    "tokens",
    "oauth_codes",
)


class State:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.accounts: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.courses: dict[int, dict[str, Any]] = {}
        self.sections: dict[int, dict[str, Any]] = {}
        self.enrollments: dict[int, dict[str, Any]] = {}
        self.assignments: dict[int, dict[str, Any]] = {}
        self.sis_imports: dict[int, dict[str, Any]] = {}
        # The tables above are keyed by the row's id, those below by another key (said on each).
        self.counters: dict[str, int] = defaultdict(lambda: 1)
        # key "assignment_id:user_id"
        self.submissions: dict[str, dict[str, Any]] = {}
        # key "observer_id:student_id"
        self.links: dict[str, dict[str, Any]] = {}
        # key: the code itself
        self.pairing_codes: dict[str, dict[str, Any]] = {}
        # key: the access token string
        self.tokens: dict[str, dict[str, Any]] = {}
        self.oauth_codes: dict[str, dict[str, Any]] = {}
        self.seed = "empty"
        self._reindex()

    # ---- persistence -------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in TABLES}
        data["counters"] = dict(self.counters)
        data["seed"] = self.seed
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], clock: Clock) -> State:
        state = cls(clock)
        for name in TABLES:
            table = data.get(name, {})
            if (
                name in ("accounts", "users", "courses", "sections", "enrollments", "assignments")
                or name == "sis_imports"
            ):
                table = {int(k): v for k, v in table.items()}
            setattr(state, name, table)
        state.counters.update(data.get("counters", {}))
        state.seed = data.get("seed", "empty")
        state._reindex()
        return state

    def save(self, path: str) -> None:
        """Atomic write: a temp file in the same directory, then rename over the old one."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".fake-canvas-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_json(), fh, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str, clock: Clock) -> State:
        with open(path, encoding="utf-8") as fh:
            return cls.from_json(json.load(fh), clock)

    def _reindex(self) -> None:
        self.by_sis: dict[str, int] = {}
        self.by_login: dict[str, int] = {}
        for user in self.users.values():
            self._index_user(user)
        self.course_by_sis: dict[str, int] = {
            c["sis_course_id"]: cid for cid, c in self.courses.items() if c.get("sis_course_id")
        }
        self.enr_by_user: dict[int, list[int]] = defaultdict(list)
        self.enr_by_course: dict[int, list[int]] = defaultdict(list)
        for eid in sorted(self.enrollments):
            e = self.enrollments[eid]
            self.enr_by_user[e["user_id"]].append(eid)
            self.enr_by_course[e["course_id"]].append(eid)
        self.assignments_by_course: dict[int, list[int]] = defaultdict(list)
        for aid in sorted(self.assignments):
            self.assignments_by_course[self.assignments[aid]["course_id"]].append(aid)

    def _index_user(self, user: dict[str, Any]) -> None:
        if user.get("sis_user_id"):
            self.by_sis[user["sis_user_id"]] = user["id"]
        if user.get("login_id"):
            self.by_login[user["login_id"].lower()] = user["id"]

    def next_id(self, table: str, start: int = 1) -> int:
        value = max(self.counters[table], start)
        self.counters[table] = value + 1
        return value

    # ---- creation ------------------------------------------------------------------------------

    def add_account(self, *, id: int, name: str, parent_account_id: int | None) -> dict[str, Any]:
        root = None
        if parent_account_id is not None:
            parent = self.accounts[parent_account_id]
            root = parent["root_account_id"] or parent["id"]
        account = {
            "id": id,
            "name": name,
            "parent_account_id": parent_account_id,
            "root_account_id": root,
            "workflow_state": "active",
            "default_time_zone": "America/Chicago",
            "sis_account_id": None,
        }
        self.accounts[id] = account
        return account

    def add_user(
        self,
        *,
        name: str,
        sortable_name: str | None = None,
        short_name: str | None = None,
        sis_user_id: str | None = None,
        login_id: str | None = None,
        email: str | None = None,
        password: str | None = None,
        admin: bool = False,
        id: int | None = None,
        account_id: int = 1,
    ) -> dict[str, Any]:
        if id is None:
            id = self.next_id("users")
        if sortable_name is None:
            parts = name.rsplit(" ", 1)
            sortable_name = f"{parts[1]}, {parts[0]}" if len(parts) == 2 else name
        now = self.clock()
        user = {
            "id": id,
            "name": name,
            "sortable_name": sortable_name,
            "short_name": short_name or name,
            "sis_user_id": sis_user_id,
            "login_id": login_id,
            "email": email,
            "password": password,
            "admin": admin,
            "account_id": account_id,
            "created_at": now,
            "workflow_state": "registered",
        }
        self.users[id] = user
        self._index_user(user)
        return user

    def add_course(
        self,
        *,
        name: str,
        account_id: int = 1,
        course_code: str | None = None,
        sis_course_id: str | None = None,
        id: int | None = None,
        section_id: int | None = None,
        workflow_state: str = "available",
        start_at: float | None = None,
        end_at: float | None = None,
    ) -> dict[str, Any]:
        if id is None:
            id = self.next_id("courses")
        course = {
            "id": id,
            "name": name,
            "course_code": course_code or name,
            "sis_course_id": sis_course_id,
            "account_id": account_id,
            "root_account_id": self.root_of(account_id),
            "workflow_state": workflow_state,
            "start_at": start_at,
            "end_at": end_at,
            "created_at": self.clock(),
        }
        self.courses[id] = course
        if sis_course_id:
            self.course_by_sis[sis_course_id] = id
        if section_id is None:
            section_id = self.next_id("sections")
        self.sections[section_id] = {
            "id": section_id,
            "course_id": id,
            "name": name,
            "sis_section_id": sis_course_id,
        }
        course["default_section_id"] = section_id
        return course

    def root_of(self, account_id: int) -> int:
        account = self.accounts.get(account_id)
        if account is None:
            return 1
        return account["root_account_id"] or account["id"]

    # ---- enrollments ---------------------------------------------------------------------------

    def find_enrollment(
        self, *, course_id: int, user_id: int, type: str, associated_user_id: int | None
    ) -> dict[str, Any] | None:
        for eid in self.enr_by_user.get(user_id, ()):
            e = self.enrollments[eid]
            if e["course_id"] == course_id and e["type"] == type and e.get("associated_user_id") == associated_user_id:
                return e
        return None

    def enroll(
        self,
        *,
        course_id: int,
        user_id: int,
        type: str = "StudentEnrollment",
        associated_user_id: int | None = None,
        state: str = "active",
        start_at: float | None = None,
        end_at: float | None = None,
        section_id: int | None = None,
        id: int | None = None,
        linked: bool = False,
    ) -> dict[str, Any]:
        """Create an enrollment, or restore the existing one for the same user/course/type/pair.

        Canvas's ``enroll_user`` re-uses the matching enrollment, which is what makes a repeated
        POST return the same id.
        """
        now = self.clock()
        existing = self.find_enrollment(
            course_id=course_id, user_id=user_id, type=type, associated_user_id=associated_user_id
        )
        if existing is not None:
            existing.update(workflow_state=state, updated_at=now)
            if start_at is not None:
                existing["start_at"] = start_at
            if end_at is not None:
                existing["end_at"] = end_at
            enrollment = existing
        else:
            if id is None:
                id = self.next_id("enrollments")
            course = self.courses[course_id]
            enrollment = {
                "id": id,
                "course_id": course_id,
                "course_section_id": section_id or course["default_section_id"],
                "user_id": user_id,
                "type": type,
                "associated_user_id": associated_user_id,
                "workflow_state": state,
                "start_at": start_at,
                "end_at": end_at,
                "created_at": now,
                "updated_at": now,
                "root_account_id": course["root_account_id"],
                "linked": linked,
            }
            self.enrollments[id] = enrollment
            self.enr_by_user[user_id].append(id)
            self.enr_by_course[course_id].append(id)
        if type == "StudentEnrollment":
            self._sync_linked_observers(enrollment)
        return enrollment

    def set_enrollment_state(self, enrollment: dict[str, Any], state: str) -> None:
        enrollment["workflow_state"] = state
        enrollment["updated_at"] = self.clock()
        if enrollment["type"] == "StudentEnrollment":
            self._sync_linked_observers(enrollment)

    def _sync_linked_observers(self, student_enrollment: dict[str, Any]) -> None:
        """Enrollment#create_linked_enrollments / update_linked_enrollments."""
        student_id = student_enrollment["user_id"]
        for link in self.links.values():
            if link["student_id"] != student_id or link["workflow_state"] != "active":
                continue
            observer_id = link["observer_id"]
            existing = self._mirror_of(student_enrollment, observer_id=observer_id)
            state = student_enrollment["workflow_state"]
            if state in ("active", "invited", "creation_pending"):
                state = "active"
            if existing is None:
                if state != "active":
                    continue
                self._enroll_mirror(student_enrollment, observer_id=observer_id)
            elif existing.get("linked") or existing["workflow_state"] == "deleted":
                existing["workflow_state"] = state
                existing["updated_at"] = self.clock()

    # ---- observer links ------------------------------------------------------------------------

    def active_link(self, observer_id: int, student_id: int) -> dict[str, Any] | None:
        link = self.links.get(f"{observer_id}:{student_id}")
        if link is not None and link["workflow_state"] == "active":
            return link
        return None

    def link_create_or_restore(
        self, *, observer_id: int, student_id: int, sis_batch_id: int | None = None, when_active: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """UserObservationLink.create_or_restore. Returns (link, changed).

        create_or_restore runs create_linked_enrollments whether the link was new, restored or already active, and a
        revived enrollment takes the student enrollment's dates (Enrollment#update_from). The API only calls it when
        no active link exists (UserObserveesController#create_observation_links), so a repeated PUT changes
        nothing; an SIS `active` row calls it every time (`when_active`), reviving the pair's deleted enrollments.
        """
        key = f"{observer_id}:{student_id}"
        now = self.clock()
        link = self.links.get(key)
        if link is not None and link["workflow_state"] == "active":
            if when_active:
                self._create_linked_enrollments(observer_id=observer_id, student_id=student_id)
            return link, False
        if link is None:
            link = {
                "id": self.next_id("links"),
                "observer_id": observer_id,
                "student_id": student_id,
                "root_account_id": 1,
                "created_at": now,
            }
            self.links[key] = link
        link.update(workflow_state="active", updated_at=now, sis_batch_id=sis_batch_id)
        self._create_linked_enrollments(observer_id=observer_id, student_id=student_id)
        return link, True

    def _mirror_of(self, student_enrollment: dict[str, Any], *, observer_id: int) -> dict[str, Any] | None:
        """The observer's ObserverEnrollment for this student enrollment's student and course, if there is one."""
        return self.find_enrollment(
            course_id=student_enrollment["course_id"],
            user_id=observer_id,
            type="ObserverEnrollment",
            associated_user_id=student_enrollment["user_id"],
        )

    def _enroll_mirror(self, student_enrollment: dict[str, Any], *, observer_id: int) -> dict[str, Any]:
        """An active linked ObserverEnrollment beside the student's, in the same course and section."""
        return self.enroll(
            course_id=student_enrollment["course_id"],
            user_id=observer_id,
            type="ObserverEnrollment",
            associated_user_id=student_enrollment["user_id"],
            state="active",
            section_id=student_enrollment["course_section_id"],
            linked=True,
        )

    def _create_linked_enrollments(self, *, observer_id: int, student_id: int) -> None:
        """UserObservationLink#create_linked_enrollments: one ObserverEnrollment per active or pending student
        enrollment; an active one is left alone (Enrollment#create_linked_enrollment_for)."""
        for eid in list(self.enr_by_user.get(student_id, ())):
            e = self.enrollments[eid]
            if e["type"] != "StudentEnrollment" or e["workflow_state"] not in LINKABLE_STATES:
                continue
            existing = self._mirror_of(e, observer_id=observer_id)
            if existing is not None and existing["workflow_state"] == "active":
                continue
            revived = self._enroll_mirror(e, observer_id=observer_id)
            revived.update(start_at=e.get("start_at"), end_at=e.get("end_at"), linked=True)

    def link_destroy(self, *, observer_id: int, student_id: int) -> bool:
        """Soft-delete the link and every ObserverEnrollment of the pair (course-scoped ones too)."""
        link = self.active_link(observer_id, student_id)
        if link is None:
            return False
        now = self.clock()
        link.update(workflow_state="deleted", updated_at=now)
        for eid in self.enr_by_user.get(observer_id, ()):
            e = self.enrollments[eid]
            if e["type"] == "ObserverEnrollment" and e.get("associated_user_id") == student_id:
                e.update(workflow_state="deleted", updated_at=now)
        return True

    def observed_students(self, observer_id: int) -> set[int]:
        return {
            link["student_id"]
            for link in self.links.values()
            if link["observer_id"] == observer_id and link["workflow_state"] == "active"
        }

    def observes_in_course(self, observer_id: int, student_id: int, course_id: int) -> bool:
        return any(
            self.enrollments[eid]["type"] == "ObserverEnrollment"
            and self.enrollments[eid]["course_id"] == course_id
            and self.enrollments[eid].get("associated_user_id") == student_id
            and self.enrollments[eid]["workflow_state"] == "active"
            for eid in self.enr_by_user.get(observer_id, ())
        )

    def has_student_enrollment(self, user_id: int) -> bool:
        return any(
            self.enrollments[eid]["type"] == "StudentEnrollment"
            and self.enrollments[eid]["workflow_state"] not in ("rejected", "inactive", "deleted")
            for eid in self.enr_by_user.get(user_id, ())
        )

    # ---- pairing codes -------------------------------------------------------------------------

    def pairing_code_create(self, *, user_id: int) -> dict[str, Any]:
        now = self.clock()
        while True:
            code = "".join(secrets.choice(PAIRING_CODE_ALPHABET) for _ in range(6))
            if self.pairing_code_active(code) is None:
                break
        record = {
            "user_id": user_id,
            "code": code,
            "expires_at": now + PAIRING_CODE_LIFETIME,
            "workflow_state": "active",
            "created_at": now,
        }
        self.pairing_codes[code] = record
        return record

    def pairing_code_active(self, code: str) -> dict[str, Any] | None:
        record = self.pairing_codes.get(code)
        if record is None or record["workflow_state"] == "deleted" or record["expires_at"] <= self.clock():
            return None
        return record

    # ---- assignments and submissions ---------------------------------------------------------

    def add_assignment(
        self,
        *,
        course_id: int,
        name: str,
        due_at: float | None = None,
        points_possible: float = 10.0,
        submission_types: list[str] | None = None,
        id: int | None = None,
    ) -> dict[str, Any]:
        id = self.next_id("assignments") if id is None else id
        assignment = {
            "id": id,
            "course_id": course_id,
            "name": name,
            "due_at": due_at,
            "points_possible": points_possible,
            "submission_types": submission_types or ["online_upload"],
            "created_at": self.clock(),
            "position": len(self.assignments_by_course[course_id]) + 1,
        }
        self.assignments[id] = assignment
        self.assignments_by_course[course_id].append(id)
        return assignment

    def set_submission(
        self,
        *,
        assignment_id: int,
        user_id: int,
        submitted_at: float | None = None,
        score: float | None = None,
        id: int | None = None,
    ) -> dict[str, Any]:
        key = f"{assignment_id}:{user_id}"
        sub = self.submissions.get(key)
        if sub is None:
            sub = {"id": id or self.next_id("submissions"), "assignment_id": assignment_id}
            sub["user_id"] = user_id
            self.submissions[key] = sub
        sub["submitted_at"] = submitted_at
        sub["score"] = score
        return sub

"""Courses, enrollments (course-scoped observing), assignments and missing work, as Canvas answers them."""

from __future__ import annotations

from typing import Any

from .base import Ctx, FakeBase, Reply, ok
from .state import ENROLLMENT_TYPES, ROLE_IDS
from .util import (
    ApiError,
    enrollment_error,
    iso,
    not_found,
    parse_time,
    unauthorized,
)

BUCKETS = ("past", "overdue", "undated", "ungraded", "unsubmitted", "upcoming", "future")
NO_SUBMISSION_TYPES = {"none", "on_paper", "not_graded", "external_tool"}
STATE_GROUPS = {
    "current_and_invited": {"active", "invited"},
    "current_and_future": {"active", "invited", "creation_pending"},
    "current_and_concluded": {"active", "completed"},
}
DELETE_TASKS = {
    "conclude": "completed",
    "delete": "deleted",
    "inactivate": "inactive",
    "deactivate": "inactive",
}


def _enrollment_states(ctx: Ctx) -> set[str]:
    requested = [str(s) for s in ctx.params.getlist("state")]
    if not requested:
        return {"active", "invited"}
    states: set[str] = set()
    for value in requested:
        states |= STATE_GROUPS.get(value, {value})
    return states


def _types(ctx: Ctx) -> set[str]:
    values = {str(t) for t in ctx.params.getlist("type")}
    values |= {str(t) for t in ctx.params.getlist("role")}
    return {ENROLLMENT_TYPES.get(v, v) for v in values}


class CourseApi(FakeBase):
    # ---- enrollments ---------------------------------------------------------------------------

    def user_enrollments(self, ctx: Ctx, user_id: str) -> Reply:
        target = self.find_user(user_id, ctx)
        s = self.state
        # `:read_as_parent` comes from a user-level link only: a course-only observer is refused outright
        # (docs/canvas-rules.md, section 1; it reads /users/self/enrollments instead).
        if not self.can_read_user(ctx, target):
            raise unauthorized()
        states = _enrollment_states(ctx)
        types = _types(ctx)
        items = [
            s.enrollments[eid]
            for eid in s.enr_by_user.get(target["id"], ())
            if s.enrollments[eid]["workflow_state"] in states and (not types or s.enrollments[eid]["type"] in types)
        ]
        page, headers = self.paginate_bookmark(ctx, items)
        include = ctx.include()
        return ok([self.enrollment_json(e, ctx, include) for e in page], headers)

    def course_enrollments(self, ctx: Ctx, course_id: str) -> Reply:
        course = self.find_course(course_id)
        s = self.state
        visible: set[int] | None = None  # None: every user's enrollments
        if not ctx.admin and not self.teaches(ctx, course["id"]):
            # Anyone else enrolled sees their own enrollments plus their observees' (docs/canvas-rules.md, section 1).
            if ctx.user is None or not self._enrolled(ctx.user["id"], course["id"]):
                raise unauthorized()
            visible = {ctx.user["id"], *self.observed_in_course(ctx, course["id"])}
        states = _enrollment_states(ctx)
        types = _types(ctx)
        user_filter = ctx.params.get("user_id")
        wanted_user = self.find_user(user_filter, ctx)["id"] if user_filter else None
        items = [
            s.enrollments[eid]
            for eid in s.enr_by_course.get(course["id"], ())
            if s.enrollments[eid]["workflow_state"] in states
            and (not types or s.enrollments[eid]["type"] in types)
            and (wanted_user is None or s.enrollments[eid]["user_id"] == wanted_user)
            and (visible is None or s.enrollments[eid]["user_id"] in visible)
        ]
        page, headers = self.paginate_bookmark(ctx, items)
        include = ctx.include()
        return ok([self.enrollment_json(e, ctx, include) for e in page], headers)

    def enrollment_create(self, ctx: Ctx, course_id: str) -> Reply:
        course = self.find_course(course_id)
        if not ctx.admin:
            raise unauthorized()
        p = ctx.params
        fields = ("user_id", "type", "role", "role_id", "associated_user_id", "enrollment_state")
        if not any(p.get("enrollment", f) is not None for f in fields):
            raise enrollment_error("No parameters given")
        raw_user = p.get("enrollment", "user_id")
        if raw_user in (None, ""):
            raise enrollment_error(
                "Can't create an enrollment without a user. Include enrollment[user_id] to create an enrollment"
            )
        type_ = str(p.get("enrollment", "type") or p.get("enrollment", "role") or "")
        type_ = type_ or "StudentEnrollment"
        if type_ not in ROLE_IDS:
            raise enrollment_error("Invalid type")
        if course["workflow_state"] == "completed":
            raise enrollment_error("Can't add an enrollment to a concluded course.")
        user = self.find_user(raw_user, ctx)
        associated_id = None
        if type_ == "ObserverEnrollment":
            associated_id = self._observee(ctx, course, user, p.get("enrollment", "associated_user_id"))
        state = str(p.get("enrollment", "enrollment_state") or "invited")
        if state not in ("active", "invited", "inactive"):
            state = "invited"
        try:
            start_at = parse_time(p.get("enrollment", "start_at"))
            end_at = parse_time(p.get("enrollment", "end_at"))
        except ValueError:
            raise enrollment_error("Invalid date or time") from None
        section_id = self._section(course, p.get("enrollment", "course_section_id"))
        enrollment = self.state.enroll(
            course_id=course["id"],
            user_id=user["id"],
            type=type_,
            associated_user_id=associated_id,
            state=state,
            start_at=start_at,
            end_at=end_at,
            section_id=section_id,
        )
        return ok(self.enrollment_json(enrollment, ctx))

    def _observee(self, ctx: Ctx, course: dict[str, Any], user: dict[str, Any], raw: Any) -> int | None:
        """The student an observer enrollment is for (none named: a plain observer), refused if it is the observer
        or the student already observes the observer in this course."""
        if raw in (None, ""):
            return None
        associated_id: int = self.find_user(raw, ctx)["id"]
        if associated_id == user["id"]:
            raise enrollment_error("Cannot observe yourself")
        reverse = self.state.find_enrollment(
            course_id=course["id"],
            user_id=associated_id,
            type="ObserverEnrollment",
            associated_user_id=user["id"],
        )
        if reverse is not None and reverse["workflow_state"] != "deleted":
            raise enrollment_error("Cannot observe observer observing self")
        return associated_id

    def _section(self, course: dict[str, Any], raw: object) -> int | None:
        """The section named for the enrollment, which must be one of the course's (none named: the default)."""
        if raw in (None, ""):
            return None
        section = self.state.sections.get(int(str(raw))) if str(raw).isdigit() else None
        if section is None or section["course_id"] != course["id"]:
            raise not_found()
        return int(section["id"])

    def enrollment_destroy(self, ctx: Ctx, course_id: str, enrollment_id: str) -> Reply:
        course = self.find_course(course_id)
        if not ctx.admin:
            raise unauthorized()
        e = self.state.enrollments.get(int(enrollment_id)) if enrollment_id.isdigit() else None
        # Canvas's course.enrollments excludes deleted rows, so a second delete is a 404.
        if e is None or e["course_id"] != course["id"] or e["workflow_state"] == "deleted":
            raise not_found()
        task = str(ctx.params.get("task") or "conclude")
        if task not in DELETE_TASKS:
            raise enrollment_error(f"{task} is not a valid task")
        self.state.set_enrollment_state(e, DELETE_TASKS[task])
        return ok(self.enrollment_json(e, ctx))

    # ---- courses -------------------------------------------------------------------------------

    def _enrolled(self, user_id: int, course_id: int) -> bool:
        s = self.state
        return any(
            s.enrollments[eid]["course_id"] == course_id
            and s.enrollments[eid]["workflow_state"] not in ("deleted", "rejected")
            for eid in s.enr_by_user.get(user_id, ())
        )

    def course_show(self, ctx: Ctx, course_id: str) -> Reply:
        course = self.find_course(course_id)
        if not ctx.admin and not (ctx.user and self._enrolled(ctx.user["id"], course["id"])):
            raise unauthorized()
        return ok(self.course_json(course, ctx))

    def user_courses(self, ctx: Ctx, user_id: str) -> Reply:
        target = self.find_user(user_id, ctx)
        # CoursesController#require_user_or_observer: the user, an admin, or a linked observer.
        if not self.can_read_user(ctx, target):
            raise unauthorized()
        s = self.state
        wanted_state = str(ctx.params.get("enrollment_state") or "")
        states = {
            "active": {"active"},
            "invited_or_pending": {"invited", "creation_pending"},
            "completed": {"completed"},
        }.get(wanted_state, {"active", "invited"})
        wanted_type = ctx.params.get("enrollment_type")
        include = ctx.include()
        by_course: dict[int, list[dict[str, Any]]] = {}
        for eid in s.enr_by_user.get(target["id"], ()):
            e = s.enrollments[eid]
            if e["workflow_state"] not in states:
                continue
            if wanted_type and e["type"] != ENROLLMENT_TYPES.get(str(wanted_type), wanted_type):
                continue
            if s.courses[e["course_id"]]["workflow_state"] == "deleted":
                continue
            by_course.setdefault(e["course_id"], []).append(e)
        course_ids = sorted(by_course, key=lambda cid: (s.courses[cid]["name"], cid))
        page, headers = self.paginate(ctx, course_ids)
        out = []
        for cid in page:
            data = self.course_json(s.courses[cid], ctx)
            data["enrollments"] = []
            for e in by_course[cid] + self._observed_enrollments(by_course[cid], include):
                item: dict[str, Any] = {
                    "type": e["type"].replace("Enrollment", "").lower(),
                    "role": e["type"],
                    "role_id": ROLE_IDS[e["type"]],
                    "user_id": e["user_id"],
                    "enrollment_state": e["workflow_state"],
                    "limit_privileges_to_course_section": False,
                }
                if e.get("associated_user_id"):
                    item["associated_user_id"] = e["associated_user_id"]
                if "total_scores" in include and e["type"] == "StudentEnrollment":
                    g = self.grades(e, ctx)
                    item.update(
                        computed_current_score=g["current_score"],
                        computed_current_grade=g["current_grade"],
                        computed_final_score=g["final_score"],
                        computed_final_grade=g["final_grade"],
                    )
                data["enrollments"].append(item)
            out.append(data)
        return ok(out, headers)

    def _observed_enrollments(self, own: list[dict[str, Any]], include: set[str]) -> list[dict[str, Any]]:
        """`include[]=observed_users`: the observees' student enrollments in the course, beside the caller's own
        ObserverEnrollments (CoursesController#courses_for_user; docs/canvas-rules.md, section 1)."""
        if "observed_users" not in include:
            return []
        s = self.state
        out = []
        for e in own:
            if e["type"] != "ObserverEnrollment" or not e.get("associated_user_id"):
                continue
            for eid in s.enr_by_user.get(e["associated_user_id"], ()):
                student = s.enrollments[eid]
                if (
                    student["course_id"] == e["course_id"]
                    and student["type"] == "StudentEnrollment"
                    and student["workflow_state"] in ("active", "invited")
                ):
                    out.append(student)
        return out

    # ---- assignments and missing work ----------------------------------------------------------

    def submission_json(self, a: dict[str, Any], user_id: int, *, observer: bool = False) -> dict[str, Any]:
        """`observer`: read by an observer, who sees score and grade only once posted (the `Submission` policy's
        `:read_grade`; docs/canvas-rules.md, section 1)."""
        sub = self.state.submissions.get(f"{a['id']}:{user_id}")
        submitted_at = sub.get("submitted_at") if sub else None
        score = sub.get("score") if sub else None
        posted = score is not None and not (sub or {}).get("unposted")
        if observer and not posted:
            score = None
        if score is not None:
            state = "graded"
        elif submitted_at is not None:
            state = "submitted"
        else:
            state = "unsubmitted"
        late = bool(submitted_at and a["due_at"] and submitted_at > a["due_at"])
        return {
            "id": sub["id"] if sub else None,
            "assignment_id": a["id"],
            "user_id": user_id,
            "submitted_at": iso(submitted_at),
            "score": score,
            "grade": None if score is None else f"{score:g}",
            "workflow_state": state,
            "late": late,
            "missing": self._missing(a, user_id),
            "excused": False,
            "attempt": 1 if submitted_at else None,
            "graded_at": iso(submitted_at) if score is not None else None,
            "posted_at": iso(submitted_at) if posted else None,
            "submission_type": "online_upload" if submitted_at else None,
            "seconds_late": int(submitted_at - a["due_at"]) if late else 0,
        }

    def _expects_submission(self, a: dict[str, Any]) -> bool:
        return not set(a["submission_types"]) <= NO_SUBMISSION_TYPES

    def _missing(self, a: dict[str, Any], user_id: int) -> bool:
        if not self._expects_submission(a) or a["due_at"] is None or a["due_at"] >= self.clock():
            return False
        sub = self.state.submissions.get(f"{a['id']}:{user_id}")
        return not (sub and sub.get("submitted_at"))

    def assignment_json(self, a: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
        course_id = a["course_id"]
        return {
            "id": a["id"],
            "name": a["name"],
            "description": f"<p>{a['name']}</p>",
            "created_at": iso(a["created_at"]),
            "updated_at": iso(a["created_at"]),
            "due_at": iso(a["due_at"]),
            "lock_at": None,
            "unlock_at": None,
            "points_possible": a["points_possible"],
            "grading_type": "points",
            "assignment_group_id": course_id * 10,
            "course_id": course_id,
            "position": a["position"],
            "submission_types": list(a["submission_types"]),
            "has_submitted_submissions": True,
            "published": True,
            "workflow_state": "published",
            "muted": False,
            "omit_from_final_grade": False,
            "html_url": f"{ctx.base}/courses/{course_id}/assignments/{a['id']}",
        }

    def _in_bucket(self, bucket: str, a: dict[str, Any], user_id: int) -> bool:
        now = self.clock()
        due = a["due_at"]
        sub = self.state.submissions.get(f"{a['id']}:{user_id}")
        submitted = bool(sub and sub.get("submitted_at"))
        graded = bool(sub and sub.get("score") is not None)
        expects = self._expects_submission(a)
        return {
            "past": due is not None and due < now,
            "overdue": due is not None and due < now and expects and not submitted,
            "undated": due is None,
            "ungraded": expects and submitted and not graded,
            "unsubmitted": expects and not submitted,
            "upcoming": due is not None and now < due <= now + 7 * 86400,
            "future": due is None or due > now,
        }[bucket]

    def user_assignments(self, ctx: Ctx, user_id: str, course_id: str) -> Reply:
        target = self.find_user(user_id, ctx)
        course = self.find_course(course_id)
        # AssignmentsApiController#require_user_visibility: a teacher of the student's course, or `:read_as_parent`
        # / `:read` on the user (the user, an admin, a linked observer). A course-only observer is refused.
        teacher = self.teaches(ctx, course["id"]) and self._enrolled(target["id"], course["id"])
        if not (teacher or self.can_read_user(ctx, target)):
            raise unauthorized()
        if not ctx.admin and not self._enrolled(target["id"], course["id"]):
            raise unauthorized()
        return self._assignments_page(ctx, course, bucket_user=target["id"])

    def _assignments_page(self, ctx: Ctx, course: dict[str, Any], *, bucket_user: int | None) -> Reply:
        """A page of the course's assignments; `bucket` (one of BUCKETS) keeps those in it for `bucket_user`."""
        s = self.state
        bucket = ctx.params.get("bucket")
        if bucket is not None and bucket not in BUCKETS:
            raise ApiError(
                400,
                {"errors": [{"message": "bucket name must be one of the following: " + ", ".join(BUCKETS)}]},
            )
        items = [s.assignments[aid] for aid in s.assignments_by_course.get(course["id"], ())]
        if bucket is not None and bucket_user is not None:
            items = [a for a in items if self._in_bucket(str(bucket), a, bucket_user)]
        page, headers = self.paginate(ctx, items)
        include = ctx.include()
        out = []
        for a in page:
            data = self.assignment_json(a, ctx)
            self._add_submissions(ctx, data, a, include)
            out.append(data)
        return ok(out, headers)

    def _student_in(self, user_id: int, course_id: int) -> bool:
        s = self.state
        return any(
            s.enrollments[eid]["course_id"] == course_id
            and s.enrollments[eid]["type"] == "StudentEnrollment"
            and s.enrollments[eid]["workflow_state"] in ("active", "invited", "completed")
            for eid in s.enr_by_user.get(user_id, ())
        )

    def _add_submissions(self, ctx: Ctx, data: dict[str, Any], a: dict[str, Any], include: set[str]) -> None:
        """`include[]=submission` is the *caller's* submission, whatever the path names; with
        `include[]=observed_users` too it is a list: the caller's (if a student) and each observee's in the course
        (lib/api/v1/assignment.rb `submissions_hash`; docs/canvas-rules.md, section 1)."""
        if "submission" not in include or ctx.user is None:
            return
        me = ctx.user["id"]
        if "observed_users" in include:
            users = [me] if self._student_in(me, a["course_id"]) else []
            users += sorted(self.observed_in_course(ctx, a["course_id"]))
            data["submission"] = [self.submission_json(a, uid, observer=uid != me) for uid in users]
        elif self._student_in(me, a["course_id"]):
            data["submission"] = self.submission_json(a, me)

    def course_assignments(self, ctx: Ctx, course_id: str) -> Reply:
        """GET /courses/:c/assignments: anyone enrolled in the course (or an admin)."""
        course = self.find_course(course_id)
        if not ctx.admin and not (ctx.user and self._enrolled(ctx.user["id"], course["id"])):
            raise unauthorized()
        return self._assignments_page(ctx, course, bucket_user=ctx.user["id"] if ctx.user else None)

    def course_student_submissions(self, ctx: Ctx, course_id: str) -> Reply:
        """GET /courses/:c/students/submissions?student_ids[]=S (SubmissionsApiController#for_students): a teacher or
        admin for any student, a student for itself, an observer only for students it observes in the course: one
        id it does not observe refuses the whole call."""
        course = self.find_course(course_id)
        s = self.state
        raw_ids = [str(v) for v in ctx.params.getlist("student_ids")]
        if not raw_ids:
            raise ApiError(400, {"errors": [{"message": "student_ids is required"}]})
        if raw_ids == ["all"]:
            if not (ctx.admin or self.teaches(ctx, course["id"])):
                raise unauthorized()
            ids = sorted(
                {s.enrollments[eid]["user_id"] for eid in s.enr_by_course.get(course["id"], ())}
                & {uid for uid in s.users if self._student_in(uid, course["id"])}
            )
        else:
            ids = [self.find_user(raw, ctx)["id"] for raw in raw_ids]
        if not (ctx.admin or self.teaches(ctx, course["id"])):
            allowed = self.observed_in_course(ctx, course["id"]) | ({ctx.user["id"]} if ctx.user else set())
            if any(uid not in allowed for uid in ids):
                raise unauthorized()
        me = ctx.user["id"] if ctx.user else None
        observer = not ctx.admin and not self.teaches(ctx, course["id"])
        subs = [
            self.submission_json(s.assignments[aid], uid, observer=observer and uid != me)
            for uid in ids
            if self._student_in(uid, course["id"])
            for aid in s.assignments_by_course.get(course["id"], ())
        ]
        page, headers = self.paginate(ctx, subs)
        return ok(page, headers)

    def missing_submissions(self, ctx: Ctx, user_id: str) -> Reply:
        target = self.find_user(user_id, ctx)
        s = self.state
        p = ctx.params
        raw_courses = p.getlist("course_ids")
        course_ids: set[int] | None = None
        if p.get("observed_user_id") is not None:
            # Observer mode: the caller must observe the student in every listed course.
            self.require_self_or_admin(ctx, target)
            student = self.find_user(p.get("observed_user_id"), ctx)
            if not raw_courses:
                raise unauthorized()
            course_ids = set()
            for raw in raw_courses:
                course = self.find_course(raw)
                if not ctx.admin and not s.observes_in_course(target["id"], student["id"], course["id"]):
                    raise unauthorized()
                course_ids.add(course["id"])
            target = student
        else:
            if not self.can_read_user(ctx, target):
                raise unauthorized()
            if raw_courses:
                course_ids = {self.find_course(raw)["id"] for raw in raw_courses}
        student_courses = [
            s.enrollments[eid]["course_id"]
            for eid in s.enr_by_user.get(target["id"], ())
            if s.enrollments[eid]["type"] == "StudentEnrollment"
            and s.enrollments[eid]["workflow_state"] == "active"
            and (course_ids is None or s.enrollments[eid]["course_id"] in course_ids)
        ]
        missing = [
            s.assignments[aid]
            for cid in student_courses
            for aid in s.assignments_by_course.get(cid, ())
            if self._missing(s.assignments[aid], target["id"])
        ]
        missing.sort(key=lambda a: (a["due_at"], a["id"]))
        page, headers = self.paginate(ctx, missing)
        include = ctx.include()
        out = []
        for a in page:
            data = self.assignment_json(a, ctx)
            if "course" in include:
                data["course"] = self.course_json(s.courses[a["course_id"]], ctx)
            if "planner_overrides" in include:
                data["planner_override"] = None
            out.append(data)
        return ok(out, headers)

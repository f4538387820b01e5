"""What every part of the fake server shares: the request context, lookups, pagination, JSON."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request

from .state import ROLE_IDS, State
from .util import (
    ApiError,
    Clock,
    Params,
    decode_bookmark,
    encode_bookmark,
    iso,
    not_found,
    unauthorized,
)

PER_PAGE = 10
MAX_PER_PAGE = 100


@dataclass
class Ctx:
    req: Request
    params: Params
    raw_path: str
    user: dict[str, Any] | None = None
    token: str | None = None

    @property
    def admin(self) -> bool:
        return bool(self.user and self.user.get("admin"))

    @property
    def base(self) -> str:
        """scheme://host of this request, for Link headers and html_url (cheaper than werkzeug's)."""
        env = self.req.environ
        host = env.get("HTTP_HOST") or f"{env.get('SERVER_NAME')}:{env.get('SERVER_PORT')}"
        return f"{env.get('wsgi.url_scheme', 'http')}://{host}"

    def include(self) -> set[str]:
        return {str(v) for v in self.params.getlist("include")}


@dataclass
class Reply:
    status: int
    body: Any
    headers: list[tuple[str, str]]
    content_type: str = "application/json; charset=utf-8"


Handler = Callable[..., Reply]


class FakeBase:
    """Attributes set up by FakeCanvas; handler mixins only rely on these."""

    state: State
    clock: Clock
    lock: threading.RLock
    rng: random.Random

    # ---- lookups -------------------------------------------------------------------------------

    def find_user(self, ident: str | int, ctx: Ctx | None = None) -> dict[str, Any]:
        """Canvas user ids: numeric, ``self``, ``sis_user_id:X``, ``sis_login_id:X``."""
        s = self.state
        text = str(ident).strip()
        uid: int | None = None
        if text == "self" and ctx is not None and ctx.user is not None:
            uid = ctx.user["id"]
        elif text.isdigit():
            uid = int(text)
        elif text.startswith("sis_user_id:"):
            uid = s.by_sis.get(text[len("sis_user_id:") :])
        elif text.startswith("sis_login_id:"):
            uid = s.by_login.get(text[len("sis_login_id:") :].lower())
        if uid is None or uid not in s.users:
            raise not_found()
        return s.users[uid]

    def find_course(self, ident: str | int) -> dict[str, Any]:
        s = self.state
        text = str(ident).strip()
        cid: int | None = None
        if text.isdigit():
            cid = int(text)
        elif text.startswith("sis_course_id:"):
            cid = s.course_by_sis.get(text[len("sis_course_id:") :])
        if cid is None or cid not in s.courses or s.courses[cid]["workflow_state"] == "deleted":
            raise not_found()
        return s.courses[cid]

    def find_account(self, ident: str | int) -> dict[str, Any]:
        text = str(ident).strip()
        if text == "self":
            return self.state.accounts[1]
        if text.isdigit() and int(text) in self.state.accounts:
            return self.state.accounts[int(text)]
        raise not_found()

    # ---- permissions ---------------------------------------------------------------------------

    def require_admin(self, ctx: Ctx) -> None:
        if not ctx.admin:
            raise unauthorized()

    def require_self_or_admin(self, ctx: Ctx, target: dict[str, Any]) -> None:
        if not (ctx.admin or (ctx.user and ctx.user["id"] == target["id"])):
            raise unauthorized()

    def observes(self, ctx: Ctx, student_id: int) -> bool:
        """A user-level link grants read / read_as_parent on the student."""
        return ctx.user is not None and self.state.active_link(ctx.user["id"], student_id) is not None

    def can_read_user(self, ctx: Ctx, target: dict[str, Any]) -> bool:
        """User-level reads (`/users/:id/...`): admin, the user, or a linked observer. Never a course-only observer
        (docs/canvas-rules.md, section 1: `User#set_policy` grants read / read_as_parent through the link only)."""
        return (
            ctx.admin or (ctx.user is not None and ctx.user["id"] == target["id"]) or self.observes(ctx, target["id"])
        )

    def teaches(self, ctx: Ctx, course_id: int) -> bool:
        """An active teacher or TA enrollment in the course (`:view_all_grades` for its students)."""
        s = self.state
        return ctx.user is not None and any(
            s.enrollments[eid]["course_id"] == course_id
            and s.enrollments[eid]["type"] in ("TeacherEnrollment", "TaEnrollment")
            and s.enrollments[eid]["workflow_state"] == "active"
            for eid in s.enr_by_user.get(ctx.user["id"], ())
        )

    def observed_in_course(self, ctx: Ctx, course_id: int) -> set[int]:
        """The students the caller observes in this course through an active ObserverEnrollment."""
        s = self.state
        if ctx.user is None:
            return set()
        return {
            s.enrollments[eid]["associated_user_id"]
            for eid in s.enr_by_user.get(ctx.user["id"], ())
            if s.enrollments[eid]["course_id"] == course_id
            and s.enrollments[eid]["type"] == "ObserverEnrollment"
            and s.enrollments[eid].get("associated_user_id")
            and s.enrollments[eid]["workflow_state"] == "active"
        }

    # ---- pagination ----------------------------------------------------------------------------

    def _per_page(self, ctx: Ctx) -> int:
        try:
            per_page = int(ctx.params.get("per_page") or PER_PAGE)
        except (TypeError, ValueError):
            per_page = PER_PAGE
        if per_page <= 0:
            per_page = PER_PAGE
        return min(per_page, MAX_PER_PAGE)

    def _link(self, ctx: Ctx, page: str | int, per_page: int, rel: str) -> str:
        query = [
            (k, v)
            for k, v in ctx.req.args.items(multi=True)
            if k not in ("page", "per_page", "access_token", "api_key")
        ]
        query += [("page", str(page)), ("per_page", str(per_page))]
        return f'<{ctx.base}{ctx.raw_path}?{urlencode(query)}>; rel="{rel}"'

    def paginate(self, ctx: Ctx, items: list[Any]) -> tuple[list[Any], list[tuple[str, str]]]:
        """Numbered pages with a Link header (current, next, prev, first, last)."""
        per_page = self._per_page(ctx)
        try:
            page = int(ctx.params.get("page") or 1)
        except (TypeError, ValueError):
            page = 1
        page = max(page, 1)
        last = max(1, math.ceil(len(items) / per_page))
        links = [self._link(ctx, page, per_page, "current")]
        if page < last:
            links.append(self._link(ctx, page + 1, per_page, "next"))
        if page > 1:
            links.append(self._link(ctx, page - 1, per_page, "prev"))
        links.append(self._link(ctx, 1, per_page, "first"))
        links.append(self._link(ctx, last, per_page, "last"))
        start = (page - 1) * per_page
        return items[start : start + per_page], [("Link", ",".join(links))]

    def paginate_bookmark(
        self, ctx: Ctx, items: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """Opaque ``page=bookmark:...`` cursors (enrollments); links: current, next, first."""
        per_page = self._per_page(ctx)
        page = str(ctx.params.get("page") or "first")
        items = sorted(items, key=lambda item: item["id"])
        if page.startswith("bookmark:"):
            after = decode_bookmark(page)
            if not isinstance(after, list) or not after or not isinstance(after[0], int):
                raise ApiError(400, {"errors": [{"message": "invalid bookmark"}]})
            items = [item for item in items if item["id"] > after[0]]
        chunk = items[:per_page]
        links = [self._link(ctx, page, per_page, "current")]
        if len(items) > per_page:
            links.append(self._link(ctx, encode_bookmark([chunk[-1]["id"]]), per_page, "next"))
        links.append(self._link(ctx, "first", per_page, "first"))
        return chunk, [("Link", ",".join(links))]

    # ---- JSON renderers ------------------------------------------------------------------------

    def user_json(
        self, user: dict[str, Any], ctx: Ctx, *, profile: bool = False, include: Iterable[str] = ()
    ) -> dict[str, Any]:
        include = set(include)
        data: dict[str, Any] = {
            "id": user["id"],
            "name": user["name"],
            "created_at": iso(user["created_at"]),
            "sortable_name": user["sortable_name"],
            "short_name": user["short_name"],
        }
        is_self = ctx.user is not None and ctx.user["id"] == user["id"]
        if ctx.admin:
            data["sis_user_id"] = user.get("sis_user_id")
            data["integration_id"] = None
            data["root_account"] = "riverside.instructure.com"
        if ctx.admin or is_self:
            data["login_id"] = user.get("login_id")
        if profile:
            first, _, last = user["name"].partition(" ")
            data.update(first_name=first, last_name=last, locale=None, effective_locale="en")
            data["avatar_url"] = f"{ctx.base}/images/messages/avatar-50.png"
            data["permissions"] = {"can_update_name": False, "can_update_avatar": False}
        if "avatar_url" in include:
            data["avatar_url"] = f"{ctx.base}/images/messages/avatar-50.png"
        if (profile or "email" in include) and (ctx.admin or is_self):
            data["email"] = user.get("email")
        return data

    def course_json(self, course: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
        data = {
            "id": course["id"],
            "name": course["name"],
            "course_code": course["course_code"],
            "account_id": course["account_id"],
            "root_account_id": course["root_account_id"],
            "uuid": f"course-{course['id']:08d}",
            "workflow_state": course["workflow_state"],
            "start_at": iso(course.get("start_at")),
            "end_at": iso(course.get("end_at")),
            "created_at": iso(course["created_at"]),
            "enrollment_term_id": 1,
            "default_view": "modules",
            "is_public": False,
            "public_syllabus": False,
            "license": "private",
            "time_zone": "America/Chicago",
            "restrict_enrollments_to_course_dates": False,
            "apply_assignment_group_weights": False,
            "hide_final_grades": False,
            "calendar": {"ics": f"{ctx.base}/feeds/calendars/course_{course['id']}.ics"},
        }
        if ctx.admin:
            data["sis_course_id"] = course.get("sis_course_id")
            data["integration_id"] = None
            data["sis_import_id"] = None
        return data

    def grades(self, enrollment: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
        """current_* counts graded work only; final_* counts everything due so far as zero."""
        s = self.state
        now = self.clock()
        earned = graded_points = due_points = 0.0
        for aid in s.assignments_by_course.get(enrollment["course_id"], ()):
            a = s.assignments[aid]
            sub = s.submissions.get(f"{aid}:{enrollment['user_id']}")
            if sub is not None and sub.get("score") is not None:
                earned += sub["score"]
                graded_points += a["points_possible"]
            if a["due_at"] is not None and a["due_at"] < now:
                due_points += a["points_possible"]
        current = round(100 * earned / graded_points, 2) if graded_points else None
        final = round(100 * earned / due_points, 2) if due_points else None
        return {
            "html_url": f"{ctx.base}/courses/{enrollment['course_id']}/grades/{enrollment['user_id']}",
            "current_score": current,
            "current_grade": letter(current),
            "final_score": final,
            "final_grade": letter(final),
            "unposted_current_score": current,
            "unposted_current_grade": letter(current),
            "unposted_final_score": final,
            "unposted_final_grade": letter(final),
        }

    def enrollment_json(self, e: dict[str, Any], ctx: Ctx, include: Iterable[str] = ()) -> dict[str, Any]:
        s = self.state
        user = s.users[e["user_id"]]
        course = s.courses[e["course_id"]]
        data: dict[str, Any] = {
            "id": e["id"],
            "user_id": e["user_id"],
            "course_id": e["course_id"],
            "type": e["type"],
            "created_at": iso(e["created_at"]),
            "updated_at": iso(e["updated_at"]),
            "associated_user_id": e.get("associated_user_id"),
            "start_at": iso(e.get("start_at")),
            "end_at": iso(e.get("end_at")),
            "course_section_id": e["course_section_id"],
            "root_account_id": e["root_account_id"],
            "limit_privileges_to_course_section": False,
            "enrollment_state": e["workflow_state"],
            "role": e["type"],
            "role_id": ROLE_IDS[e["type"]],
            "last_activity_at": None,
            "last_attended_at": None,
            "total_activity_time": 0,
            "html_url": f"{ctx.base}/courses/{e['course_id']}/users/{e['user_id']}",
            "user": {
                "id": user["id"],
                "name": user["name"],
                "created_at": iso(user["created_at"]),
                "sortable_name": user["sortable_name"],
                "short_name": user["short_name"],
            },
        }
        if ctx.admin:
            data["sis_course_id"] = course.get("sis_course_id")
            data["sis_section_id"] = course.get("sis_course_id")
            data["sis_user_id"] = user.get("sis_user_id")
            data["user"]["sis_user_id"] = user.get("sis_user_id")
            data["user"]["login_id"] = user.get("login_id")
        if e["type"] == "StudentEnrollment":
            data["grades"] = self.grades(e, ctx)
        if "observed_users" in set(include) and e.get("associated_user_id"):
            observed = s.users.get(e["associated_user_id"])
            if observed is not None:
                data["observed_user"] = self.user_json(observed, ctx)
        return data


def letter(score: float | None) -> str | None:
    if score is None:
        return None
    for floor, grade in ((90, "A"), (80, "B"), (70, "C"), (60, "D")):
        if score >= floor:
            return grade
    return "F"


def ok(body: Any, headers: list[tuple[str, str]] | None = None, status: int = 200) -> Reply:
    return Reply(status, body, headers or [])

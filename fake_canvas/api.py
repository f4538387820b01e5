"""Canvas REST endpoints: users, observees/observers, pairing codes (courses and work: course_api)."""

from __future__ import annotations

from typing import Any

from .base import Ctx, Reply, ok
from .course_api import CourseApi
from .state import ENROLLMENT_TYPES
from .util import (
    ApiError,
    iso,
    not_found,
    observee_error,
    parse_time,
    unauthorized,
)


class CanvasApi(CourseApi):
    # ---- users ---------------------------------------------------------------------------------

    def user_show(self, ctx: Ctx, user_id: str) -> Reply:
        user = self.find_user(user_id, ctx)
        if not self.can_read_user(ctx, user):
            raise unauthorized()
        return ok(self.user_json(user, ctx, profile=True, include=ctx.include()))

    def account_show(self, ctx: Ctx, account_id: str) -> Reply:
        account = self.find_account(account_id)
        self.require_admin(ctx)
        return ok(dict(account))

    def account_users(self, ctx: Ctx, account_id: str) -> Reply:
        account = self.find_account(account_id)
        self.require_admin(ctx)
        term = ctx.params.get("search_term")
        if term is not None and len(str(term)) < 3:
            raise ApiError(
                400,
                {
                    "status": "argument_error",
                    "message": "search_term of 3 or more characters is required",
                },
            )
        s = self.state
        users = [
            u for u in s.users.values() if account["parent_account_id"] is None or u["account_id"] == account["id"]
        ]
        if term is not None:
            needle = str(term).lower()
            by_id = [u for u in users if needle.isdigit() and u["id"] == int(needle)]
            fields = ("name", "sortable_name", "login_id", "sis_user_id", "email")
            matches = [
                u for u in users if u not in by_id and any(needle in str(u.get(f) or "").lower() for f in fields)
            ]
            users = by_id + matches
        enrollment_type = ctx.params.get("enrollment_type")
        if enrollment_type:
            wanted = ENROLLMENT_TYPES.get(str(enrollment_type), str(enrollment_type))
            users = [
                u
                for u in users
                if any(
                    s.enrollments[eid]["type"] == wanted and s.enrollments[eid]["workflow_state"] != "deleted"
                    for eid in s.enr_by_user.get(u["id"], ())
                )
            ]
        sort = str(ctx.params.get("sort") or "username")
        keys = {
            "username": lambda u: (u["sortable_name"].lower(), u["id"]),
            "email": lambda u: ((u.get("email") or "").lower(), u["id"]),
            "sis_id": lambda u: (u.get("sis_user_id") or "", u["id"]),
            "id": lambda u: (u["id"],),
        }
        if term is None or sort != "username":
            users = sorted(users, key=keys.get(sort, keys["username"]))
        if str(ctx.params.get("order") or "asc") == "desc":
            users = list(reversed(users))
        page, headers = self.paginate(ctx, users)
        include = ctx.include()
        return ok([self.user_json(u, ctx, include=include) for u in page], headers)

    def account_user_create(self, ctx: Ctx, account_id: str) -> Reply:
        account = self.find_account(account_id)
        self.require_admin(ctx)
        p = ctx.params
        unique_id = str(p.get("pseudonym", "unique_id") or "").strip()
        sis_user_id = p.get("pseudonym", "sis_user_id")
        errors: dict[str, Any] = {}
        if not unique_id:
            errors["unique_id"] = [{"attribute": "unique_id", "type": "too_short", "message": "can't be blank"}]
        elif unique_id.lower() in self.state.by_login:
            errors["unique_id"] = [
                {
                    "attribute": "unique_id",
                    "type": "taken",
                    "message": "ID already in use for this account and authentication provider",
                }
            ]
        if sis_user_id and str(sis_user_id) in self.state.by_sis:
            errors["sis_user_id"] = [
                {
                    "attribute": "sis_user_id",
                    "type": "taken",
                    "message": f'SIS ID "{sis_user_id}" is already in use',
                }
            ]
        if errors:
            raise ApiError(400, {"errors": {"pseudonym": errors}})
        name = str(p.get("user", "name") or unique_id)
        email = p.get("communication_channel", "address") or (unique_id if "@" in unique_id else None)
        user = self.state.add_user(
            name=name,
            sortable_name=p.get("user", "sortable_name"),
            short_name=p.get("user", "short_name"),
            sis_user_id=str(sis_user_id) if sis_user_id else None,
            login_id=unique_id,
            email=email,
            password=p.get("pseudonym", "password"),
            account_id=account["id"],
        )
        return ok(self.user_json(user, ctx, include={"email"}))

    def account_course_create(self, ctx: Ctx, account_id: str) -> Reply:
        account = self.find_account(account_id)
        self.require_admin(ctx)
        p = ctx.params
        sis_course_id = p.get("course", "sis_course_id")
        if sis_course_id and str(sis_course_id) in self.state.course_by_sis:
            raise ApiError(
                400,
                {
                    "errors": {
                        "sis_source_id": [
                            {
                                "attribute": "sis_source_id",
                                "type": "taken",
                                "message": f'SIS ID "{sis_course_id}" is already in use',
                            }
                        ]
                    }
                },
            )
        name = str(p.get("course", "name") or "Unnamed Course")
        course = self.state.add_course(
            name=name,
            course_code=p.get("course", "course_code") or name,
            sis_course_id=str(sis_course_id) if sis_course_id else None,
            account_id=account["id"],
            workflow_state="available" if p.bool("offer") else "unpublished",
            start_at=parse_time(p.get("course", "start_at")),
            end_at=parse_time(p.get("course", "end_at")),
        )
        return ok(self.course_json(course, ctx))

    # ---- observees / observers -----------------------------------------------------------------

    def _link_json(self, user: dict[str, Any], ctx: Ctx) -> dict[str, Any]:
        data = self.user_json(user, ctx, include=ctx.include())
        data["observation_link_root_account_ids"] = [1]
        return data

    def observees_index(self, ctx: Ctx, user_id: str) -> Reply:
        observer = self.find_user(user_id, ctx)
        self.require_self_or_admin(ctx, observer)
        s = self.state
        return self._linked_page(ctx, [s.users[sid] for sid in s.observed_students(observer["id"])])

    def observers_index(self, ctx: Ctx, user_id: str) -> Reply:
        student = self.find_user(user_id, ctx)
        self.require_self_or_admin(ctx, student)
        s = self.state
        observers = [
            s.users[link["observer_id"]]
            for link in s.links.values()
            if link["student_id"] == student["id"] and link["workflow_state"] == "active"
        ]
        return self._linked_page(ctx, observers)

    def _linked_page(self, ctx: Ctx, users: list[dict[str, Any]]) -> Reply:
        """One page of the users at the other end of someone's links, by sortable name then id."""
        users.sort(key=lambda u: (u["sortable_name"].lower(), u["id"]))
        page, headers = self.paginate(ctx, users)
        return ok([self._link_json(u, ctx) for u in page], headers)

    def observees_create(self, ctx: Ctx, user_id: str) -> Reply:
        observer = self.find_user(user_id, ctx)
        self.require_self_or_admin(ctx, observer)
        s = self.state
        p = ctx.params
        code_record = None
        student: dict[str, Any] | None = None
        if p.get("pairing_code") is not None:
            code_record = s.pairing_code_active(str(p.get("pairing_code")))
            if code_record is None:
                raise observee_error("Invalid pairing code.")
            student = s.users[code_record["user_id"]]
        elif p.get("observee", "unique_id") is not None:
            uid = s.by_login.get(str(p.get("observee", "unique_id")).lower())
            if uid is None:
                raise observee_error("Unknown observee.")
            student = s.users[uid]
            password = p.get("observee", "password")
            if not student.get("password") or password != student["password"]:
                raise observee_error("Invalid credentials provided.", status=401)
        else:
            # The observee's own token; only meaningful when the caller authenticates by header.
            observee_token = p.get("observee", "access_token")
            if observee_token is None and ctx.req.headers.get("Authorization"):
                observee_token = ctx.req.args.get("access_token") or ctx.req.form.get("access_token")
            record = s.tokens.get(str(observee_token)) if observee_token else None
            if record is None or record["state"] != "active":
                raise observee_error("Unknown observee.")
            student = s.users[record["user_id"]]
        if student["id"] == observer["id"]:
            raise observee_error("Cannot observe yourself")
        s.link_create_or_restore(observer_id=observer["id"], student_id=student["id"])
        if code_record is not None:
            # Each code works once: Canvas destroys it after linking.
            code_record["workflow_state"] = "deleted"
            code_record["redeemed_by"] = observer["id"]
        return ok(self._link_json(student, ctx))

    def observee_show(self, ctx: Ctx, user_id: str, observee_id: str) -> Reply:
        observer, student = self.find_user(user_id, ctx), self.find_user(observee_id, ctx)
        return self._show_link(ctx, observer=observer, student=student, asker=observer, shown=student)

    def observee_update(self, ctx: Ctx, user_id: str, observee_id: str) -> Reply:
        observer = self.find_user(user_id, ctx)
        student = self.find_user(observee_id, ctx)
        # PUT is admin-only: an observer acting on their own links gets 401.
        self.require_admin(ctx)
        if student["id"] == observer["id"]:
            raise observee_error("Cannot observe yourself")
        self.state.link_create_or_restore(observer_id=observer["id"], student_id=student["id"])
        return ok(self._link_json(student, ctx))

    def observee_destroy(self, ctx: Ctx, user_id: str, observee_id: str) -> Reply:
        observer = self.find_user(user_id, ctx)
        student = self.find_user(observee_id, ctx)
        self.require_self_or_admin(ctx, observer)
        if not self.state.link_destroy(observer_id=observer["id"], student_id=student["id"]):
            raise not_found()
        return ok(self._link_json(student, ctx))

    def observer_show(self, ctx: Ctx, user_id: str, observer_id: str) -> Reply:
        student, observer = self.find_user(user_id, ctx), self.find_user(observer_id, ctx)
        return self._show_link(ctx, observer=observer, student=student, asker=student, shown=observer)

    def _show_link(
        self,
        ctx: Ctx,
        *,
        observer: dict[str, Any],
        student: dict[str, Any],
        asker: dict[str, Any],
        shown: dict[str, Any],
    ) -> Reply:
        """One link read from either end: the user in the path (or an admin) may look, and only an active link
        is found."""
        self.require_self_or_admin(ctx, asker)
        if self.state.active_link(observer["id"], student["id"]) is None:
            raise not_found()
        return ok(self._link_json(shown, ctx))

    def pairing_code_create(self, ctx: Ctx, user_id: str) -> Reply:
        student = self.find_user(user_id, ctx)
        if not self.state.has_student_enrollment(student["id"]):
            raise unauthorized()
        self.require_self_or_admin(ctx, student)
        record = self.state.pairing_code_create(user_id=student["id"])
        return ok(
            {
                "user_id": record["user_id"],
                "code": record["code"],
                "expires_at": iso(record["expires_at"]),
                "workflow_state": "active",
            }
        )

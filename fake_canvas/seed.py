"""The demo school on the fake: accounts, the people and courses of `demo_school`, enrollments, assignments and
submissions.

The people and courses come from the dependency-free `demo_school` module, which the portal's demo seed reads too,
so both always agree. Only due dates and submission times move with "now".
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from demo_school import (
    ASSIGNMENT_PLAN,
    ROOT_ACCOUNT_ID,
    SCHOOL_ACCOUNT_ID,
    SERVICE_ACCOUNT_ID,
    course_rows,
    demo_courses,
    demo_people,
    people_rows,
)

from .state import State

__all__ = ["DEMO_PASSWORD", "SERVICE_ACCOUNT_ID", "build_demo", "build_empty", "demo_courses", "demo_people"]

DEMO_PASSWORD = "canvas-demo"  # noqa: S105 - the documented demo sign-in password


def build_empty(state: State) -> None:
    state.seed = "empty"
    state.add_account(id=ROOT_ACCOUNT_ID, name="Riverside Unified", parent_account_id=None)
    state.add_account(id=SCHOOL_ACCOUNT_ID, name="Riverside High School", parent_account_id=ROOT_ACCOUNT_ID)
    state.add_user(
        id=SERVICE_ACCOUNT_ID,
        name="Portal Service Account",
        sortable_name="Service Account, Portal",
        sis_user_id="SVC-PORTAL",
        login_id="portal-service",
        email="mentor-portal@riverside.example",
        password=DEMO_PASSWORD,
        admin=True,
    )
    # Where new ids start, far from the seeded ones, so an id in a test tells what made it.
    state.counters.update(
        users=20001, courses=601, sections=701, enrollments=100001, assignments=7001, submissions=900001
    )
    state.counters.update(sis_imports=1, links=1)


def build_demo(state: State) -> None:
    """The demo school. Ids are fixed; dates are relative to the state's clock."""
    build_empty(state)
    state.seed = "demo"
    now = state.clock()
    people = people_rows()
    courses = course_rows()
    _add_people(state, people)
    _add_courses(state, courses, now=now)
    rng = random.Random(4242)
    students = [p for p in people if p["kind"] in ("student", "student_mentor")]
    _enroll(state, people=people, students=students, courses=courses, rng=rng)
    today = datetime.fromtimestamp(now, UTC).replace(hour=23, minute=59, second=0, microsecond=0)
    for c in courses:
        for title, points, offset in ASSIGNMENT_PLAN:
            due = None if offset is None else (today + timedelta(days=offset)).timestamp()
            state.add_assignment(
                course_id=c["id"],
                name=title,
                due_at=due,
                points_possible=float(points),
                submission_types=["online_upload", "online_text_entry"],
            )
    _submit(state, students=students, rng=rng, now=now)


def _add_people(state: State, people: list[dict[str, Any]]) -> None:
    for p in people:
        if p["kind"] == "admin":
            continue
        listed = {key: p[key] for key in ("id", "name", "sortable_name", "sis_user_id", "login_id", "email")}
        state.add_user(**listed, password=DEMO_PASSWORD, account_id=SCHOOL_ACCOUNT_ID)


def _add_courses(state: State, courses: list[dict[str, Any]], *, now: float) -> None:
    """Every course in one term that began 70 days ago and ends in 120, each with its own section."""
    starts, ends = now - 70 * 86400, now + 120 * 86400
    for index, c in enumerate(courses, start=1):
        listed = {key: c[key] for key in ("id", "name", "course_code", "sis_course_id")}
        state.add_course(**listed, account_id=SCHOOL_ACCOUNT_ID, section_id=600 + index, start_at=starts, end_at=ends)


def _enroll(
    state: State,
    *,
    people: list[dict[str, Any]],
    students: list[dict[str, Any]],
    courses: list[dict[str, Any]],
    rng: random.Random,
) -> None:
    """One teacher a course; each student in four to six courses, drawn from the seeded generator."""
    course_by_sis = {c["sis_course_id"]: c["id"] for c in courses}
    teachers = [p for p in people if p["sis_user_id"].startswith("T-")]
    for teacher, course in zip(teachers, courses, strict=True):
        state.enroll(course_id=course["id"], user_id=teacher["id"], type="TeacherEnrollment")
    course_ids = [c["id"] for c in courses]
    for student in students:
        k = rng.choice((4, 5, 5, 6))
        chosen = rng.sample(course_ids, k)
        if student["sis_user_id"] == "S-2044":
            # The sample assignments CSV scopes this student's mentor to these two courses.
            required = [course_by_sis["ALG1-P3"], course_by_sis["BIO-P5"]]
            others = [c for c in chosen if c not in required]
            chosen = required + others[: k - 2]
        for course_id in sorted(chosen):
            state.enroll(course_id=course_id, user_id=student["id"])


def _submit(state: State, *, students: list[dict[str, Any]], rng: random.Random, now: float) -> None:
    """Submissions and grades. Each student has a steady "ability" so grades look like one person's record."""
    for student in students:
        ability = 0.55 + rng.random() * 0.45
        diligence = 0.75 + rng.random() * 0.25
        for eid in state.enr_by_user[student["id"]]:
            course_id = state.enrollments[eid]["course_id"]
            for aid in state.assignments_by_course[course_id]:
                a = state.assignments[aid]
                due = a["due_at"]
                roll = rng.random()
                if due is None:
                    if roll < 0.3:
                        state.set_submission(assignment_id=aid, user_id=student["id"], submitted_at=now - 86400)
                    continue
                if due > now:
                    if roll < 0.2:
                        state.set_submission(assignment_id=aid, user_id=student["id"], submitted_at=now - 3600)
                    continue
                if roll > diligence:
                    continue  # missing
                submitted = due - rng.randint(600, 3 * 86400)
                graded = due < now - 2 * 86400
                score = None
                if graded:
                    score = round(a["points_possible"] * min(1.0, ability + rng.random() * 0.2), 1)
                state.set_submission(assignment_id=aid, user_id=student["id"], submitted_at=submitted, score=score)

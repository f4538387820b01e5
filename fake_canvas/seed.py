"""The demo school: deterministic people, courses, enrollments, assignments and submissions.

Ids and names never depend on the clock or on randomness that varies between runs, so
``demo_people()`` / ``demo_courses()`` (used by the portal's demo seed without a network call)
always equal what the server serves. Only due dates and submission times move with "now".
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from .state import State

DEMO_PASSWORD = "canvas-demo"  # noqa: S105 - the documented demo sign-in password
ROOT_ACCOUNT_ID = 1
SCHOOL_ACCOUNT_ID = 2
SERVICE_ACCOUNT_ID = 1

FIRST_NAMES = [
    "Aaliyah",
    "Aiden",
    "Amara",
    "Andre",
    "Ava",
    "Benjamin",
    "Bianca",
    "Caleb",
    "Camila",
    "Carlos",
    "Chloe",
    "Daniel",
    "Deja",
    "Diego",
    "Elena",
    "Elijah",
    "Emma",
    "Ethan",
    "Fatima",
    "Gabriel",
    "Grace",
    "Hana",
    "Isaac",
    "Isabella",
    "Jamal",
    "Jasmine",
    "Jayden",
    "Kai",
    "Kaylee",
    "Leah",
    "Liam",
    "Lucas",
    "Luna",
    "Malik",
    "Maya",
    "Mateo",
    "Mia",
    "Naomi",
    "Noah",
    "Nora",
    "Oliver",
    "Olivia",
    "Omar",
    "Priya",
    "Quinn",
    "Rafael",
    "Riley",
    "Rosa",
    "Samuel",
    "Sofia",
    "Tariq",
    "Tessa",
    "Theo",
    "Valentina",
    "Wyatt",
    "Xavier",
    "Yara",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Ahmed",
    "Alvarez",
    "Baker",
    "Bennett",
    "Brooks",
    "Carter",
    "Chen",
    "Collins",
    "Cruz",
    "Diaz",
    "Edwards",
    "Evans",
    "Flores",
    "Foster",
    "Garcia",
    "Gomez",
    "Green",
    "Hall",
    "Harris",
    "Hernandez",
    "Hughes",
    "Jackson",
    "Johnson",
    "Kim",
    "King",
    "Lee",
    "Lopez",
    "Martin",
    "Martinez",
    "Mitchell",
    "Moore",
    "Morales",
    "Nguyen",
    "Ortiz",
    "Parker",
    "Patel",
    "Perez",
    "Phillips",
    "Ramirez",
    "Reed",
    "Reyes",
    "Rivera",
    "Roberts",
    "Robinson",
    "Sanchez",
    "Scott",
    "Singh",
    "Stewart",
    "Sullivan",
    "Taylor",
    "Thomas",
    "Thompson",
    "Torres",
    "Turner",
    "Walker",
    "Ward",
    "Washington",
    "Watson",
    "White",
    "Williams",
    "Wilson",
    "Wright",
    "Young",
]

# (code, name); each subject runs in two periods.
SUBJECTS = (
    ("ALG1", "Algebra I", (1, 3)),
    ("GEOM", "Geometry", (2, 4)),
    ("ALG2", "Algebra II", (5, 6)),
    ("PREC", "Precalculus", (1, 7)),
    ("BIO", "Biology", (2, 5)),
    ("CHEM", "Chemistry", (3, 6)),
    ("PHYS", "Physics", (4, 7)),
    ("ESCI", "Earth Science", (1, 2)),
    ("ENG9", "English 9", (3, 4)),
    ("ENG10", "English 10", (5, 6)),
    ("ENG11", "English 11", (1, 7)),
    ("ENG12", "English 12", (2, 3)),
    ("WHIST", "World History", (4, 5)),
    ("USHIST", "U.S. History", (6, 7)),
    ("GOV", "Government", (1, 3)),
    ("SPAN1", "Spanish I", (2, 6)),
    ("SPAN2", "Spanish II", (4, 7)),
    ("ART", "Studio Art", (1, 5)),
    ("CS", "Computer Science Principles", (2, 4)),
    ("MUS", "Concert Band", (3, 7)),
)
# (name, points, day offset from today); None = undated.
ASSIGNMENT_PLAN = (
    ("Homework 1", 10, -35),
    ("Quiz 1", 20, -28),
    ("Homework 2", 10, -21),
    ("Lab Report 1", 25, -14),
    ("Homework 3", 10, -10),
    ("Essay", 50, -6),
    ("Quiz 2", 20, -3),
    ("Homework 4", 10, 2),
    ("Project", 100, 5),
    ("Quiz 3", 20, 9),
    ("Lab Report 2", 25, 13),
    ("Reflection (any time)", 10, None),
)

STUDENT_MENTOR_SIS = {f"S-{n}" for n in range(1181, 1201)}
TEACHER_MENTOR_SIS = {f"T-{n:04d}" for n in range(36, 46)}


def _people() -> list[dict[str, Any]]:
    rng = random.Random(20261127)
    used: set[str] = set()

    def name() -> tuple[str, str]:
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if f"{first} {last}" not in used:
                used.add(f"{first} {last}")
                return first, last

    people: list[dict[str, Any]] = []

    def person(id: int, first: str, last: str, sis: str, kind: str, mentor: bool) -> None:
        people.append(
            {
                "id": id,
                "name": f"{first} {last}",
                "sortable_name": f"{last}, {first}",
                "sis_user_id": sis,
                "login_id": sis.lower(),
                "email": f"{first.lower()}.{last.lower()}.{sis.lower()}@riverside.example",
                "kind": kind,
                "mentor": mentor,
            }
        )

    people.append(
        {
            "id": SERVICE_ACCOUNT_ID,
            "name": "Portal Service Account",
            "sortable_name": "Service Account, Portal",
            "sis_user_id": "SVC-PORTAL",
            "login_id": "portal-service",
            "email": "mentor-portal@riverside.example",
            "kind": "admin",
            "mentor": False,
        }
    )
    for n in range(21, 61):
        first, last = name()
        sis = f"T-{n:04d}"
        person(100 + n, first, last, sis, "teacher", sis in TEACHER_MENTOR_SIS)
    for n in range(1, 31):
        first, last = name()
        person(200 + n, first, last, f"AIDE-{n:03d}", "aide", True)
    for n in list(range(1101, 1261)) + list(range(2001, 2161)):
        first, last = name()
        sis = f"S-{n}"
        if sis in STUDENT_MENTOR_SIS:
            person(10000 + n, first, last, sis, "student_mentor", True)
        else:
            person(10000 + n, first, last, sis, "student", False)
    return people


def _courses() -> list[dict[str, Any]]:
    courses = []
    index = 0
    for code, title, periods in SUBJECTS:
        for period in periods:
            index += 1
            courses.append(
                {
                    "id": 500 + index,
                    "name": f"{title} (Period {period})",
                    "course_code": f"{code}-P{period}",
                    "sis_course_id": f"{code}-P{period}",
                }
            )
    return courses


def demo_people() -> list[dict[str, Any]]:
    """Everyone in the demo school, as the portal's demo seed needs them (no network call)."""
    return [dict(p) for p in _people()]


def demo_courses() -> list[dict[str, Any]]:
    return [dict(c) for c in _courses()]


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
    state.counters["users"] = 20001
    state.counters["courses"] = 601
    state.counters["sections"] = 701
    state.counters["enrollments"] = 100001
    state.counters["assignments"] = 7001
    state.counters["submissions"] = 900001
    state.counters["sis_imports"] = 1
    state.counters["links"] = 1


def build_demo(state: State) -> None:
    """The demo school. Ids are fixed; dates are relative to the state's clock."""
    build_empty(state)
    state.seed = "demo"
    now = state.clock()
    people = _people()
    for p in people:
        if p["kind"] == "admin":
            continue
        state.add_user(
            id=p["id"],
            name=p["name"],
            sortable_name=p["sortable_name"],
            sis_user_id=p["sis_user_id"],
            login_id=p["login_id"],
            email=p["email"],
            password=DEMO_PASSWORD,
            account_id=SCHOOL_ACCOUNT_ID,
        )
    term_start = now - 70 * 86400
    term_end = now + 120 * 86400
    courses = _courses()
    for index, c in enumerate(courses, start=1):
        state.add_course(
            id=c["id"],
            name=c["name"],
            course_code=c["course_code"],
            sis_course_id=c["sis_course_id"],
            account_id=SCHOOL_ACCOUNT_ID,
            section_id=600 + index,
            start_at=term_start,
            end_at=term_end,
        )
    course_by_sis = {c["sis_course_id"]: c["id"] for c in courses}
    teachers = [p for p in people if p["sis_user_id"].startswith("T-")]
    for teacher, course in zip(teachers, courses, strict=True):
        state.enroll(course_id=course["id"], user_id=teacher["id"], type="TeacherEnrollment")

    rng = random.Random(4242)
    course_ids = [c["id"] for c in courses]
    students = [p for p in people if p["kind"] in ("student", "student_mentor")]
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

    # Each student has a steady "ability" so grades look like one person's record.
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

"""The demo school as Canvas serves it: deterministic people and courses, plain data with no dependencies.

Both sides of the demo read it: the fake Canvas (fake_canvas.seed) serves these people and courses, and the
portal's `seed_demo` command creates the matching Person rows without a network call. Ids and names never depend
on the clock or on randomness that varies between runs, so the two always agree. It lives outside both packages
because production code must not import the fake (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import random
from typing import Any

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


def people_rows() -> list[dict[str, Any]]:
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


def course_rows() -> list[dict[str, Any]]:
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
    return [dict(p) for p in people_rows()]


def demo_courses() -> list[dict[str, Any]]:
    return [dict(c) for c in course_rows()]

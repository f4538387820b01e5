"""Seed a demo school: programs, coordinators, an auditor, an admin, Persons matching the fake Canvas, assignments.

Idempotent: a second run finds the demo program and changes nothing. The people come from the demo school's
deterministic dataset (`demo_school`, the same data the fake Canvas serves), so their Canvas ids match what the fake
serves without a network call, and without importing the fake.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from demo_school import demo_people
from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments import services as assignment_services
from mentorship.assignments.models import LinkMethod, Program
from mentorship.people.models import Person

DEMO_PASSWORD = "mentorlink-demo"  # noqa: S105 - printed on the console for the demo; the command refuses production
DEMO_ACCOUNTS = [
    ("admin", "Ada", "Admin", "admin"),
    ("coordinator", "Casey", "Coordinator", "coordinator"),
    ("coordinator2", "Sam", "Second", "coordinator"),
    ("auditor", "Avery", "Auditor", "auditor"),
]


def demo_mentor_login() -> str:
    """The Canvas login of the demo mentor with students: the first aide, whom the seed gives an approved assignment
    (`_propose_demo_assignments` approves the first two aides' assignments)."""
    aides = sorted((p for p in demo_people() if p.get("kind") == "aide"), key=lambda p: p["id"])
    return str(aides[0]["login_id"])


# The two demo programs: one observee-linked without a second approver, one course-scoped with one.
DEMO_PROGRAMS: list[dict[str, Any]] = [
    {
        "name": "Learning Support 2026-27",
        "slug": "learning-support",
        "description": "Aides who accompany students in class.",
        "default_link_method": LinkMethod.OBSERVEE,
        "requires_second_approver": False,
        "max_assignment_days": 366,
        "mentor_capacity": 6,
    },
    {
        "name": "Peer Mentoring 2026-27",
        "slug": "peer-mentoring",
        "description": "Older students mentoring younger ones, course by course.",
        "default_link_method": LinkMethod.COURSES,
        "requires_second_approver": True,
        "max_assignment_days": 200,
        "mentor_capacity": 3,
    },
]


class Command(BaseCommand):
    help = "Create the demo school (safe to run again: nothing is duplicated)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION and not settings.TRIAL_PLAIN_HTTP:
            # Demo accounts have a published password: never in a school's real portal.
            raise CommandError("seed_demo runs only in development or a trial (TRIAL_PLAIN_HTTP=true): nothing made.")
        if Program.objects.filter(slug="learning-support").exists():
            self.stdout.write("Demo data already present; nothing to do.")
            return
        with transaction.atomic():
            self._seed()
        self.stdout.write(self.style.SUCCESS("Demo school created."))

    def _seed(self) -> None:
        users = _create_accounts()
        people = demo_people()
        _create_people(people)
        programs = {}
        for fields in DEMO_PROGRAMS:
            program = Program.objects.create(**fields)
            programs[program.slug] = program
            for username in ("coordinator", "coordinator2"):
                ProgramRole.objects.create(
                    program=program, user=users[username], role=ProgramRole.Role.COORDINATOR, granted_by=users["admin"]
                )
            ProgramRole.objects.create(
                program=program, user=users["auditor"], role=ProgramRole.Role.AUDITOR, granted_by=users["admin"]
            )
        _propose_demo_assignments(program=programs["learning-support"], people=people, coordinator=users["coordinator"])


def _create_accounts() -> dict[str, User]:
    users: dict[str, User] = {}
    for username, first, last, _role in DEMO_ACCOUNTS:
        user = User.objects.create(
            username=username,
            first_name=first,
            last_name=last,
            email=f"{username}@riverside.example.edu",
            is_superuser=username == "admin",
            is_staff=username == "admin",
        )
        user.set_password(DEMO_PASSWORD)
        user.save()
        users[username] = user
    return users


def _create_people(people: list[dict[str, Any]]) -> None:
    Person.objects.bulk_create(
        [
            Person(
                canvas_user_id=p["id"],
                sis_user_id=p.get("sis_user_id") or "",
                login_id=p.get("login_id") or "",
                name=p["name"],
                sortable_name=p.get("sortable_name") or "",
                email=p.get("email") or "",
                refreshed_at=timezone.now(),
            )
            for p in people
            if p.get("kind") != "admin"
        ],
        ignore_conflicts=True,
    )


def _propose_demo_assignments(*, program: Program, people: list[dict[str, Any]], coordinator: User) -> None:
    """A few assignments in every state a coordinator meets: approved (pushed to Canvas when the worker starts),
    waiting for approval, and one that starts next month."""
    by_kind: dict[str, list[Person]] = {}
    kinds = {p["id"]: p.get("kind", "") for p in people}
    for person in Person.objects.order_by("canvas_user_id"):
        by_kind.setdefault(kinds.get(person.canvas_user_id, ""), []).append(person)
    aides = by_kind.get("aide", [])
    students = by_kind.get("student", [])
    today = timezone.localdate()
    plans = [
        (aides[0], students[0], today, True),
        (aides[1], students[1], today, True),
        (aides[2], students[2], today, False),
        (aides[3], students[3], today + datetime.timedelta(days=30), False),
    ]
    for mentor, student, starts_on, approve in plans:
        assignment = assignment_services.assignment_propose(
            program=program,
            mentor=mentor,
            student=student,
            starts_on=starts_on,
            ends_on=starts_on + datetime.timedelta(days=180),
            reason="Learning support aide for the school year.",
            actor=coordinator,
        )
        if approve:
            # The demo may be seeded before its Canvas runs: then the seed, acting as the coordinator, confirms
            # approving without the mentor-is-a-student check (docs/decisions.md, "Approval waits for the
            # student check"), and the assignment records that confirmation.
            assignment_services.assignment_approve(
                assignment=assignment, actor=coordinator, note="Demo", acknowledged=[assignment_services.CHECK_SKIPPED]
            )

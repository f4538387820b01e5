"""How fast the coordinator's assignment list renders with 100,000 assignments and 300,000 people (first page,
filters, search, every sort key in both directions, deep pages), and how many queries each page makes.

    .venv/bin/python benchmarks/assignment_list.py [--assignments 100000] [--people 300000] [--repeat 20]

Prints the median and the p95 (nearest rank) of the server time of each page, as seen through Django's test
client (so: middleware, view, queries and template; no network).
"""

from __future__ import annotations

import argparse
import datetime
import math
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_db import throwaway_database


def populate(*, assignments: int, people: int) -> tuple[Any, Any]:
    """The benchmark's data: returns (coordinator, program). 10 % of the assignments are in a program the
    coordinator does not see."""
    from django.db import connection

    from mentorship.accounts.models import ProgramRole, User
    from mentorship.assignments.models import LinkMethod, MentorAssignment, Program
    from mentorship.people.models import Person

    rng = random.Random(7)
    program = Program.objects.create(name="Bench", slug="bench")
    other = Program.objects.create(name="Other", slug="other")
    coordinator = User.objects.create(username="bench-coordinator")
    ProgramRole.objects.create(program=program, user=coordinator, role="coordinator")
    began = time.perf_counter()
    _add_people(people)
    ids = list(Person.objects.values_list("pk", flat=True))
    statuses = ["proposed", "approved", "approved", "approved", "rejected", "ended"]
    links = ["none", "linked", "linked", "pending", "failed"]
    today = datetime.date.today()
    now = datetime.datetime.now(datetime.UTC)
    batch = []
    for i in range(assignments):
        mentor, student = rng.sample(ids, 2)
        starts = today + datetime.timedelta(days=rng.randint(-300, 100))
        batch.append(
            MentorAssignment(
                program=program if i % 10 else other,
                mentor_id=mentor,
                student_id=student,
                starts_on=starts,
                ends_on=starts + datetime.timedelta(days=rng.randint(10, 300)),
                link_method=LinkMethod.OBSERVEE,
                reason="Bench",
                status=rng.choice(statuses),
                link_state=rng.choice(links),
                proposed_by=coordinator,
                proposed_at=now - datetime.timedelta(minutes=assignments - i),
            )
        )
        if len(batch) == 5000:
            MentorAssignment.objects.bulk_create(batch)
            batch = []
    MentorAssignment.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(
        f"created {people:,} people and {assignments:,} assignments in {time.perf_counter() - began:.1f} s "
        f"[{connection.vendor}]"
    )
    return coordinator, program


def _add_people(people: int) -> None:
    """``people`` Persons with zero-padded numbered names, created 5,000 at a time."""
    from mentorship.people.models import Person

    for start in range(0, people, 5000):
        Person.objects.bulk_create(
            [
                Person(
                    canvas_user_id=10_000 + i,
                    sis_user_id=f"P-{i:06d}",
                    login_id=f"user{i:06d}@example.edu",
                    name=f"Person {i:06d}",
                    sortable_name=f"{i:06d}, Person",
                )
                for i in range(start, min(people, start + 5000))
            ]
        )


def cases(today: datetime.date, person: Any) -> dict[str, dict[str, str]]:
    """The pages to time; `person` is someone with an assignment in the coordinator's program (what to search)."""
    month = {"ends_from": today.isoformat(), "ends_to": (today + datetime.timedelta(30)).isoformat()}
    sorts = {
        f"sorted by {key}": {"sort": key}
        for key in ("oldest", "starts", "-starts", "ends", "-ends", "mentor", "-mentor", "student", "-student")
    }
    return {
        "first page": {},
        "status=approved": {"status": "approved"},
        "link failed + needs attention": {"link_state": "failed", "attention": "on"},
        "search a name": {"q": person.name},
        "search part of a name": {"q": person.name[3:-1].lower()},
        "search a SIS id": {"q": person.sis_user_id.lower()},
        "search a login": {"q": person.login_id.upper()},
        "ends in a month": month,
        **sorts,
        "page 200": {"page": "200"},
        "page 200 sorted by mentor": {"page": "200", "sort": "mentor"},
        "approved, sorted by student": {"status": "approved", "sort": "student"},
        "ends in a month, by -mentor": {**month, "sort": "-mentor"},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assignments", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with throwaway_database():
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from mentorship.assignments.models import MentorAssignment

        coordinator, program = populate(assignments=args.assignments, people=args.people)
        person = MentorAssignment.objects.filter(program=program).order_by("pk")[args.assignments // 3].mentor
        client = Client()
        client.force_login(coordinator)
        client.get("/assignments/")  # warm up (templates, connection), not timed
        for label, query in cases(datetime.date.today(), person).items():
            timings = []
            for _ in range(args.repeat):
                with CaptureQueriesContext(connection) as queries:
                    t = time.perf_counter()
                    response = client.get("/assignments/", query)
                    timings.append(time.perf_counter() - t)
                assert response.status_code == 200, response.status_code
            timings.sort()
            p95 = timings[max(0, math.ceil(0.95 * len(timings)) - 1)]
            print(
                f"{label:32s} median {statistics.median(timings) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
                f"{len(queries.captured_queries)} queries"
            )


if __name__ == "__main__":
    main()

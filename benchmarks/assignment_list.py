"""How fast the coordinator's assignment list renders with 100,000 assignments (first page, filters, search,
sorting, a deep page), and how many queries each page makes.

    .venv/bin/python benchmarks/assignment_list.py [--assignments 100000]
"""

from __future__ import annotations

import argparse
import datetime
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_db import throwaway_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assignments", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with throwaway_database():
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from mentorship.accounts.models import ProgramRole, User
        from mentorship.assignments.models import LinkMethod, MentorAssignment, Program
        from mentorship.people.models import Person

        n = args.assignments
        rng = random.Random(7)
        program = Program.objects.create(name="Bench", slug="bench")
        other = Program.objects.create(name="Other", slug="other")
        coordinator = User.objects.create(username="bench-coordinator")
        ProgramRole.objects.create(program=program, user=coordinator, role="coordinator")
        people_count = max(100, n // 4)
        Person.objects.bulk_create(
            [
                Person(
                    canvas_user_id=10_000 + i,
                    sis_user_id=f"P-{i:06d}",
                    name=f"Person {i:06d}",
                    sortable_name=f"{i:06d}, Person",
                )
                for i in range(people_count)
            ],
            batch_size=5000,
        )
        ids = list(Person.objects.values_list("pk", flat=True))
        statuses = ["proposed", "approved", "approved", "approved", "rejected", "ended"]
        links = ["none", "linked", "linked", "pending", "failed"]
        today = datetime.date.today()
        began = time.perf_counter()
        batch = []
        for i in range(n):
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
                )
            )
            if len(batch) == 5000:
                MentorAssignment.objects.bulk_create(batch)
                batch = []
        MentorAssignment.objects.bulk_create(batch)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"created {n:,} assignments in {time.perf_counter() - began:.1f} s [{connection.vendor}]")

        client = Client()
        client.force_login(coordinator)
        cases = {
            "first page": {},
            "status=approved": {"status": "approved"},
            "link failed + needs attention": {"link_state": "failed", "attention": "on"},
            "search a name": {"q": "Person 001234"},
            "ends in a month": {
                "ends_from": today.isoformat(),
                "ends_to": (today + datetime.timedelta(30)).isoformat(),
            },
            "sorted by mentor": {"sort": "mentor"},
            "page 200": {"page": "200"},
        }
        for label, query in cases.items():
            timings = []
            for _ in range(args.repeat):
                with CaptureQueriesContext(connection) as queries:
                    t = time.perf_counter()
                    response = client.get("/assignments/", query)
                    timings.append(time.perf_counter() - t)
                assert response.status_code == 200, response.status_code
            print(
                f"{label:32s} median {statistics.median(timings) * 1000:7.1f} ms  "
                f"max {max(timings) * 1000:7.1f} ms  {len(queries.captured_queries)} queries"
            )


if __name__ == "__main__":
    main()

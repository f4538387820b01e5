"""How long the CSV import takes to validate 10,000 rows (target: under 10 s), and to create 1,000.

People are already known to the portal (the usual case for a nightly SIS feed); validation then makes a fixed
number of queries whatever the row count.

    .venv/bin/python benchmarks/csv_import.py [--rows 10000]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_db import throwaway_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--commit-rows", type=int, default=1_000)
    args = parser.parse_args()
    with throwaway_database():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from mentorship.accounts.models import ProgramRole, User
        from mentorship.assignments import csv_import
        from mentorship.assignments.models import Program
        from mentorship.people.models import Person

        n = args.rows
        program = Program.objects.create(name="Bench", slug="bench", mentor_capacity=10, max_assignment_days=366)
        actor = User.objects.create(username="bench-coordinator")
        ProgramRole.objects.create(program=program, user=actor, role="coordinator")
        mentors = n // 5
        Person.objects.bulk_create(
            [Person(canvas_user_id=1_000_000 + i, sis_user_id=f"M-{i:05d}", name=f"Mentor {i}") for i in range(mentors)]
            + [Person(canvas_user_id=2_000_000 + i, sis_user_id=f"S-{i:05d}", name=f"Student {i}") for i in range(n)],
            batch_size=2000,
        )
        start = datetime.date(2027, 1, 4)
        lines = ["mentor,student,starts_on,ends_on,scope,method,reason"]
        for i in range(n):
            lines.append(f"sis_user_id:M-{i % mentors:05d},S-{i:05d},{start},{start + datetime.timedelta(90)},,,Aide")
        data = ("\n".join(lines) + "\n").encode()

        began = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            records = csv_import.read_csv(data)
            preview = csv_import.validate(program=program, records=records)
        elapsed = time.perf_counter() - began
        assert preview.ok, preview.error_rows[:3]
        print(
            f"validate {n:,} rows ({len(data) / 1e6:.1f} MB): {elapsed:.2f} s, {len(queries.captured_queries)} queries"
            f" [{connection.vendor}] (target < 10 s)"
        )

        k = min(args.commit_rows, n)
        small = csv_import.Preview(program=program, rows=preview.rows[:k])
        began = time.perf_counter()
        result = csv_import.commit(preview=small, actor=actor)
        elapsed_commit = time.perf_counter() - began
        print(f"create {len(result.created):,} proposals with their audit events: {elapsed_commit:.2f} s")
        if elapsed >= 10:
            raise SystemExit("validation is over the 10 s target")


if __name__ == "__main__":
    main()

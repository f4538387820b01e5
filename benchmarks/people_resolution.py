"""People resolution of the CSV preview: people unknown to the portal, with Canvas slow, and known people in bulk.

Targets (issue 15): 1,000 rows naming 1,000 people unknown to the portal preview in under 15 s with Canvas answering
in 100 ms, at most one Canvas call per unknown person; 10,000 rows of known people preview in under 2 s.

Baselines are measured in the same run, so the ratios hold on any machine: the unknown people are also looked up one
at a time (RESOLVE_THREADS = 1, on a sample: a sequential run over all of them would take minutes), and the known
people's preview is set against reading the same file alone (csv_reading.read_csv).

    .venv/bin/python benchmarks/people_resolution.py [--unknown 1000] [--known-rows 10000] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench_db import throwaway_database

TOKEN = "bench-token"
START = datetime.date.today() + datetime.timedelta(days=30)
END = START + datetime.timedelta(days=90)


def csv_of(pairs: list[tuple[str, str]]) -> bytes:
    lines = ["mentor,student,starts_on,ends_on,scope,method,reason"]
    lines += [f"{m},{s},{START},{END},,,Reading support" for m, s in pairs]
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--unknown", type=int, default=1000)
    parser.add_argument("--known-rows", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--baseline-sample", type=int, default=60)
    parser.add_argument(
        "--cost",
        default="0.01-0.05",
        help="what Canvas charges a request, in bucket units (min-max): a user look-up costs Canvas a few hundredths "
        "of a second of CPU and database time; the fake's own default, 0.1-1.0, models heavy requests",
    )
    parser.add_argument("--no-limiter", action="store_true", help="without the shared limiter (to measure its cost)")
    parser.add_argument("--no-throttle", action="store_true", help="the fake's leaky bucket off (pacing not measured)")
    args = parser.parse_args()
    with throwaway_database():
        from fake_canvas import FakeCanvas
        from fake_canvas.testing import running_fake_server
        from mentorship.assignments.models import Program
        from mentorship.people.models import Person

        program = Program.objects.create(name="Bench", slug="bench", mentor_capacity=50, max_assignment_days=366)
        fake = FakeCanvas(admin_token=TOKEN, seed="empty", rng_seed=1)
        mentors = max(1, args.unknown // 10)
        Person.objects.bulk_create(
            [
                Person(canvas_user_id=9_000_000 + i, sis_user_id=f"KM-{i}", name=f"Known mentor {i}")
                for i in range(mentors)
            ]
        )
        for i in range(args.unknown + args.baseline_sample):
            fake.add_user(name=f"New student {i}", sis_user_id=f"NS-{i}", login_id=f"ns{i}@school.test")
        fake.configure(latency_ms=args.latency_ms)
        low, _, high = args.cost.partition("-")
        fake.configure(throttle={"cost_min": float(low), "cost_max": float(high or low)})
        if args.no_throttle:
            fake.configure(throttle={"enabled": False})
        with running_fake_server(fake) as base_url:
            unknown_case(args, program, fake, base_url, mentors)
        known_case(args, program)


def unknown_case(args: argparse.Namespace, program: object, fake: object, base_url: str, mentors: int) -> None:
    from django.conf import settings

    from canvas_client import CanvasClient
    from mentorship.assignments import csv_import
    from mentorship.core.canvas import shared_limiter
    from mentorship.people import services as people_services

    settings.CANVAS_TOKEN = TOKEN
    client = CanvasClient(
        base_url, TOKEN, limiter=shared_limiter() if not args.no_limiter else None, timeout=(2.0, 10.0)
    )
    n, sample = args.unknown, args.baseline_sample
    data = csv_of([(f"KM-{i % mentors}", f"NS-{i}") for i in range(n)])
    fake.clear_request_log()  # type: ignore[attr-defined]
    began = time.perf_counter()
    preview = csv_import.validate(program=program, records=csv_import.read_csv(data), client=client)  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    calls = len(fake.request_log)  # type: ignore[attr-defined]
    assert preview.ok, preview.error_rows[:3]
    assert preview.new_people == n, preview.new_people

    # Baseline, same run: the same look-ups one at a time, on people not asked about yet.
    threads = people_services.RESOLVE_THREADS
    people_services.RESOLVE_THREADS = 1
    base_data = csv_of([(f"KM-{i % mentors}", f"NS-{n + i}") for i in range(sample)])
    began = time.perf_counter()
    csv_import.validate(program=program, records=csv_import.read_csv(base_data), client=client)  # type: ignore[arg-type]
    per_person_sequential = (time.perf_counter() - began) / sample
    people_services.RESOLVE_THREADS = threads
    print(
        f"unknown people: {n:,} rows, {n:,} people new to the portal, Canvas at {args.latency_ms:.0f} ms "
        f"(request cost {args.cost} units, {'no throttle' if args.no_throttle else 'throttled'}, "
        f"{'no limiter' if args.no_limiter else 'shared limiter'}): "
        f"preview {seconds:.2f} s (target < 15 s), {calls / n:.2f} Canvas calls per unknown person (target <= 1); "
        f"one at a time would take {per_person_sequential * n:.1f} s "
        f"(baseline {per_person_sequential * 1000:.0f} ms per person, measured on {sample}); "
        f"ratio {per_person_sequential * n / seconds:.1f}x faster, {threads} look-ups at a time"
    )
    if seconds >= 15 or calls > n:
        raise SystemExit("unknown people: over target")


def known_case(args: argparse.Namespace, program: object) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mentorship.assignments import csv_import
    from mentorship.people.models import Person

    n = args.known_rows
    mentors = n // 5
    Person.objects.bulk_create(
        [Person(canvas_user_id=1_000_000 + i, sis_user_id=f"M-{i:05d}", name=f"Mentor {i}") for i in range(mentors)]
        + [Person(canvas_user_id=2_000_000 + i, sis_user_id=f"S-{i:05d}", name=f"Student {i}") for i in range(n)],
        batch_size=2000,
    )
    data = csv_of([(f"sis_user_id:M-{i % mentors:05d}", f"S-{i:05d}") for i in range(n)])
    began = time.perf_counter()
    csv_import.read_csv(data)
    reading = time.perf_counter() - began
    began = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        preview = csv_import.validate(program=program, records=csv_import.read_csv(data))  # type: ignore[arg-type]
    seconds = time.perf_counter() - began
    assert preview.ok, preview.error_rows[:3]
    print(
        f"known people: {n:,} rows: preview {seconds:.2f} s (target < 2 s), {len(queries.captured_queries)} queries "
        f"[{connection.vendor}]; reading the file alone {reading:.2f} s (baseline), ratio {seconds / reading:.1f}x"
    )
    if seconds >= 2:
        raise SystemExit("known people: over target")


if __name__ == "__main__":
    main()

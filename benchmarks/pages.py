"""Server time of the portal's main pages at full scale on PostgreSQL, against a small baseline in the same run.

    .venv/bin/python benchmarks/pages.py            # 300,000 people, 100,000 assignments, 1,000,000 audit events
    .venv/bin/python benchmarks/pages.py --small    # a quick run: 30,000 / 10,000 / 100,000
    .venv/bin/python benchmarks/pages.py --people 300000 --assignments 100000 --events 1000000 --repeat 40

It creates two throw-away PostgreSQL databases (test_<name> of --database-url for the full scale, and a clone
test_<name>_baseline for the baseline scale: 1,000 assignments, 3,000 people, 10,000 events), seeds both, and drops
both at the end. Each page is requested in-process with django.test.Client by the user who would open it
(coordinator of the big program, its auditor, an admin, a mentor with 10 active students), with DEBUG off: 5 warm-up
requests per scale, then --repeat rounds that alternate baseline and full request by request, so both scales see the
same machine load (the switch of database is outside the timed call). Time is the wall time of client.get
(middleware, view, queries, template). It prints p50, p95, the query count of one request, and the ratio full/baseline
of the p95. No page calls Canvas: the mentor's "My students" page reads the database only (the page that does call
Canvas, one student's courses and work, is not measured here).

Seeding: people, assignments, links and codes with INSERT ... SELECT generate_series; the audit log as a valid
hash chain (hashes in Python, COPY), as benchmarks/audit_bench.py does.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_MS = 100.0
BASELINE = {"people": 3_000, "assignments": 1_000, "events": 10_000}
FULL = {"people": 300_000, "assignments": 100_000, "events": 1_000_000}
SMALL = {"people": 30_000, "assignments": 10_000, "events": 100_000}
DEEP_LIST_PAGE = 200
DEEP_AUDIT_PAGE = 10_000


@dataclass
class Result:
    label: str
    p50: float
    p95: float
    queries: int
    note: str = ""


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _audit_before(user: Any, page: int) -> tuple[int | None, int]:
    """The ?before= value that opens the viewer's `page`-th page of 50 (the deepest page when there are fewer)."""
    from mentorship.portal.auditor.selectors import PAGE_SIZE, EventFilters, events_filtered

    events = events_filtered(user=user, filters=EventFilters()).filter(seq__isnull=False).order_by("-seq")
    total = events.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(page, pages)
    if page == 1:
        return None, 1
    first_of_page = events.values_list("seq", flat=True)[(page - 1) * PAGE_SIZE]
    assert first_of_page is not None  # chained events only (the seed writes a chained log)
    return first_of_page + 1, page


@dataclass
class Case:
    label: str
    client: Any
    path: str
    query: dict[str, str]
    note: str = ""


def cases_for(cast: Any, *, today: datetime.date) -> list[Case]:
    """The pages to time, each requested by the user who would open it, on the database in use now."""
    from django.test import Client

    from mentorship.accounts.models import User

    def client_for(user_id: int) -> Client:
        client = Client()
        client.force_login(User.objects.get(pk=user_id), backend="django.contrib.auth.backends.ModelBackend")
        return client

    coordinator = client_for(cast.coordinator_id)
    auditor = client_for(cast.auditor_id)
    admin = client_for(cast.admin_id)
    mentor = client_for(cast.mentor_id)

    audit_cases = []
    for who, client, user_id in (("auditor", auditor, cast.auditor_id), ("admin", admin, cast.admin_id)):
        before, page = _audit_before(User.objects.get(pk=user_id), DEEP_AUDIT_PAGE)
        deep_query = {"before": str(before)} if before else {}
        audit_cases += [
            Case(f"audit log, {who}, page 1", client, "/audit/", {}),
            Case(f"audit log, {who}, deep page", client, "/audit/", deep_query, f"page {page:,}"),
        ]
    return [
        Case("dashboard (figures from the 30 s cache)", coordinator, "/dashboard/", {}),
        Case("dashboard, figures recomputed (?fresh=1)", coordinator, "/dashboard/", {"fresh": "1"}),
        *_list_cases(cast, coordinator, today=today),
        *audit_cases,
        Case("mentor: my students", mentor, "/my/", {}),
        Case("assignment detail", coordinator, f"/assignments/{cast.assignment_id}/", {}),
        Case("people list", coordinator, "/people/", {}),
        Case("drift", coordinator, "/sync/drift/", {}),
    ]


def _list_cases(cast: Any, coordinator: Any, *, today: datetime.date) -> list[Case]:
    """The assignment list: its first page, a deep page of a filter, and the page of a date range."""
    from mentorship.assignments.models import MentorAssignment

    linked = MentorAssignment.objects.filter(program_id=cast.program_id, status="approved", link_state="linked")
    deep = min(DEEP_LIST_PAGE, max(1, math.ceil(linked.count() / 50)))
    ends_to = today + datetime.timedelta(days=60)
    in_range = MentorAssignment.objects.filter(
        program_id=cast.program_id, status="approved", ends_on__gte=today, ends_on__lte=ends_to
    )
    range_page = min(20, max(1, math.ceil(in_range.count() / 50)))
    return [
        Case("assignment list, first page", coordinator, "/assignments/", {}),
        Case(
            "assignment list, approved + linked, deep page",
            coordinator,
            "/assignments/",
            {"status": "approved", "link_state": "linked", "page": str(deep)},
            f"page {deep}",
        ),
        Case(
            "assignment list, approved + ends within 60 days",
            coordinator,
            "/assignments/",
            {
                "status": "approved",
                "ends_from": today.isoformat(),
                "ends_to": ends_to.isoformat(),
                "page": str(range_page),
            },
            f"page {range_page}",
        ),
    ]


def use_database(name: str) -> None:
    """Point the default connection at another database (reconnects on the next query; not timed)."""
    from django.db import connection

    if connection.settings_dict["NAME"] != name:
        connection.close()
        connection.settings_dict["NAME"] = name


def count_queries(case: Case) -> int:
    from django.db import connection

    executed: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = case.client.get(case.path, case.query)
    assert response.status_code == 200, (case.label, response.status_code)
    return len(executed)


def measure(scales: dict[str, tuple[str, list[Case]]], repeat: int) -> dict[str, list[Result]]:
    """Per page: 5 warm-up requests per scale, then `repeat` rounds alternating the scales request by request, so
    both see the same machine load (the database switch between them is outside the timed call)."""
    names = list(scales)
    results: dict[str, list[Result]] = {name: [] for name in names}
    for index in range(len(scales[names[0]][1])):
        queries: dict[str, int] = {}
        samples: dict[str, list[float]] = {name: [] for name in names}
        for name in names:
            database, cases = scales[name]
            use_database(database)
            case = cases[index]
            for _ in range(5):
                assert case.client.get(case.path, case.query).status_code == 200, case.label
            queries[name] = count_queries(case)
        for _ in range(repeat):
            for name in names:
                database, cases = scales[name]
                use_database(database)
                case = cases[index]
                started = time.perf_counter()
                response = case.client.get(case.path, case.query)
                samples[name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (case.label, response.status_code)
        line = f"    {scales[names[0]][1][index].label:48s}"
        for name in names:
            case = scales[name][1][index]
            result = Result(
                case.label, statistics.median(samples[name]), percentile(samples[name], 95), queries[name], case.note
            )
            results[name].append(result)
            line += f" | {name}: p50 {result.p50:6.1f} p95 {result.p95:6.1f} ms {result.queries:2d} q {case.note}"
        print(line, flush=True)
    return results


def seed_scale(name: str, sizes: dict[str, int], today: datetime.date) -> Any:
    import _seed

    started = time.perf_counter()
    cast = _seed.seed(people=sizes["people"], assignments=sizes["assignments"], events=sizes["events"], today=today)
    print(
        f"  {name}: {sizes['people']:,} people, {sizes['assignments']:,} assignments, {sizes['events']:,} audit events"
        f" seeded in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    return cast


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=FULL["people"], help=f"default {FULL['people']:,}")
    parser.add_argument("--assignments", type=int, default=FULL["assignments"], help=f"default {FULL['assignments']:,}")
    parser.add_argument("--events", type=int, default=FULL["events"], help=f"default {FULL['events']:,}")
    parser.add_argument("--small", action="store_true", help="a quick run at a tenth of the full sizes")
    parser.add_argument("--repeat", type=int, default=40, help="timed requests per page (after 5 warm-up ones)")
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/mentorlink_pages",
        help="the server and base name; the benchmark creates and drops test_<name> there",
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help="the cache, as in production (e.g. redis://127.0.0.1:6379/8); default: the database cache",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    full = (
        dict(SMALL) if args.small else {"people": args.people, "assignments": args.assignments, "events": args.events}
    )
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    from _bench_db import throwaway_database

    with throwaway_database():
        from django.conf import settings
        from django.db import connection
        from django.utils import timezone

        # What production runs: DEBUG off (no query log, no debug template context).
        settings.DEBUG = False
        assert connection.vendor == "postgresql", "pages.py measures PostgreSQL"
        today = timezone.localdate()
        full_db = connection.settings_dict["NAME"]
        # The baseline lives in a clone of the freshly migrated database, test_<name>_baseline, dropped at the end.
        connection.close()
        connection.creation.clone_test_db(suffix="baseline", verbosity=0)
        base_db = connection.creation.get_test_db_clone_settings("baseline")["NAME"]
        try:
            cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
            print(f"Page benchmark on PostgreSQL ({full_db}, {base_db}), cache {cache}, load {os.getloadavg()}")
            use_database(base_db)
            base_cast = seed_scale("baseline", BASELINE, today)
            base_cases = cases_for(base_cast, today=today)
            use_database(full_db)
            full_cast = seed_scale("full", full, today)
            full_cases = cases_for(full_cast, today=today)
            print(f"  load before timing: {os.getloadavg()}")
            results = measure({"baseline": (base_db, base_cases), "full": (full_db, full_cases)}, args.repeat)
            print(f"  load after timing: {os.getloadavg()}")
        finally:
            use_database(full_db)
            connection.creation._destroy_test_db(base_db, verbosity=0)  # type: ignore[attr-defined]

    print_table(results)


def print_table(results: dict[str, list[Result]]) -> None:
    """The results as a Markdown table: the full database's times against the baseline's, and the target."""
    print()
    print("| page | p50 | p95 | queries | p95 vs baseline (baseline p95) | target p95 < 100 ms |")
    print("|---|---|---|---|---|---|")
    for base, result in zip(results["baseline"], results["full"], strict=True):
        ratio = result.p95 / base.p95 if base.p95 else float("nan")
        verdict = "met" if result.p95 < TARGET_MS else "not met"
        label = f"{result.label} ({result.note})" if result.note else result.label
        queries = (
            f"{result.queries}" if result.queries == base.queries else f"{result.queries} (baseline {base.queries})"
        )
        print(
            f"| {label} | {result.p50:.0f} ms | {result.p95:.0f} ms | {queries} "
            f"| {ratio:.2f}x ({base.p95:.0f} ms) | {verdict} |"
        )


if __name__ == "__main__":
    main()

"""Audit log benchmark: verify time, concurrent appends, export memory, page 1 vs page 10,000.

    .venv/bin/python benchmarks/audit_bench.py                 # 1,000,000 events on PostgreSQL (ml_audit_bench)
    .venv/bin/python benchmarks/audit_bench.py --events 100000 --writers 4 --appends 500

It uses its own PostgreSQL database (created if missing, migrated, its audit table emptied through the maintenance
switch: never point it at a real portal database). Targets (issue 7): verify 1,000,000 events < 60 s; >= 500 appends/s
with 4 writers and the chain intact; export memory growth < 50 MB; page 10,000 about as fast as page 1.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROGRAMS = 5
PAGE_SIZE = 50


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mentorship.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build_chain(n: int) -> None:
    """Replace the log with n events forming a valid chain (benchmarks/_audit_chain.py)."""
    from _audit_chain import write_chain
    from django.db import transaction

    from mentorship.assignments.models import Program
    from mentorship.audit.maintenance import audit_maintenance
    from mentorship.audit.models import AuditChainHead, AuditEvent

    with transaction.atomic(), audit_maintenance():
        AuditEvent.objects.all().delete()
        AuditChainHead.objects.all().delete()
    program_ids = []
    for i in range(PROGRAMS):
        program, _ = Program.objects.get_or_create(slug=f"bench-{i}", defaults={"name": f"Bench program {i}"})
        program_ids.append(program.pk)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    events = (
        (
            seq,
            start + datetime.timedelta(microseconds=seq * 137_003),
            None,
            "system:bench",
            "student_data.viewed",
            "mentorassignment",
            str(seq % 997),
            program_ids[seq % PROGRAMS],
            None,
            "ok",
            f"10.0.{seq % 250}.{seq % 200}",
            f"req{seq:012d}",
            {"n": seq, "page": "courses"},
        )
        for seq in range(1, n + 1)
    )
    assert write_chain(events) == n


def _writer(database_url: str, appends: int, barrier: Any, async_commit: bool) -> None:
    _setup(database_url)
    from django.db import connection

    from mentorship.audit.actions import Action
    from mentorship.audit.services import audit_record

    if async_commit:
        # Comparison only (the portal never does this): shows how much of each append is the commit's fsync,
        # which happens while the chain head is locked.
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")

    barrier.wait()
    for i in range(appends):
        audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor=f"bench-{os.getpid()}", details={"i": i})


def concurrent_appends(database_url: str, writers: int, appends: int, async_commit: bool = False) -> float:
    from django.db import connections

    # Forked children must not inherit this process's open database socket (they would talk over each other).
    connections.close_all()
    barrier = multiprocessing.Barrier(writers + 1)
    procs = [
        multiprocessing.Process(target=_writer, args=(database_url, appends, barrier, async_commit))
        for _ in range(writers)
    ]
    for proc in procs:
        proc.start()
    return appends_per_second_of(procs, barrier, appends)


def appends_per_second_of(procs: list[multiprocessing.Process], barrier: Any, appends: int) -> float:
    """Release the started writers together (each waits at `barrier`), and time them until the last one ends."""
    barrier.wait()
    started = time.perf_counter()
    for proc in procs:
        proc.join()
        assert proc.exitcode == 0, "a writer failed"
    return len(procs) * appends / (time.perf_counter() - started)


def export_memory() -> tuple[float, int, float, float]:
    """Stream /audit/export.csv as an administrator: (memory growth MB, rows, seconds, seconds to the first byte)."""
    from django.test import Client

    from mentorship.accounts.models import User

    admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_superuser": True, "is_staff": True})
    client = Client()
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
    before = _rss_mb()
    peak = before
    lines = 0
    first_byte = 0.0
    started = time.perf_counter()
    response: Any = client.get("/audit/export.csv")
    for i, chunk in enumerate(response.streaming_content):
        if i == 0:
            first_byte = time.perf_counter() - started
        lines += chunk.count(b"\n")
        if i % 50 == 0:
            peak = max(peak, _rss_mb())
    peak = max(peak, _rss_mb())
    return peak - before, lines - 1, time.perf_counter() - started, first_byte


def raw_read_rate() -> float:
    """Baseline for the export: rows per second of a bare server-side cursor over the same table, no CSV at all."""
    from mentorship.audit.models import AuditEvent

    started = time.perf_counter()
    rows = sum(1 for _ in AuditEvent.objects.order_by("seq").values_list("seq", "action", "details").iterator(5000))
    return rows / (time.perf_counter() - started)


def page_times(repeats: int = 7) -> dict[str, float]:
    from django.test import Client

    from mentorship.accounts.models import ProgramRole, User
    from mentorship.assignments.models import Program
    from mentorship.audit.models import AuditChainHead

    head = AuditChainHead.objects.get(pk=1).seq
    admin = User.objects.get(username="bench-admin")
    auditor, _ = User.objects.get_or_create(username="bench-auditor")
    ProgramRole.objects.get_or_create(
        user=auditor, program=Program.objects.get(slug="bench-0"), role=ProgramRole.Role.AUDITOR
    )
    results = {}
    for who, user, per_page_rows in (
        ("admin", admin, PAGE_SIZE),
        ("auditor (1 of 5 programs)", auditor, PAGE_SIZE * PROGRAMS),
    ):
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        deep = max(head - per_page_rows * 9_999, 1)
        for label, query in (("page 1", ""), ("page 10,000", f"?before={deep}")):
            client.get(f"/audit/{query}")  # warm
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                response = client.get(f"/audit/{query}")
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200
            results[f"{who}: {label}"] = statistics.median(samples) * 1000
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--appends", type=int, default=500, help="appends per writer")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AUDIT_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ml_audit_bench"),
    )
    args = parser.parse_args()
    _ensure_database(args.database_url)
    _setup(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from mentorship.audit.verification import chain_check

    print(f"Audit benchmark on {args.database_url.rsplit('@', 1)[-1]} with {args.events:,} events")
    started = time.perf_counter()
    build_chain(args.events)
    print(f"  built the chain (hashes in Python + COPY):      {time.perf_counter() - started:8.1f} s")

    started = time.perf_counter()
    check = chain_check()
    elapsed = time.perf_counter() - started
    assert check.ok, check.message
    print(
        f"  verify {check.events_checked:,} events:                    {elapsed:8.1f} s   (target < 60 s for 1,000,000)"
    )

    from mentorship.audit.sequencer import sequence_pending

    rate = concurrent_appends(args.database_url, args.writers, args.appends)
    sequence_pending()  # the worker's job (benchmarks/audit_append.py measures appends with it running)
    check = chain_check()
    print(
        f"  appends with {args.writers} concurrent writers:            {rate:8.0f} /s  (target >= 500/s); "
        f"chain {'intact' if check.ok else 'BROKEN: ' + check.message} ({check.events_checked:,} events)"
    )

    single = concurrent_appends(args.database_url, 1, args.appends)
    unsynced = concurrent_appends(args.database_url, args.writers, args.appends, async_commit=True)
    sequence_pending()
    check = chain_check()
    print(
        f"    for comparison: 1 writer {single:.0f}/s; {args.writers} writers with synchronous_commit=off "
        f"{unsynced:.0f}/s (not used by the portal); chain {'intact' if check.ok else 'BROKEN'}"
    )

    growth, rows, elapsed, first_byte = export_memory()
    print(f"  CSV export of {rows:,} rows: memory growth   {growth:8.1f} MB  (target < 50 MB), {elapsed:.1f} s")
    baseline = raw_read_rate()
    print(
        f"    {rows / elapsed:,.0f} rows/s, first byte after {first_byte * 1000:.0f} ms; baseline (bare cursor over"
        f" the same rows, no CSV): {baseline:,.0f} rows/s, so the export runs at {rows / elapsed / baseline:.0%} of it"
    )

    for label, ms in page_times().items():
        print(f"  audit log {label:<38} {ms:8.1f} ms (median of 7)")


if __name__ == "__main__":
    main()

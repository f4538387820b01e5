"""Audit appends with the sequencer (issue 17): appends/s with 8 writers, quiet and loaded, before and after, and
how long an approval waits while a 10,000-row import audits.

    .venv/bin/python benchmarks/audit_append.py                       # PostgreSQL database ml_audit_append_bench
    .venv/bin/python benchmarks/audit_append.py --appends 500 --burners 2

Run it with the deployment's REDIS_URL and CELERY_BROKER_URL (each commit's sequencer kick is a cache add, and a
publish when none is queued): the kicks' messages go to a queue of this run's own, which nobody consumes; a sequencer
process stands in for the worker, polling every 50 ms.

"before" is the old path measured in the same run: migration audit/0004's `audit_append` function (lock the head,
hash, insert, advance, held until commit), re-created in this throw-away database only. "after" is `audit_record`
(a plain insert) with the sequencer running. "loaded" adds `--burners` processes that spin on the CPU.
Each writer is a process (as web workers are), one transaction per append. The import is 50 transactions of 200
audited rows back to back, as `import_batches` stages them; meanwhile another process times an approval-sized
transaction (one audited change) every 20 ms. Targets: >= 2,000 appends/s with 8 writers loaded; approval delay
during the import <= 1 s.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit_bench import _ensure_database, _setup, appends_per_second_of  # noqa: E402  (the same throw-away database set-up)

IMPORT_ROWS, IMPORT_CHUNK = 10_000, 200


def _old_path_installed() -> None:
    """The locked append of before this change, in this database only (its columns given defaults it can skip)."""
    from django.db import connection

    old = importlib.import_module("mentorship.audit.migrations.0004_append_function")
    with connection.cursor() as cursor:
        cursor.execute(old.CREATE)
        cursor.execute("ALTER TABLE audit_auditevent ALTER COLUMN mac SET DEFAULT ''")
        cursor.execute("ALTER TABLE audit_auditevent ALTER COLUMN key_id SET DEFAULT ''")


def _emptied() -> None:
    from django.db import transaction

    from mentorship.audit.maintenance import audit_maintenance
    from mentorship.audit.models import AuditChainHead, AuditEvent

    with transaction.atomic(), audit_maintenance():
        AuditEvent.objects.all().delete()
        AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


def _append_old(i: int) -> None:
    """One append the old way: the `audit_append` call of the removed `_append_postgresql`, in its own transaction."""
    from django.db import connection, transaction
    from django.utils import timezone

    details = json.dumps({"i": i})
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT event_id FROM audit_append(%s, %s, %s, NULL, %s, 'student_data.viewed', '', '', NULL, NULL, 'ok', "
            "NULL::inet, '', %s::jsonb)",
            ['{"action":"student_data.viewed","seq":', ',"i":' + str(i) + "}", timezone.now(), "system:bench", details],
        )


def _append_new(i: int) -> None:
    from mentorship.audit.actions import Action
    from mentorship.audit.services import audit_record

    audit_record(action=Action.STUDENT_DATA_VIEWED, system_actor=f"bench-{os.getpid()}", details={"i": i})


def _writer(database_url: str, path: str, appends: int, barrier: Any) -> None:
    _setup(database_url)
    append = _append_old if path == "before" else _append_new
    append(-1)  # warm: the connections to the database, cache and broker are made before the clock starts
    barrier.wait()
    for i in range(appends):
        append(i)


def _sequencer(database_url: str, stop: Any) -> None:
    _setup(database_url)
    from mentorship.audit.sequencer import sequence_pending

    while not stop.is_set():
        if not sequence_pending():
            stop.wait(0.05)
    sequence_pending()


def _burner(stop: Any) -> None:
    while not stop.is_set():
        sum(range(10_000))


def _spawn(target: Any, *args: Any) -> multiprocessing.Process:
    from django.db import connections

    connections.close_all()  # a forked child must not share this process's database socket
    process = multiprocessing.Process(target=target, args=args)
    process.start()
    return process


def appends_per_second(database_url: str, path: str, writers: int, appends: int) -> float:
    barrier = multiprocessing.Barrier(writers + 1)
    procs = [_spawn(_writer, database_url, path, appends, barrier) for _ in range(writers)]
    return appends_per_second_of(procs, barrier, appends)


def _importer(database_url: str, path: str, barrier: Any) -> None:
    _setup(database_url)
    from django.db import transaction

    append = _append_old if path == "before" else _append_new
    barrier.wait()
    for start in range(0, IMPORT_ROWS, IMPORT_CHUNK):
        with transaction.atomic():
            for i in range(start, start + IMPORT_CHUNK):
                append(i)


def approval_delays(database_url: str, path: str) -> tuple[float, float, float]:
    """(import seconds, median, max approval seconds) while the import runs."""
    barrier = multiprocessing.Barrier(2)
    importer = _spawn(_importer, database_url, path, barrier)
    _setup(database_url)
    append = _append_old if path == "before" else _append_new
    barrier.wait()
    started = time.perf_counter()
    samples = []
    while importer.is_alive():
        began = time.perf_counter()
        append(-1)
        samples.append(time.perf_counter() - began)
        time.sleep(0.02)  # an approval every 20 ms: a coordinator's clicks, not a load test
    importer.join()
    assert importer.exitcode == 0, "the import failed"
    return time.perf_counter() - started, statistics.median(samples), max(samples)


def _chain_report(database_url: str) -> str:
    from mentorship.audit.models import AuditEvent
    from mentorship.audit.sequencer import sequence_pending
    from mentorship.audit.verification import chain_check

    sequence_pending()
    check = chain_check()
    seqs = AuditEvent.objects.order_by("seq").values_list("seq", flat=True)
    gapless = list(seqs) == list(range(1, AuditEvent.objects.count() + 1))
    state = "intact" if check.ok else "BROKEN: " + check.message
    return f"chain {state}, {'gapless' if gapless else 'WITH GAPS'} ({check.events_checked:,} events)"


def run(database_url: str, *, writers: int, appends: int, loaded: bool, burners: int) -> None:
    stop = multiprocessing.Event()
    burning = [_spawn(_burner, stop) for _ in range(burners if loaded else 0)]
    label = f"loaded ({burners} CPU burners)" if loaded else "quiet"
    try:
        _emptied()
        before = appends_per_second(database_url, "before", writers, appends)
        _emptied()
        import_before = approval_delays(database_url, "before")
        _emptied()
        sequencer_stop = multiprocessing.Event()
        sequencer = _spawn(_sequencer, database_url, sequencer_stop)
        after = appends_per_second(database_url, "after", writers, appends)
        import_after = approval_delays(database_url, "after")
        settled = time.perf_counter()
        from mentorship.audit.models import AuditEvent

        while AuditEvent.objects.filter(seq__isnull=True).exists() and time.perf_counter() - settled < 60:
            time.sleep(0.05)
        lag = time.perf_counter() - settled
        sequencer_stop.set()
        sequencer.join()
    finally:
        stop.set()
        for proc in burning:
            proc.join()
    print(f"{label}:")
    print(f"  appends/s, {writers} writers x {appends}: before (locked head) {before:7,.0f}/s   after {after:7,.0f}/s")
    print(
        f"  approval during a {IMPORT_ROWS:,}-row import: before median {import_before[1] * 1000:6.0f} ms, max "
        f"{import_before[2] * 1000:6.0f} ms (import {import_before[0]:.1f} s);  after median "
        f"{import_after[1] * 1000:6.0f} ms, max {import_after[2] * 1000:6.0f} ms (import {import_after[0]:.1f} s)"
    )
    print(f"  sequencer caught up {lag:.2f} s after the last append; {_chain_report(database_url)}")


def breakdown(database_url: str, *, writers: int, appends: int) -> None:
    """Where an append's time goes: with the sequencer running, without it, and also without the commit's kick."""
    from mentorship.audit import services

    _emptied()
    stop = multiprocessing.Event()
    sequencer = _spawn(_sequencer, database_url, stop)
    with_sequencer = appends_per_second(database_url, "after", writers, appends)
    single = appends_per_second(database_url, "after", 1, appends)
    stop.set()
    sequencer.join()
    alone = appends_per_second(database_url, "after", writers, appends)
    kick = services._kick_sequencer_after_commit
    services._kick_sequencer_after_commit = lambda: None  # the forked writers inherit the no-op
    try:
        bare = appends_per_second(database_url, "after", writers, appends)
    finally:
        services._kick_sequencer_after_commit = kick
    print(
        f"breakdown (load average {os.getloadavg()[0]:.1f}), {writers} writers x {appends}: with the sequencer "
        f"{with_sequencer:,.0f}/s (1 writer {single:,.0f}/s); sequencer stopped {alone:,.0f}/s; and no kick "
        f"{bare:,.0f}/s"
    )
    print(f"  {_chain_report(database_url)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--appends", type=int, default=500, help="appends per writer")
    parser.add_argument("--burners", type=int, default=2, help="CPU-burning processes for the loaded run")
    parser.add_argument("--breakdown", action="store_true", help="only the breakdown of the new path's cost")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("AUDIT_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ml_audit_append_bench"),
    )
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        parser.error("set REDIS_URL (and CELERY_BROKER_URL) as the deployment has them: the kick is a cache add")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"audit-append-bench-{uuid.uuid4().hex[:8]}"
    # Its own checkpoint folder: the log is emptied between runs, so no checkpoint of another run may apply.
    os.environ["AUDIT_CHECKPOINT_DIR"] = tempfile.mkdtemp(prefix="audit-append-bench-")
    _ensure_database(args.database_url)
    _setup(args.database_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _old_path_installed()
    if args.breakdown:
        breakdown(args.database_url, writers=args.writers, appends=args.appends)
        return
    print(f"Audit appends on {args.database_url.rsplit('@', 1)[-1]} (load average {os.getloadavg()[0]:.1f})")
    run(args.database_url, writers=args.writers, appends=args.appends, loaded=False, burners=args.burners)
    run(args.database_url, writers=args.writers, appends=args.appends, loaded=True, burners=args.burners)
    print("Targets: >= 2,000 appends/s with 8 writers loaded; approval delay during the import <= 1 s.")


if __name__ == "__main__":
    main()

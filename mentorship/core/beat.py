"""Celery beat's heartbeat: a file touched on every scheduler tick, so a healthcheck can tell a beat that is running
from one that is stuck or gone (beat answers no `celery inspect ping`: it is not a worker).

Beat ticks at least every SWEEPER_INTERVAL_SECONDS (the shortest job in the schedule), so a heartbeat older than
a few of those means beat is not scheduling. `python -m mentorship.core.beat --check` is the healthcheck: exit 0
when the heartbeat (in VAR_DIR) is fresh, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler

HEARTBEAT_NAME = "beat-heartbeat"


def heartbeat_path() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / HEARTBEAT_NAME


class HeartbeatScheduler(PersistentScheduler):
    """The default scheduler (schedule kept in CELERY_BEAT_SCHEDULE_FILENAME) that also touches the heartbeat."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        path = heartbeat_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        return float(super().tick(*args, **kwargs))


def heartbeat_is_fresh(*, max_age_seconds: float) -> bool:
    try:
        return time.time() - heartbeat_path().stat().st_mtime <= max_age_seconds
    except FileNotFoundError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mentorship.core.beat", description="Beat's healthcheck.")
    parser.add_argument("--check", action="store_true", required=True)
    parser.add_argument("--max-age", type=float, default=300.0, help="seconds (default 300)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mentorship.settings")
    if heartbeat_is_fresh(max_age_seconds=args.max_age):
        return 0
    print(f"beat has not ticked for more than {args.max_age:.0f} s ({heartbeat_path()})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

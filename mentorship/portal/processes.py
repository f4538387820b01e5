"""The command lines of the portal's own background processes, for `make run` and the integration tests.

One definition, so the tests start the worker and beat with the same options production's `make run` does
(plus what only a test needs, such as a node name). No Django import: tests/stack.py loads it as a pytest
plugin, before Django is set up.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Literal


def celery_command(
    kind: Literal["worker", "beat"], *, queue: str = "", schedule: str = "", options: Sequence[str] = ()
) -> list[str]:
    """`python -m celery -A mentorship <kind>` logging at INFO, then ``options``.

    A worker reads only ``queue`` and skips gossip and mingle (one worker a queue: nothing to sync, and a faster
    start); beat keeps its schedule in the file ``schedule``."""
    cmd = [sys.executable, "-m", "celery", "-A", "mentorship", kind, "-l", "INFO"]
    if kind == "worker":
        cmd += ["-Q", queue, "--without-gossip", "--without-mingle"]
    else:
        cmd += ["-s", schedule]
    return [*cmd, *options]

"""The worker and beat healthchecks docker-compose.yml runs, against real processes started the way compose starts
them: a worker with no -Q (its queue comes from CELERY_TASK_DEFAULT_QUEUE) answers `celery inspect ping` and
consumes that queue; beat's heartbeat turns fresh once it runs and stale once it stops."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.stack import ROOT, CanvasServer, stack_env

pytestmark = pytest.mark.integration


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "mentorship", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        process.wait(30)


def test_a_worker_started_as_compose_starts_it_answers_its_healthcheck(
    canvas_server_session: CanvasServer, stack_log_dir: Path, tmp_path: Path
) -> None:
    env = stack_env(canvas_server_session)
    node = f"worker@{socket.gethostname()}-{os.getpid()}"
    worker = start(
        env, stack_log_dir / f"compose-worker-{os.getpid()}.log", "worker", "-l", "INFO", "-c", "1", "-n", node
    )
    try:
        ping = wait_until(
            lambda: (
                (
                    result := run(
                        env, "-m", "celery", "-A", "mentorship", "inspect", "ping", "--timeout", "5", "-d", node
                    )
                ).returncode
                == 0
                and result
            ),
            timeout=90,
            message="the worker to answer `celery inspect ping`",
        )
        assert "pong" in ping.stdout
        queues = run(env, "-m", "celery", "-A", "mentorship", "inspect", "active_queues", "--timeout", "5", "-d", node)
        assert env["CELERY_TASK_DEFAULT_QUEUE"] in queues.stdout, queues.stdout + queues.stderr
    finally:
        stop(worker)
    gone = run(env, "-m", "celery", "-A", "mentorship", "inspect", "ping", "--timeout", "3", "-d", node)
    assert gone.returncode != 0, "a stopped worker must fail its healthcheck"


def test_beats_heartbeat_is_fresh_while_it_runs_and_stale_after(
    canvas_server_session: CanvasServer, stack_log_dir: Path, tmp_path: Path
) -> None:
    env = {**stack_env(canvas_server_session), "VAR_DIR": str(tmp_path)}
    check = ("-m", "mentorship.core.beat", "--check", "--max-age", "5")
    assert run(env, *check).returncode == 1, "no heartbeat before beat starts"
    beat = start(
        env, stack_log_dir / f"compose-beat-{os.getpid()}.log", "beat", "-l", "INFO", "-s", str(tmp_path / "schedule")
    )
    try:
        wait_until(lambda: run(env, *check).returncode == 0, timeout=60, message="beat's heartbeat file")
    finally:
        stop(beat)
    wait_until(lambda: run(env, *check).returncode == 1, timeout=30, message="the heartbeat to go stale")

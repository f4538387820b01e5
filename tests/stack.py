"""Fixtures for the real stack: the fake Canvas as a server, real Celery worker and beat processes, a live portal.

Loaded for every test session as a pytest plugin (`-p tests.stack` in pyproject.toml). Nothing here is mocked:
the worker is `celery -A mentorship worker` in its own process group, bound to the same test database and broker
as the test process, and talks to the fake Canvas over HTTP.

When MENTORLINK_REQUIRE_SERVICES=1 (set by .ci/run for the PostgreSQL + Redis run), the session fails at once if
the database is not PostgreSQL or the broker is not a reachable Redis: a missing service is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from mentorship.portal.processes import celery_command
from tests.helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "test-admin-token"
OAUTH_CLIENT_ID = "test-client-id"
OAUTH_CLIENT_SECRET = "test-client-secret"


def services_required() -> bool:
    return os.environ.get("MENTORLINK_REQUIRE_SERVICES", "") == "1"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not services_required():
        return
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit(f"MENTORLINK_REQUIRE_SERVICES=1 but the database is {engine}, not PostgreSQL.", returncode=3)
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        pytest.exit(f"MENTORLINK_REQUIRE_SERVICES=1 but the broker is {broker.split(':')[0]}, not Redis.", returncode=3)
    import redis

    try:
        redis.Redis.from_url(broker, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.exit(f"MENTORLINK_REQUIRE_SERVICES=1 but Redis does not answer: {exc}", returncode=3)


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    return [
        f"mentorlink: database={db['ENGINE'].rsplit('.', 1)[-1]} broker={settings.CELERY_BROKER_URL.split('://')[0]}"
        f" services_required={services_required()}"
    ]


# --- The fake Canvas as a server -------------------------------------------------------------------------------


@dataclass
class CanvasServer:
    base_url: str
    admin_token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def control(self, method: str, path: str, json: Any = None) -> Any:
        """Call the fake's /__fake__/ control API (latency, faults, tokens, state views, request log)."""
        response = requests.request(method, f"{self.base_url}/__fake__/{path.lstrip('/')}", json=json, timeout=30)
        response.raise_for_status()
        return response.json() if response.content else None

    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        from canvas_client import CanvasClient

        return CanvasClient(self.base_url, token or self.admin_token, **kwargs)

    def observer_links(self) -> set[tuple[int, int]]:
        """Active user-level links as (observer_id, student_id), read over HTTP from the fake."""
        data = self.control("GET", "links")
        rows = data.get("links", data) if isinstance(data, dict) else data
        return {(int(row["observer_id"]), int(row["student_id"])) for row in rows}


def _start_canvas(seed: str, log_dir: Path) -> CanvasServer:
    port = free_port()
    log_path = log_dir / f"fake-canvas-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fake_canvas",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--admin-token",
            ADMIN_TOKEN,
            "--seed",
            seed,
            "--oauth-client-id",
            OAUTH_CLIENT_ID,
            "--oauth-client-secret",
            OAUTH_CLIENT_SECRET,
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = CanvasServer(f"http://127.0.0.1:{port}", ADMIN_TOKEN, process, log_path)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"The fake Canvas exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
        return requests.get(f"{server.base_url}/__fake__/health", timeout=2).status_code == 200

    wait_until(healthy, timeout=60, message="the fake Canvas to answer /__fake__/health")
    return server


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def stack_log_dir() -> Path:
    global _log_dir
    folder = Path(os.environ.get("MENTORLINK_TEST_LOG_DIR", "") or tempfile.mkdtemp(prefix="mentorlink-stack-"))
    folder.mkdir(parents=True, exist_ok=True)
    _log_dir = folder
    return folder


_log_dir: Path | None = None
LOG_TAIL_LINES = 40


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When an integration test fails, show the last lines the worker, beat, fake Canvas and broker wrote."""
    report: Any = yield
    if report.when == "call" and report.failed and _log_dir is not None and item.get_closest_marker("integration"):
        for path in sorted(_log_dir.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            report.sections.append((f"last {len(lines)} lines of {path.name}", "\n".join(lines)))
    return report


@pytest.fixture(scope="session")
def canvas_server_session(stack_log_dir: Path) -> Iterator[CanvasServer]:
    server = _start_canvas("demo", stack_log_dir)
    yield server
    _stop(server.process)


@pytest.fixture
def canvas_server(canvas_server_session: CanvasServer, settings: Any) -> CanvasServer:
    """The running fake Canvas, reset to its demo seed, with the portal's settings pointed at it."""
    canvas_server_session.control("POST", "reset")
    settings.CANVAS_BASE_URL = canvas_server_session.base_url
    settings.CANVAS_TOKEN = canvas_server_session.admin_token
    settings.CANVAS_OAUTH_CLIENT_ID = OAUTH_CLIENT_ID
    settings.CANVAS_OAUTH_CLIENT_SECRET = OAUTH_CLIENT_SECRET
    return canvas_server_session


# --- Celery processes ------------------------------------------------------------------------------------------


def database_url_for_subprocess() -> str:
    """The URL of the test database as the test process sees it (after pytest-django switched to test_*)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


RUNNING: list[CeleryProcess] = []


def stop_running_celery() -> None:
    """Stop every worker and beat this test process started (the `celery_worker` fixture restarts its own).

    For in-process tests that hold one long transaction: a live worker appending audit events would wait on the
    audit chain head that transaction holds, and the test could end up waiting on the worker in turn.
    """
    for proc in list(RUNNING):
        proc.stop()


@dataclass
class CeleryProcess:
    """A real `celery worker` or `celery beat` process, in its own process group so kill() takes its children."""

    kind: str
    env: dict[str, str]
    log_path: Path
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        queue = self.env["CELERY_TASK_DEFAULT_QUEUE"]
        if self.kind == "worker":
            cmd = celery_command(
                "worker", queue=queue, options=["-n", f"{queue}@%h", "--without-heartbeat", *self.args]
            )
        else:
            cmd = celery_command("beat", schedule=str(self.log_path.with_suffix(".schedule")), options=self.args)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        marker = "ready." if self.kind == "worker" else "beat: Starting"

        def ready() -> bool:
            assert self.process is not None
            text = self.log_path.read_text(errors="replace")[offset:]
            if self.process.poll() is not None:
                raise AssertionError(f"celery {self.kind} exited early:\n{text[-4000:]}")
            return marker in text

        wait_until(ready, timeout=60, message=f"celery {self.kind} to start")
        if self not in RUNNING:
            RUNNING.append(self)

    def kill(self) -> None:
        """SIGKILL the whole process group: the worker gets no chance to ack, requeue or clean up."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def mail(self) -> str:
        """Every message the process sent (EMAIL_URL is a file backend in tests): headers and decoded bodies."""
        url = self.env.get("EMAIL_URL", "")
        folder = Path(url.removeprefix("filemail:///"))
        if not url.startswith("filemail:///") or not folder.is_dir():
            return ""
        texts = []
        for path in sorted(folder.iterdir()):
            # The file backend writes one or more messages per file, each followed by a line of 79 dashes.
            for raw in path.read_bytes().split(b"-" * 79):
                if raw.strip():
                    message = email.message_from_bytes(raw.strip(), policy=email.policy.default)
                    body = message.get_body(preferencelist=("plain", "html"))
                    headers = "".join(f"{name}: {value}\n" for name, value in message.items())
                    texts.append(headers + (body.get_content() if body is not None else ""))
        return "\n".join(texts)


def stack_env(canvas: CanvasServer, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mentorship.settings",
            "DATABASE_URL": database_url_for_subprocess(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "CANVAS_BASE_URL": canvas.base_url,
            "CANVAS_TOKEN": canvas.admin_token,
            "CANVAS_OAUTH_CLIENT_ID": OAUTH_CLIENT_ID,
            "CANVAS_OAUTH_CLIENT_SECRET": OAUTH_CLIENT_SECRET,
            "SECRET_KEY": settings.SECRET_KEY,
            "PYTHONUNBUFFERED": "1",
            # Production's format, so tests/integration/test_logs.py reads the worker's lines as JSON.
            "LOG_FORMAT": "json",
        }
    )
    if os.environ.get("CELERY_BROKER_DIR"):
        env["CELERY_BROKER_DIR"] = os.environ["CELERY_BROKER_DIR"]
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.update(extra)
    return env


def start_worker(
    canvas: CanvasServer, log_dir: Path, *, concurrency: int = 2, name: str = "worker", **extra_env: str
) -> CeleryProcess:
    mail = {"EMAIL_URL": f"filemail:///{log_dir / f'mail-{name}-{os.getpid()}'}"}
    worker = CeleryProcess(
        "worker",
        stack_env(canvas, **{**mail, **extra_env}),
        log_dir / f"celery-{name}-{os.getpid()}.log",
        args=["--concurrency", str(concurrency), "-P", "prefork"],
    )
    worker.start()
    return worker


def start_beat(canvas: CanvasServer, log_dir: Path, **extra_env: str) -> CeleryProcess:
    beat = CeleryProcess("beat", stack_env(canvas, **extra_env), log_dir / f"celery-beat-{os.getpid()}.log")
    beat.start()
    return beat


@pytest.fixture(scope="session")
def celery_worker_session(
    django_db_setup: Any, django_db_blocker: Any, canvas_server_session: CanvasServer, stack_log_dir: Path
) -> Iterator[CeleryProcess]:
    worker = start_worker(canvas_server_session, stack_log_dir)
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(celery_worker_session: CeleryProcess, canvas_server: CanvasServer) -> CeleryProcess:
    """A real worker process (shared by the session; restarted if a test killed it)."""
    if celery_worker_session.process is None or celery_worker_session.process.poll() is not None:
        celery_worker_session.start()
    return celery_worker_session


@dataclass
class Stack:
    url: str
    canvas: CanvasServer
    worker: CeleryProcess


@pytest.fixture
def stack(live_server: Any, celery_worker: CeleryProcess, canvas_server: CanvasServer, settings: Any) -> Stack:
    """The whole product: the portal on a live server, a real worker, the fake Canvas. Uses the transactional DB."""
    settings.PORTAL_BASE_URL = live_server.url
    return Stack(url=live_server.url, canvas=canvas_server, worker=celery_worker)

"""`make run`: migrate, seed the demo school, and run every process of the portal until Ctrl-C.

Processes, each its own process group so Ctrl-C stops all of them and their children:
the fake Canvas (only when CANVAS_BASE_URL points at the local default), the web server (gunicorn),
a Celery worker, and Celery beat.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from mentorship.portal.processes import celery_command

from .seed_demo import DEMO_PASSWORD, demo_mentor_login

# The accounts the banner suggests, each with what it shows; tests/core/test_run_portal.py signs in as each one and
# checks it reaches a page with data.
BANNER_ACCOUNTS = [
    ("coordinator", "coordinator of both demo programs"),
    ("coordinator2", "a second coordinator (Peer Mentoring needs two)"),
    ("auditor", "reads the audit log"),
    ("admin", "manages programs and roles"),
]

WEB_HOST, WEB_PORT = "127.0.0.1", 8000
FAKE_CANVAS_PORT = 8001


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


def _wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CommandError(f"{what} stopped while starting (exit code {proc.returncode}).")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own localhost server
                return
        except urllib.error.HTTPError:
            return  # it answers; a non-2xx status is still an answer
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise CommandError(f"{what} did not answer at {url} within {timeout:.0f} seconds.")


class Command(BaseCommand):
    help = "Run the whole portal with demo data (web, worker, beat, and the bundled fake Canvas)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-seed", action="store_true", help="Do not create the demo school.")

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        canvas = urlsplit(settings.CANVAS_BASE_URL)
        bundled_canvas = canvas.hostname in {"127.0.0.1", "localhost"} and canvas.port == FAKE_CANVAS_PORT
        busy = [p for p in ([WEB_PORT] + ([FAKE_CANVAS_PORT] if bundled_canvas else [])) if not _port_free(WEB_HOST, p)]
        if busy:
            raise CommandError(
                f"Port {', '.join(map(str, busy))} is already in use on {WEB_HOST}. Is another `make run` still going? "
                "Stop it (Ctrl-C in its terminal) and try again."
            )
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self.stdout.write("Preparing the database…")
            call_command("migrate", interactive=False, verbosity=0)
            call_command("createcachetable", verbosity=0)
            # The fake Canvas first: the demo seed reads the students' enrollments from it.
            if bundled_canvas:
                self._start_fake_canvas()
            if not options["no_seed"]:
                call_command("seed_demo")
            self._start_portal()
            self._banner()
            self._watch()
        finally:
            self._stop_all()

    def _start_fake_canvas(self) -> None:
        cmd = [sys.executable, "-m", "fake_canvas", "--host", "127.0.0.1", "--port", str(FAKE_CANVAS_PORT)]
        cmd += ["--seed", "demo", "--state-file", str(settings.VAR_DIR / "fake-canvas-state.json")]
        fake = self._spawn(
            "fake Canvas",
            cmd,
            # Secrets by environment, never on a command line (`ps` shows those to every user).
            env={
                "FAKE_CANVAS_ADMIN_TOKEN": settings.CANVAS_TOKEN,
                "FAKE_CANVAS_OAUTH_CLIENT_ID": settings.CANVAS_OAUTH_CLIENT_ID,
                "FAKE_CANVAS_OAUTH_CLIENT_SECRET": settings.CANVAS_OAUTH_CLIENT_SECRET,
            },
        )
        _wait_http(f"{settings.CANVAS_BASE_URL}/__fake__/health", 60, fake, "The fake Canvas")

    def _start_portal(self) -> None:
        """The web server, one worker and beat; returns once the web server answers."""
        cmd = [sys.executable, "-m", "gunicorn", "mentorship.wsgi:application", "--bind", f"{WEB_HOST}:{WEB_PORT}"]
        cmd += ["--workers", "2", "--threads", "4", "--timeout", "60", "--access-logfile", "-"]
        web = self._spawn("web", cmd)
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        self._spawn("worker", celery_command("worker", queue=queue, options=["--concurrency", "2"]))
        self._spawn("beat", celery_command("beat", schedule=settings.CELERY_BEAT_SCHEDULE_FILENAME))
        _wait_http(f"http://{WEB_HOST}:{WEB_PORT}/healthz", 60, web, "The web server")

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        child_env = {**os.environ, **env} if env else None
        proc = subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=child_env, start_new_session=True)
        self.children.append((name, proc))
        return proc

    def _banner(self) -> None:
        mail_folder = settings.EMAIL_FILE_PATH
        file_mail = settings.EMAIL_BACKEND.endswith("filebased.EmailBackend") and mail_folder
        lines = [
            "",
            "Mentor Link is running: http://127.0.0.1:8000/",
            f"  Fake Canvas:   {settings.CANVAS_BASE_URL}/",
            "  Health:        http://127.0.0.1:8000/healthz/ready",
            "",
            f"  Sign in (password for all: {DEMO_PASSWORD})",
            *(f"    {username:<13} - {what}" for username, what in BANNER_ACCOUNTS),
            f"  Mentors use 'Sign in with Canvas' (on the fake Canvas: login {demo_mentor_login()}, a mentor with",
            "    students; password canvas-demo).",
            *([f"  Email (notices, pairing codes) is written to {mail_folder}/, not sent."] if file_mail else []),
            "",
            "Press Ctrl-C to stop every process.",
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _watch(self) -> None:
        while True:
            for name, proc in self.children:
                if proc.poll() is not None:
                    raise CommandError(f"The {name} process stopped (exit code {proc.returncode}); stopping the rest.")
            time.sleep(0.5)

    def _on_signal(self, signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def _stop_all(self) -> None:
        for _name, proc in reversed(self.children):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, proc in self.children:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        if self.children:
            self.stdout.write("All Mentor Link processes stopped.")

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except KeyboardInterrupt:
            return None

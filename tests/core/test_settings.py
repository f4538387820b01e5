"""Production settings refuse to start without their secrets; the embedded default needs nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x" * 60,
    "ALLOWED_HOSTS": "mentorlink.example.edu",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/mentorlink",
    "CANVAS_TOKEN": "prod-token",
    "CANVAS_OAUTH_CLIENT_SECRET": "prod-secret",
    "FIELD_ENCRYPTION_KEYS": "V2hhdGV2ZXItMzItYnl0ZXMtbG9uZy1rZXktaGVyZSE=",
    "EMAIL_URL": "smtp://mail.example.edu:25",
}


SETTINGS_VARIABLES = {
    "DEBUG",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_DIR",
    "CELERY_TASK_DEFAULT_QUEUE",
    "REDIS_URL",
    "CANVAS_BASE_URL",
    "SQLITE_TEST_NAME",
}


def _settings_probe(env: dict[str, str], expr: str = "settings.DEBUG") -> subprocess.CompletedProcess[str]:
    # Start from the process environment minus everything settings.py reads, so CI's own DATABASE_URL or
    # CELERY_BROKER_URL cannot leak into a probe of the defaults.
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV and k not in SETTINGS_VARIABLES}
    clean.update(env)
    code = f"import django; django.setup(); from django.conf import settings; print({expr})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "mentorship.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_embedded_default_needs_no_environment() -> None:
    result = _settings_probe(
        {"DJANGO_ENV": "development"},
        "(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, settings.CANVAS_BASE_URL)",
    )
    assert result.returncode == 0, result.stderr
    assert "sqlite3" in result.stdout
    assert "filesystem://" in result.stdout
    assert "http://127.0.0.1:8001" in result.stdout


def test_production_turns_debug_off() -> None:
    result = _settings_probe(PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "missing",
    ["SECRET_KEY", "CANVAS_TOKEN", "CANVAS_OAUTH_CLIENT_SECRET", "ALLOWED_HOSTS", "FIELD_ENCRYPTION_KEYS", "EMAIL_URL"],
)
def test_production_refuses_to_start_without_a_secret(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _settings_probe(env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_refuses_debug_on() -> None:
    result = _settings_probe({**PRODUCTION_ENV, "DEBUG": "true"})
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_embedded_default_writes_email_to_files_not_the_console() -> None:
    """Messages may carry pairing codes: the default must never print them where logs are collected."""
    result = _settings_probe(
        {"DJANGO_ENV": "development"}, "settings.EMAIL_BACKEND + ' ' + str(settings.EMAIL_FILE_PATH)"
    )
    assert result.returncode == 0, result.stderr
    backend, path = result.stdout.split()
    assert backend == "django.core.mail.backends.filebased.EmailBackend"
    assert Path(path) == ROOT / "var" / "mail"


@pytest.mark.parametrize("url", ["consolemail://", "filemail:////tmp/mail", "memorymail://", "dummymail://"])
def test_production_refuses_an_email_url_that_sends_nothing(url: str) -> None:
    result = _settings_probe({**PRODUCTION_ENV, "EMAIL_URL": url})
    assert result.returncode != 0
    assert "EMAIL_URL must name a real mail server" in result.stderr


def test_postgresql_connections_turn_jit_off() -> None:
    """JIT compiles big queries before their first row; the portal's queries never earn it back."""
    result = _settings_probe(PRODUCTION_ENV, "settings.DATABASES['default']['OPTIONS']['options']")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "-c jit=off"

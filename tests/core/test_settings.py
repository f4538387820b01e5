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
    "CANVAS_BASE_URL": "https://school.instructure.com",
    "CANVAS_TOKEN": "prod-token",
    "CANVAS_OAUTH_CLIENT_SECRET": "prod-secret",
    "FIELD_ENCRYPTION_KEYS": "V2hhdGV2ZXItMzItYnl0ZXMtbG9uZy1rZXktaGVyZSE=",
    "AUDIT_HMAC_KEYS": "k1:V2hhdGV2ZXItMzItYnl0ZXMtbG9uZy1rZXktaGVyZSE=",
    "AUDIT_SIGNING_KEY": "V2hhdGV2ZXItMzItYnl0ZXMtbG9uZy1rZXktaGVyZSE=",
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
    "VAR_DIR",
    "STATIC_ROOT",
    "TRIAL_PLAIN_HTTP",
    "CANVAS_BROWSER_URL",
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
    [
        "SECRET_KEY",
        "CANVAS_BASE_URL",
        "CANVAS_TOKEN",
        "CANVAS_OAUTH_CLIENT_SECRET",
        "ALLOWED_HOSTS",
        "FIELD_ENCRYPTION_KEYS",
        "AUDIT_HMAC_KEYS",
        "AUDIT_SIGNING_KEY",
        "EMAIL_URL",
    ],
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


def test_production_refuses_plain_http_cookies_unless_it_is_a_trial() -> None:
    refused = _settings_probe({**PRODUCTION_ENV, "SESSION_COOKIE_SECURE": "false"})
    assert refused.returncode != 0
    assert "TRIAL_PLAIN_HTTP" in refused.stderr
    trial = _settings_probe(
        {**PRODUCTION_ENV, "TRIAL_PLAIN_HTTP": "true"},
        "(settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS)",
    )
    assert trial.returncode == 0, trial.stderr
    assert trial.stdout.strip() == "(False, False, False, 0)"


def test_loading_production_settings_creates_no_folder(tmp_path: Path) -> None:
    """A container may run with a read-only root filesystem: settings and app start-up write nothing there."""
    var = tmp_path / "var-that-must-not-appear"
    production = {
        **PRODUCTION_ENV,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "REDIS_URL": "redis://127.0.0.1:6379/1",
    }
    result = _settings_probe({**production, "VAR_DIR": str(var), "STATIC_ROOT": str(tmp_path / "static")})
    assert result.returncode == 0, result.stderr
    assert not var.exists()
    assert not (tmp_path / "static").exists()


def test_embedded_default_makes_its_own_folders(tmp_path: Path) -> None:
    var = tmp_path / "var"
    result = _settings_probe({"DJANGO_ENV": "development", "VAR_DIR": str(var)})
    assert result.returncode == 0, result.stderr
    assert (var / "broker" / "queue").is_dir() and (var / "staticfiles").is_dir()


def settings_read_from_the_environment() -> set[str]:
    """Every variable name settings.py reads (env.str("X"), env.int("X"), _required_in_production("X", ...))."""
    import re

    source = (ROOT / "mentorship" / "settings.py").read_text()
    pattern = re.compile(r'(?:env\.\w+|env|_required_in_production)\(\s*"([A-Z][A-Z0-9_]+)"')
    return set(pattern.findall(source))


def variables_in_the_readme_table() -> set[str]:
    import re

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Health")]
    return {
        name
        for row in table.splitlines()
        if row.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    }


def test_every_setting_is_in_the_readme_table_and_nothing_else_is() -> None:
    read = settings_read_from_the_environment()
    documented = variables_in_the_readme_table()
    assert len(read) > 30  # the parser found the settings, not nothing
    assert read - documented == set(), "settings.py reads variables the README's table does not list"
    assert documented - read == set(), "the README's table lists variables settings.py does not read"

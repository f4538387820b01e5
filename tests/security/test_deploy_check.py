"""`manage.py check --deploy` with production settings finds nothing; production cookies are Secure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    # Long and random-looking: check --deploy rejects short or low-variety keys (security.W009).
    "SECRET_KEY": "q8Vn3yTz-Lw0pK7c9rXs2bFh4mJd6gQa1uEo5iYtRzWvNlMkPjHgBfDcSxAe-8n7",
    "ALLOWED_HOSTS": "mentorlink.example.edu",
    "DATABASE_URL": "postgres://mentorlink@127.0.0.1:5432/mentorlink",
    "CANVAS_BASE_URL": "https://school.instructure.com",
    "CANVAS_TOKEN": "prod-token-not-used",
    "CANVAS_OAUTH_CLIENT_SECRET": "prod-secret-not-used",
    "FIELD_ENCRYPTION_KEYS": "V2hhdGV2ZXItMzItYnl0ZXMtbG9uZy1rZXktaGVyZSE=",
    "AUDIT_HMAC_KEYS": "build:YnVpbGQtb25seS1wbGFjZWhvbGRlci1ub3QtYS1rZXk=",
    "AUDIT_SIGNING_KEY": "YnVpbGQtb25seS1wbGFjZWhvbGRlci1ub3QtYS1rZXk=",
    "EMAIL_URL": "smtp://mail.example.edu:25",
}


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SESSION_", "SECURE_")) and k != "DEBUG"}
    env.update(PRODUCTION_ENV)
    env["DJANGO_SETTINGS_MODULE"] = "mentorship.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_has_no_findings() -> None:
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "DEBUG"])
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_cookies_are_secure_httponly_and_samesite() -> None:
    expr = (
        "(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY,"
        " s.SESSION_COOKIE_SAMESITE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000,"
        " s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SILENCED_SYSTEM_CHECKS)"
    )
    code = f"import django; django.setup(); from django.conf import settings as s; print({expr})"
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(True, True, True, True, 'Lax', True, True, True, [])"

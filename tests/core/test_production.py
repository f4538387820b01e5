"""Production is a test target: gunicorn with DJANGO_ENV=production (DEBUG off, WhiteNoise's manifest storage, the
production headers), its static files built by scripts/build_assets.py exactly as the Dockerfile builds them.

The portal is reached as the TLS proxy in front of it would reach it: the school's Host and X-Forwarded-Proto.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers import free_port, wait_until
from tests.security.test_deploy_check import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]
HOST = PRODUCTION_ENV["ALLOWED_HOSTS"]
VIA_PROXY = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/css/portal\.[0-9a-f]{12}\.css)"')


@dataclass
class Portal:
    url: str
    log: Path

    def get(self, path: str, **kwargs: object) -> requests.Response:
        headers = {**VIA_PROXY, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return requests.get(f"{self.url}{path}", headers=headers, allow_redirects=False, timeout=20, **kwargs)  # type: ignore[arg-type]


def production_environment(tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SESSION_", "SECURE_", "CANVAS_"))}
    keep = {k: v for k, v in keep.items() if k not in {"DEBUG", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    return {
        **keep,
        **PRODUCTION_ENV,
        "DATABASE_URL": f"sqlite:///{tmp / 'production.sqlite3'}",
        "STATIC_ROOT": str(tmp / "static"),
        "VAR_DIR": str(tmp / "var"),
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
        "DJANGO_SETTINGS_MODULE": "mentorship.settings",
    }


@pytest.fixture(scope="module")
def production_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    tmp = tmp_path_factory.mktemp("production")
    env = production_environment(tmp)
    build = subprocess.run(
        [sys.executable, "scripts/build_assets.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert build.returncode == 0, build.stderr
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert migrate.returncode == 0, migrate.stderr
    port = free_port()
    log = tmp / "gunicorn.log"
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(gunicorn), "-c", "deploy/gunicorn.conf.py", "tests.production_wsgi:application"],
            cwd=ROOT,
            env={**env, "PORTAL_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    portal = Portal(url=f"http://127.0.0.1:{port}", log=log)
    try:
        wait_until(
            lambda: process.poll() is None and requests.get(f"{portal.url}/healthz/live", timeout=2).ok,
            timeout=60,
            message=f"gunicorn with production settings (log: {log.read_text(errors='replace')[-2000:]})",
        )
        yield portal
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def assert_styled(portal: Portal, html: str) -> None:
    match = STYLESHEET.search(html)
    assert match, "the page links no hashed stylesheet: the manifest storage is not in use"
    css = portal.get(match.group(1), headers={"Accept-Encoding": "gzip"})
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")
    assert css.headers.get("Content-Encoding") == "gzip", "the compressed copy was not built or not served"
    assert "immutable" in css.headers.get("Cache-Control", ""), "hashed files should be cached for good"
    assert "--" in css.text or "{" in css.text


def test_the_sign_in_page_renders_with_its_stylesheet(production_portal: Portal) -> None:
    response = production_portal.get("/accounts/login/")
    assert response.status_code == 200, production_portal.log.read_text(errors="replace")[-3000:]
    assert "Sign in" in response.text
    assert_styled(production_portal, response.text)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_missing_page_is_the_styled_404(production_portal: Portal) -> None:
    response = production_portal.get("/no/such/page/")
    assert response.status_code == 404
    assert "Traceback" not in response.text and "DEBUG" not in response.text
    assert_styled(production_portal, response.text)


def test_a_failure_is_the_styled_500_without_details(production_portal: Portal) -> None:
    response = production_portal.get("/__test__/fail")
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "deliberate failure" not in response.text
    assert_styled(production_portal, response.text)


def test_plain_http_is_sent_to_https(production_portal: Portal) -> None:
    response = production_portal.get("/accounts/login/", headers={"X-Forwarded-Proto": "http"})
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{HOST}/accounts/login/"


def test_liveness_answers_a_probe_by_address(production_portal: Portal) -> None:
    response = requests.get(f"{production_portal.url}/healthz/live", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_logs_are_json_lines_with_request_ids_and_no_oauth_code(production_portal: Portal) -> None:
    """LOG_FORMAT defaults to json in production: gunicorn's access log too, redacted like every other line."""
    import json

    response = production_portal.get("/accounts/login/?code=oauth-code-value-123&state=x")
    request_id = response.headers["X-Request-Id"]

    def access_line() -> dict | None:
        for line in production_portal.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and request_id in line:
                return json.loads(line)
        return None

    wait_until(lambda: access_line() is not None, timeout=30, message="the access log line of the request")
    line = access_line()
    assert line is not None and line["logger"] == "gunicorn.access"
    assert "oauth-code-value-123" not in production_portal.log.read_text(errors="replace")


def test_metrics_do_not_exist_in_production_without_a_credential(production_portal: Portal) -> None:
    assert production_portal.get("/metrics").status_code == 404

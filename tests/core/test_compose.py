"""No Docker engine runs here, so the compose file is checked as YAML: services, wiring, one image."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_all_services_present() -> None:
    assert {"postgres", "redis", "web", "worker", "beat", "canvas"} <= set(SERVICES)


def test_web_worker_beat_share_one_image_and_the_production_environment() -> None:
    images = {SERVICES[name]["image"] for name in ("web", "worker", "beat")}
    assert len(images) == 1
    for name in ("web", "worker", "beat"):
        env = SERVICES[name]["environment"]
        assert env["DJANGO_ENV"] == "production"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        for secret in ("SECRET_KEY", "CANVAS_TOKEN", "CANVAS_OAUTH_CLIENT_SECRET", "FIELD_ENCRYPTION_KEYS"):
            assert secret in env and ":?" in env[secret], f"{secret} must be required, not defaulted"


def test_commands_run_the_right_processes() -> None:
    assert "gunicorn" in SERVICES["web"]["command"]
    assert SERVICES["worker"]["command"][:4] == ["celery", "-A", "mentorship", "worker"]
    assert SERVICES["beat"]["command"][:4] == ["celery", "-A", "mentorship", "beat"]
    assert "canvas_client.fake" in SERVICES["canvas"]["command"]


def test_processes_wait_for_migrations_and_services() -> None:
    for name in ("web", "worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthz" in " ".join(SERVICES["web"]["healthcheck"]["test"])

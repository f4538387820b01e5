"""No Docker engine runs on the project's machines, so docker-compose.yml, the Dockerfile and .dockerignore are checked
as files: services, healthchecks, restart policies, the two database roles, what is published, and that the
school's .env reaches every portal process. (YAML merge keys are resolved by the parser, as compose resolves them.)
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.core.test_settings import settings_read_from_the_environment

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
PORTAL = ("web", "worker", "beat")
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def command_text(service: str) -> str:
    command = SERVICES[service]["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_all_services_present() -> None:
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "canvas", "mail", "demo-seed"} <= set(SERVICES)


def test_portal_processes_share_one_image_and_the_production_environment() -> None:
    images = {SERVICES[name]["image"] for name in (*PORTAL, "migrate")}
    assert len(images) == 1
    for name in PORTAL:
        env = SERVICES[name]["environment"]
        assert env["DJANGO_ENV"] == "production"
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")


def test_the_schools_env_file_reaches_every_portal_process() -> None:
    """Every README setting goes in .env; compose must hand the whole file over, not a fixed list of names."""
    for name in (*PORTAL, "migrate", "demo-seed"):
        assert SERVICES[name]["env_file"] == ".env", name
    assert len(settings_read_from_the_environment()) > 30


def test_migrations_run_as_the_owner_and_the_portal_runs_as_its_own_role() -> None:
    migrate = SERVICES["migrate"]
    assert "migrate --noinput" in command_text("migrate") and "provision_app_role" in command_text("migrate")
    owner_url = migrate["environment"]["DATABASE_URL"]
    assert owner_url.startswith("postgres://${POSTGRES_USER:-mentorlink_owner}:")
    for name in PORTAL:
        url = SERVICES[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgres://${APP_DB_ROLE:-mentorlink_app}:${APP_DB_PASSWORD:?"), name
        assert url != owner_url
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"


def test_commands_run_the_right_processes() -> None:
    assert command_text("web").startswith("gunicorn -c deploy/gunicorn.conf.py mentorship.wsgi:application")
    assert "celery -A mentorship worker" in command_text("worker")
    assert command_text("beat").startswith("celery -A mentorship beat")
    assert command_text("canvas").startswith("python -m fake_canvas ")


def test_the_worker_queue_comes_from_the_environment() -> None:
    assert " -Q " not in f" {command_text('worker')} ", "the queue is CELERY_TASK_DEFAULT_QUEUE, never hard-coded"


def test_every_long_running_service_restarts_and_has_a_healthcheck() -> None:
    for name in ("postgres", "redis", *PORTAL, "canvas"):
        assert SERVICES[name]["restart"] == "unless-stopped", name
        assert SERVICES[name]["healthcheck"]["test"], name
    assert "/healthz/ready" in " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert "mentorship.core.beat" in " ".join(SERVICES["beat"]["healthcheck"]["test"])


def test_only_the_portal_is_published_and_on_the_address_the_school_chooses() -> None:
    published = {name: service.get("ports", []) for name, service in SERVICES.items() if service.get("ports")}
    production = {name for name in published if not SERVICES[name].get("profiles")}
    assert production == {"web"}
    assert published["web"] == ["${PORTAL_BIND_ADDRESS:-127.0.0.1}:${PORTAL_PORT:-8000}:8000"]
    for name in published.keys() - {"web"}:
        assert SERVICES[name]["profiles"] == ["trial"]
        assert all(port.startswith("127.0.0.1:") for port in published[name]), name


def test_no_secret_on_a_command_line() -> None:
    for name, service in SERVICES.items():
        text = command_text(name) if "command" in service else ""
        assert not re.search(r"token|secret|password", text, re.IGNORECASE), f"{name}: {text}"


def test_portal_containers_run_with_a_read_only_root() -> None:
    for name in (*PORTAL, "migrate", "canvas"):
        assert SERVICES[name]["read_only"] is True, name
    assert "beatstate:/var/lib/mentorlink" in SERVICES["beat"]["volumes"]


def test_the_trial_profile_is_plain_http_on_purpose_and_reachable_by_the_browser() -> None:
    trial = dict(line.split("=", 1) for line in (ROOT / "deploy" / "trial.env").read_text().splitlines() if "=" in line)
    assert trial["COMPOSE_PROFILES"] == "trial" and trial["TRIAL_PLAIN_HTTP"] == "true"
    assert trial["CANVAS_BASE_URL"] == "http://canvas:8001"
    assert trial["CANVAS_BROWSER_URL"] == "http://localhost:8001"
    assert trial["EMAIL_URL"].startswith("smtp://mail:")
    deploy_only = {"COMPOSE_PROFILES", "WITH_FAKE_CANVAS", "POSTGRES_PASSWORD", "APP_DB_PASSWORD"}
    assert set(trial) - deploy_only <= settings_read_from_the_environment()
    assert trial["WITH_FAKE_CANVAS"] == "1", "the trial image needs the fake Canvas libraries"


def test_the_image_builds_production_assets_and_runs_as_a_user() -> None:
    assert "RUN python scripts/build_assets.py" in DOCKERFILE
    assert "collectstatic" not in DOCKERFILE, "one way to build assets: scripts/build_assets.py"
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert user and user[-1] not in {"root", "0", "0:0"}
    assert not re.search(r"^(ARG|ENV) .*(SECRET|TOKEN|PASSWORD)", DOCKERFILE, re.MULTILINE)


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".git", ".venv", "var", ".env", ".env.*", ".tools"} <= ignored
    # What the running portal reads from the tree: the help pages serve the guides and their screenshots, the import
    # page the sample file, and the audit bundle names the auditor's verifier.
    needed = {"docs", "docs/guides", "docs/screenshots", "mentorship", "templates", "tools"}
    assert not needed & ignored, needed & ignored


def test_the_systemd_units_start_the_same_processes_as_compose() -> None:
    units = {path.stem: path.read_text() for path in (ROOT / "deploy" / "systemd").glob("*.service")}
    assert set(units) == {"mentorlink-web", "mentorlink-worker", "mentorlink-beat"}
    expected = {
        "mentorlink-web": "gunicorn -c deploy/gunicorn.conf.py mentorship.wsgi:application",
        "mentorlink-worker": "celery -A mentorship worker",
        "mentorlink-beat": "celery -A mentorship beat",
    }
    for name, text in units.items():
        assert "EnvironmentFile=/etc/mentorlink/env" in text and "User=mentorlink" in text, name
        assert expected[name] in text, name
        assert not re.search(r"^ExecStart=.*(token|secret|password)", text, re.IGNORECASE | re.MULTILINE), name

"""/metrics: every series the operations guide lists, and nothing for a caller without the credential
(docs/operations.md, "Metrics")."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from mentorship.audit.models import AuditVerification
from mentorship.sync.models import CanvasConnection, ObserverLink, SisBatch
from tests.conftest import login

pytestmark = pytest.mark.django_db
TOKEN = "metrics-scraper-token-0123456789"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return settings


def _scrape(client) -> dict[str, list]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def test_metrics_exposes_every_series(client, metrics_on, assignment) -> None:
    ObserverLink.objects.create(assignment=assignment, kind="observee", observer_canvas_id=1, student_canvas_id=2)
    ObserverLink.objects.create(
        assignment=assignment, kind="course", observer_canvas_id=1, student_canvas_id=2, state="failed"
    )
    SisBatch.objects.create(rows=3, workflow_state="imported")
    SisBatch.objects.create(rows=1, workflow_state="failed_with_messages")
    CanvasConnection.objects.update_or_create(pk=1, defaults={"circuit": CanvasConnection.Circuit.OPEN})
    finished = timezone.now() - datetime.timedelta(hours=2)
    AuditVerification.objects.create(started_at=finished, finished_at=finished, state=AuditVerification.State.OK)
    client.get("/accounts/login/")

    series = _scrape(client)

    latency = {s.labels.get("view") for s in series["mentorlink_http_request_duration_seconds"]}
    assert "accounts:login" in latency
    links = {s.labels["state"]: s.value for s in series["mentorlink_links"]}
    assert links["pending"] == 1 and links["failed"] == 1 and links["linked"] == 0
    assert series["mentorlink_links_needing_work"][0].value == 1
    assert "mentorlink_queue_messages" in series
    assert series["mentorlink_canvas_circuit_open"][0].value == 1
    assert "mentorlink_canvas_rate_limit_remaining" in series
    assert "mentorlink_canvas_concurrency_limit" in series
    sis = {s.labels["state"]: s.value for s in series["mentorlink_sis_batches"]}
    assert sis == {"imported": 1, "failed_with_messages": 1}
    age = series["mentorlink_audit_verification_age_seconds"][0].value
    assert 7100 < age < 7300
    assert series["mentorlink_audit_verification_ok"][0].value == 1


def test_metrics_is_refused_without_the_token(client, metrics_on, admin_user) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    login(client, admin_user)  # a signed-in administrator is not a scraper
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert b"mentorlink_links" not in refused.content


def test_metrics_from_an_allowed_address(client, settings, db) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.2.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 401


def test_metrics_does_not_exist_when_nothing_is_configured(client, settings, db) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_the_grafana_dashboard_charts_every_series_metrics_exposes() -> None:
    import json
    from pathlib import Path

    dashboard = json.loads(
        (Path(__file__).resolve().parents[2] / "deploy/grafana/mentorlink-dashboard.json").read_text()
    )
    queries = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])
    for series in (
        "mentorlink_http_request_duration_seconds",
        "mentorlink_links",
        "mentorlink_queue_messages",
        "mentorlink_canvas_circuit_open",
        "mentorlink_canvas_rate_limit_remaining",
        "mentorlink_sis_batches",
        "mentorlink_audit_verification_age_seconds",
    ):
        assert series in queries, series


def test_with_a_multiprocess_folder_every_process_latency_is_added_up(tmp_path) -> None:
    """gunicorn's workers are separate processes: with PROMETHEUS_MULTIPROC_DIR each writes its histogram to a file
    there and /metrics sums them. Two processes answer a request each; a third scrapes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = """
import os, sys, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
if sys.argv[1] == "request":
    client.get("/accounts/login/")
else:
    from unittest import mock
    from mentorship.metrics import collectors
    with mock.patch.object(collectors.PortalCollector, "collect", return_value=iter(())):
        print(client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + os.environ["METRICS_TOKEN"]).content.decode())
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mentorship.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
    }
    root = Path(__file__).resolve().parents[2]
    for role in ("request", "request", "scrape"):
        result = subprocess.run(
            [sys.executable, "-c", code, role], cwd=root, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr[-2000:]
    samples = {
        (s.name, s.labels.get("view")): s.value
        for family in text_string_to_metric_families(result.stdout)
        for s in family.samples
    }
    assert samples[("mentorlink_http_request_duration_seconds_count", "accounts:login")] == 2

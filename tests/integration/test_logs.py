"""The logs of a real run: every line is JSON, no secret the run used appears in any of them, and the request id of
a request is found in the lines of the task it published (docs/operations.md, "Logs")."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from mentorship.api.services import api_token_issue
from mentorship.core.logging import RedactSecretsFilter
from mentorship.core.structured_logging import formatter
from mentorship.people.models import Person
from mentorship.sync.models import PairingCode
from tests.conftest import PASSWORD
from tests.factories import propose
from tests.helpers import wait_until
from tests.integration.test_walking_skeleton import _canvas_person
from tests.stack import ADMIN_TOKEN, OAUTH_CLIENT_SECRET

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web_log(stack_log_dir: Path) -> Iterator[Path]:
    """This process plays the web server: its lines go to a file beside the worker's, formatted as in production."""
    path = stack_log_dir / "web-test-logs.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(formatter(json=True))
    handler.addFilter(RedactSecretsFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield path
    root.removeHandler(handler)
    handler.close()


def _approve(client, coordinator, program, mentor: Person, student: Person, method: str) -> tuple[int, str]:
    """Proposed by the service, approved through the page: the approving request is the one whose id we follow."""
    assignment = propose(program, coordinator, mentor, student, reason="Log test", link_method=method)
    response = client.post(f"/assignments/{assignment.pk}/approve/", {"note": "ok"})
    assert response.status_code == 302
    return assignment.pk, response["X-Request-Id"]


def _json_lines(paths: list[Path]) -> list[dict]:
    lines = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
    return lines


def test_no_secret_in_any_log_line_and_the_request_id_reaches_the_task(
    client, stack, coordinator, program, web_log, stack_log_dir
) -> None:
    canvas = stack.canvas
    course = canvas.client().create_course("1", name="Biology", course_code="BIO", sis_course_id="LOG-BIO")
    signed_in = client.post("/accounts/login/", {"username": coordinator.username, "password": PASSWORD})
    assert signed_in.status_code == 302
    mentor = _canvas_person(canvas, "Logan Mentor", "LOG-M-1")
    student = _canvas_person(canvas, "Lee Student", "LOG-S-1", student_in_course=course.id)
    coded_mentor = _canvas_person(canvas, "Pat Coded", "LOG-M-2")
    coded_student = _canvas_person(canvas, "Kim Coded", "LOG-S-2", student_in_course=course.id)

    _, request_id = _approve(client, coordinator, program, mentor, student, "observee")
    coded_id, _ = _approve(client, coordinator, program, coded_mentor, coded_student, "pairing_code")
    wait_until(
        lambda: PairingCode.objects.filter(assignment_id=coded_id).exists(),
        timeout=60,
        message="the worker to ask Canvas for the pairing code",
    )
    _, api_token = api_token_issue(name="SIS nightly", programs=[program])
    assert client.get("/api/v1/assignments", HTTP_AUTHORIZATION=f"Bearer {api_token}").status_code == 200
    assert client.get("/api/v1/assignments", HTTP_AUTHORIZATION=f"Bearer {api_token}x").status_code == 401
    worker_log = stack.worker.log_path
    wait_until(
        lambda: any(
            line.get("request_id") == request_id and line.get("task_name") == "sync.sync_link"
            for line in _json_lines([worker_log])
        ),
        timeout=60,
        message="the sync task's log lines to carry the approving request's id",
    )

    task_lines = [line for line in _json_lines([worker_log]) if line.get("request_id") == request_id]
    assert all(line.get("task_id") for line in task_lines), "a task's lines carry its Celery task id"

    secrets = {
        "the coordinator's password": PASSWORD,
        "the portal's Canvas token": ADMIN_TOKEN,
        "the OAuth client secret": OAUTH_CLIENT_SECRET,
        "the secret key": settings.SECRET_KEY,
        "the SIS API token": api_token,
        **{f"pairing code {n}": code for n, code in enumerate(PairingCode.objects.values_list("code", flat=True))},
    }
    assert all(len(value) >= 6 for value in secrets.values())
    logs = [*sorted(stack_log_dir.glob("celery-*.log")), web_log]
    for path in logs:
        text = path.read_text(errors="replace")
        for what, value in secrets.items():
            assert value not in text, f"{what} is in {path.name}"

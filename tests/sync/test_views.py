"""Sync pages: who may see and do what (everyone else gets a 404), and what they see."""

from __future__ import annotations

import pytest

from mentorship.sync.models import CanvasConnection, ObserverLink
from tests.conftest import login
from tests.sync.conftest import approved

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_link(program, mentor_person, student_person):
    a = approved(program, mentor_person, student_person)
    link = a.links.get()
    ObserverLink.objects.filter(pk=link.pk).update(
        state="failed",
        attempts=1,
        last_error="Canvas says this user or link does not exist (404).",
        last_error_status=404,
    )
    return link


def test_retry_now_is_post_only_for_the_programs_coordinator(
    client, failed_link, coordinator, other_coordinator, mentor, auditor
):
    url = f"/sync/links/{failed_link.pk}/retry/"
    for outsider in (other_coordinator, mentor, auditor):
        login(client, outsider)
        assert client.post(url).status_code == 404
    login(client, coordinator)
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == f"/assignments/{failed_link.assignment_id}/"
    failed_link.refresh_from_db()
    assert failed_link.state == "pending"
    # htmx gets the fragment back.
    ObserverLink.objects.filter(pk=failed_link.pk).update(state="failed")
    fragment = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="sync-links"' in fragment and "Waiting to sync" in fragment


def test_links_fragment_shows_the_sentence_and_the_retry_button(client, failed_link, coordinator, other_coordinator):
    login(client, other_coordinator)
    assert client.get(f"/sync/assignments/{failed_link.assignment_id}/links/").status_code == 404
    login(client, coordinator)
    page = client.get(f"/sync/assignments/{failed_link.assignment_id}/links/").content.decode()
    assert "Failed: Canvas says this user or link does not exist (404)." in page
    assert "Retry now" in page and "Attempts" in page


def test_connection_page_and_banner(client, coordinator, mentor, admin_user, failed_link):
    login(client, mentor)
    assert client.get("/sync/connection/").status_code == 404
    login(client, coordinator)
    page = client.get("/sync/connection/").content.decode()
    assert "Canvas connection" in page and "Working" in page and "Queue depth" in page
    assert "No SIS imports yet" in page
    assert "Canvas work has stopped" not in page
    CanvasConnection.get()
    CanvasConnection.objects.filter(pk=1).update(circuit="open", last_error="Canvas rejected the portal's access token")
    page = client.get("/sync/connection/").content.decode()
    assert "Canvas work has stopped" in page and "Stopped" in page
    login(client, admin_user)
    assert client.get("/sync/connection/panel/").status_code == 200


def test_drift_page_and_run_form(
    client,
    coordinator,
    other_coordinator,
    program,
    other_program,
    mentor,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    login(client, mentor)
    assert client.get("/sync/drift/").status_code == 404
    login(client, coordinator)
    assert "No drift needs attention" in client.get("/sync/drift/").content.decode()
    from mentorship.sync import views

    started = []
    monkeypatch.setattr(views, "_start_run", lambda task, run_id: started.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/sync/drift/run/", {"program": program.pk, "dry_run": "on"})
    assert response.status_code == 302 and len(started) == 1
    # A program the coordinator does not run is refused.
    assert client.post("/sync/drift/run/", {"program": other_program.pk}).status_code == 404


def test_sis_csv_download_is_audited_and_scoped(
    client, coordinator, other_coordinator, program, mentor_person, student_person
):
    approved(program, mentor_person, student_person)
    login(client, other_coordinator)
    assert client.get(f"/sync/programs/{program.pk}/user_observers.csv").status_code == 404
    login(client, coordinator)
    response = client.get(f"/sync/programs/{program.pk}/user_observers.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content.decode().splitlines() == ["observer_id,student_id,status", "AIDE-001,S-0001,active"]
    from mentorship.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="canvas.sis_csv_downloaded").count() == 1


def test_drift_page_names_people_and_removal_is_scoped(
    client, coordinator, other_coordinator, program, mentor_person, student_person
):
    from django.utils import timezone

    from mentorship.sync.models import DriftItem, ReconciliationRun

    run = ReconciliationRun.objects.create(program=program, started_at=timezone.now(), status="done")
    item = DriftItem.objects.create(
        run=run,
        program=program,
        kind="unexpected",
        observer_canvas_id=student_person.canvas_user_id,
        student_canvas_id=mentor_person.canvas_user_id,
        detail="The observer is a student in this program.",
    )
    login(client, other_coordinator)
    assert client.post(f"/sync/drift/items/{item.pk}/remove/").status_code == 404
    assert "Sasha Student" not in client.get("/sync/drift/").content.decode()
    login(client, coordinator)
    page = client.get("/sync/drift/").content.decode()
    assert "Sasha Student" in page and "Morgan Mentor" in page and "Remove from Canvas" in page
    assert client.get(f"/sync/drift/items/{item.pk}/remove/").status_code == 405


def test_admins_run_reconciliation_for_recovery_but_leave_removals_to_coordinators(client, admin_user, program):
    """After a restore an admin who coordinates nothing must be able to run the documented recovery step."""
    from mentorship.sync.models import ReconciliationRun

    login(client, admin_user)
    page = client.get("/sync/drift/").content.decode()
    assert "Drift report" in page and "Run reconciliation" in page
    response = client.post("/sync/drift/run/", {"program": program.pk, "dry_run": "on"})
    assert response.status_code == 302
    run = ReconciliationRun.objects.get()
    assert run.program_id == program.pk and run.dry_run


def test_coordinator_reissues_a_pairing_code(client, coordinator, other_coordinator, program, fake, school, portal):
    from mentorship.assignments.models import LinkMethod
    from mentorship.sync.models import PairingCode
    from tests.sync.conftest import sync_all

    mentor, student = school.person("M", "AIDE-V1"), school.person("S", "S-V1", student=True)
    assignment = approved(program, mentor, student, method=LinkMethod.PAIRING_CODE)
    sync_all(assignment)
    first = PairingCode.objects.get()
    login(client, other_coordinator)
    assert client.post(f"/sync/assignments/{assignment.pk}/pairing-code/").status_code == 404
    login(client, coordinator)
    fragment = client.get(f"/sync/assignments/{assignment.pk}/links/").content.decode()
    assert "Send a new pairing code" in fragment and first.code not in fragment
    response = client.post(f"/sync/assignments/{assignment.pk}/pairing-code/", follow=True)
    assert response.status_code == 200
    first.refresh_from_db()
    assert first.status == "superseded"
    new = PairingCode.objects.get(status="issued")
    assert new.masked in response.content.decode() and new.code not in response.content.decode()


def test_connection_panel_tag_renders_anywhere(db):
    from django.template import Context, Template

    html = Template("{% load sync_tags %}{% connection_panel %}").render(Context({}))
    assert "Canvas connection" in html and "Queue depth" in html and "Working" in html


def test_links_fragment_polls_only_while_work_is_left(client, coordinator, failed_link):
    login(client, coordinator)
    url = f"/sync/assignments/{failed_link.assignment_id}/links/"
    assert "hx-trigger" not in client.get(url).content.decode()
    ObserverLink.objects.filter(pk=failed_link.pk).update(state="pending")
    assert 'hx-trigger="every 5s"' in client.get(url).content.decode()

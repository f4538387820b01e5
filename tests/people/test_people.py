"""People: search Canvas, add, bulk add by SIS id, refresh, batch resolution; pages only for coordinators/admins."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mentorship.audit.models import AuditEvent
from mentorship.people import services
from mentorship.people.models import Person
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory


def msgs(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_search_canvas_needs_three_characters(canvas):
    with pytest.raises(services.PersonError, match="at least 3"):
        services.people_search_canvas(term="ab")


def test_search_canvas_finds_by_name_and_sis(canvas):
    canvas.user("Alex Aide", "AIDE-014")
    assert [u.name for u in services.people_search_canvas(term="Alex")] == ["Alex Aide"]
    assert [u.sis_user_id for u in services.people_search_canvas(term="AIDE-014")] == ["AIDE-014"]


def test_search_canvas_down_is_a_sentence(db):
    with pytest.raises(services.PersonError, match="Canvas could not be reached"):
        services.people_search_canvas(term="Alex")


def test_add_and_refresh_are_audited(canvas, coordinator):
    user = canvas.user("Alex Aide", "AIDE-014", courses=(canvas.algebra,))
    person, created = services.person_add_from_canvas(canvas_user_id=user["id"], actor=coordinator)
    assert created and person.sis_user_id == "AIDE-014"
    canvas.fake.state.users[user["id"]]["name"] = "Alex A. Aide"
    services.person_refresh(person=person, actor=coordinator)
    person.refresh_from_db()
    assert person.name == "Alex A. Aide" and person.is_canvas_student is True
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "person.added",
        "person.refreshed",
    ]


def test_bulk_add_by_sis_ids(canvas, coordinator):
    canvas.user("Alex Aide", "AIDE-014")
    known = PersonFactory(sis_user_id="S-1")
    rows = services.people_add_by_sis_ids(sis_ids=["AIDE-014", "S-1", "NOPE", "AIDE-014"], actor=coordinator)
    assert [(r.sis_user_id, r.created, r.error) for r in rows] == [
        ("AIDE-014", True, ""),
        ("S-1", False, ""),
        ("NOPE", False, "Canvas has no user with this SIS id."),
    ]
    assert rows[1].person == known


def test_student_status_is_cached(canvas):
    person = canvas.person("Pat Peer", "S-1187", courses=(canvas.algebra,))
    assert services.person_student_status(person=person) is True
    for enrollment in list(canvas.fake.state.enrollments.values()):
        canvas.fake.state.set_enrollment_state(enrollment, "deleted")
    assert services.person_student_status(person=person) is True  # cached
    assert services.person_student_status(person=person, max_age=datetime.timedelta(0)) is False


def test_student_status_unknown_when_canvas_is_down(db, canvas_down):
    person = PersonFactory()
    assert services.person_student_status(person=person) is None
    person.refresh_from_db()
    assert person.student_checked_at is None


def test_resolve_matches_sis_login_and_canvas_ids_in_one_query(db):
    a = PersonFactory(sis_user_id="A-1")
    b = PersonFactory(login_id="Bee@School.test")
    c = PersonFactory(canvas_user_id=987654)
    with CaptureQueriesContext(connection) as ctx:
        r = services.people_resolve(
            identifiers=["A-1", "sis_user_id:A-1", "bee@school.test", "sis_login_id:BEE@school.test", "987654"]
        )
    assert len(ctx.captured_queries) == 1
    assert r.known == {
        "A-1": a,
        "sis_user_id:A-1": a,
        "bee@school.test": b,
        "sis_login_id:BEE@school.test": b,
        "987654": c,
    }


def test_resolve_looks_up_unknown_people_in_canvas(canvas):
    canvas.user("Alex Aide", "AIDE-014")
    r = services.people_resolve(identifiers=["sis_user_id:AIDE-014", "GHOST"])
    assert r.from_canvas["sis_user_id:AIDE-014"].name == "Alex Aide"
    assert "No one in Canvas" in r.errors["GHOST"]
    assert not Person.objects.exists()


# --- pages -------------------------------------------------------------------------------------------------------


def test_people_pages_refuse_mentors_and_auditors(client, mentor, auditor, mentor_person):
    for user in (mentor, auditor):
        login(client, user)
        assert client.get(reverse("people:list")).status_code == 404
        assert client.get(reverse("people:detail", args=[mentor_person.pk])).status_code == 404
        assert client.post(reverse("people:refresh", args=[mentor_person.pk])).status_code == 404


def test_people_list_searches_portal_and_canvas(client, coordinator, canvas):
    canvas.user("Alex Aide", "AIDE-014")
    PersonFactory(name="Alexa Known")
    login(client, coordinator)
    body = client.get(reverse("people:list"), {"q": "Alex", "canvas": "1"}).content.decode()
    assert "Alexa Known" in body and "Alex Aide" in body


def test_add_view_and_refresh_view(client, coordinator, canvas):
    user = canvas.user("Alex Aide", "AIDE-014")
    login(client, coordinator)
    response = client.post(reverse("people:add"), {"canvas_user_id": user["id"]})
    person = Person.objects.get(canvas_user_id=user["id"])
    assert response["Location"] == reverse("people:detail", args=[person.pk])
    assert "Alex Aide (AIDE-014) added from Canvas." in msgs(response)
    response = client.post(reverse("people:refresh", args=[person.pk]))
    assert "Refreshed from Canvas." in msgs(response)
    assert client.get(reverse("people:refresh", args=[person.pk])).status_code == 405


def test_refresh_view_when_canvas_is_down(client, coordinator, mentor_person):
    login(client, coordinator)
    response = client.post(reverse("people:refresh", args=[mentor_person.pk]))
    assert any("Canvas could not" in m for m in msgs(response))


def test_bulk_add_view(client, coordinator, canvas):
    canvas.user("Alex Aide", "AIDE-014")
    login(client, coordinator)
    response = client.post(reverse("people:bulk_add"), {"sis_ids": "sis_user_id\nAIDE-014\nNOPE\n"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Added" in body and "Canvas has no user with this SIS id." in body


def test_person_detail_shows_only_my_programs_assignments(client, coordinator, program, other_program, mentor_person):
    mine = AssignmentFactory(program=program, mentor=mentor_person, starts_on=timezone.localdate())
    theirs = AssignmentFactory(program=other_program, mentor=mentor_person)
    login(client, coordinator)
    response = client.get(reverse("people:detail", args=[mentor_person.pk]))
    assert [a.pk for a in response.context["assignments"]] == [mine.pk]
    assert theirs.pk not in [a.pk for a in response.context["assignments"]]

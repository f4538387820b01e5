"""The assignment list at scale: name sort keys copied onto assignments, search by name / SIS id / login, the
page + count strategy (see docs/decisions.md, "Assignment list: denormalised name sort keys, trigram search, ids
first, a capped count")."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from canvas_client.models import CanvasUser
from mentorship.assignments import selectors
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.people.services import person_upsert_from_canvas
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory


def listed(client, **query) -> list[MentorAssignment]:
    response = client.get(reverse("assignments:list"), query)
    assert response.status_code == 200
    return list(response.context["page"].items)


@pytest.fixture
def people(db):
    return {
        name: PersonFactory(name=name, sortable_name=sortable)
        for name, sortable in [
            ("Alice Aide", "Aide, Alice"),
            ("bob buddy", "buddy, bob"),  # lower case sorts with the others, not after them
            ("Carol Coach", "Coach, Carol"),
            ("Dan Nosort", ""),  # no sortable name: sorts by the name
        ]
    }


def test_sort_keys_are_filled_on_create_and_bulk_create(program, people):
    created = AssignmentFactory(program=program, mentor=people["Alice Aide"], student=people["Dan Nosort"])
    assert (created.mentor_sort, created.student_sort) == ("aide, alice", "dan nosort")
    [bulk] = MentorAssignment.objects.bulk_create(
        [
            MentorAssignment(
                program=program,
                mentor_id=people["bob buddy"].pk,
                student_id=people["Carol Coach"].pk,
                starts_on=created.starts_on,
                ends_on=created.ends_on,
                link_method=LinkMethod.OBSERVEE,
                reason="csv",
            )
        ]
    )
    bulk = MentorAssignment.objects.get(pk=bulk.pk)
    assert (bulk.mentor_sort, bulk.student_sort) == ("buddy, bob", "coach, carol")


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("mentor", ["Alice Aide", "bob buddy", "Carol Coach", "Dan Nosort"]),
        ("-mentor", ["Dan Nosort", "Carol Coach", "bob buddy", "Alice Aide"]),
    ],
)
def test_list_sorts_by_mentor_name_both_ways(client, coordinator, program, people, sort, expected):
    for name in ["Carol Coach", "Dan Nosort", "Alice Aide", "bob buddy"]:
        AssignmentFactory(program=program, mentor=people[name])
    login(client, coordinator)
    assert [a.mentor.name for a in listed(client, sort=sort)] == expected


def test_list_sorts_by_student_name_ties_by_id(client, coordinator, program, people):
    first = AssignmentFactory(program=program, student=people["Carol Coach"])
    second = AssignmentFactory(program=program, student=people["Carol Coach"])
    third = AssignmentFactory(program=program, student=people["Alice Aide"])
    login(client, coordinator)
    assert [a.pk for a in listed(client, sort="student")] == [third.pk, first.pk, second.pk]
    assert [a.pk for a in listed(client, sort="-student")] == [second.pk, first.pk, third.pk]


def test_sort_keys_follow_a_rename_from_canvas(client, coordinator, program, people):
    carol = people["Carol Coach"]
    as_mentor = AssignmentFactory(program=program, mentor=carol)
    as_student = AssignmentFactory(program=program, student=carol)
    bobs = AssignmentFactory(program=program, mentor=people["bob buddy"])
    login(client, coordinator)
    order = [a.pk for a in listed(client, sort="mentor")]
    assert order.index(bobs.pk) < order.index(as_mentor.pk)  # "buddy, bob" before "coach, carol"
    person_upsert_from_canvas(
        canvas_user=CanvasUser(id=carol.canvas_user_id, name="Carol Able", sortable_name="Able, Carol"),
        system_actor="test",
    )
    as_mentor.refresh_from_db()
    as_student.refresh_from_db()
    assert as_mentor.mentor_sort == "able, carol" and as_student.student_sort == "able, carol"
    order = [a.pk for a in listed(client, sort="mentor")]
    assert order.index(as_mentor.pk) < order.index(bobs.pk)  # "able, carol" now


def test_saving_other_fields_leaves_the_sort_keys_alone(program, people):
    assignment = AssignmentFactory(program=program, mentor=people["Alice Aide"])
    MentorAssignment.objects.filter(pk=assignment.pk).update(mentor_sort="sentinel")
    alice = people["Alice Aide"]
    alice.email = "alice@example.test"
    alice.save(update_fields=["email"])
    assert MentorAssignment.objects.get(pk=assignment.pk).mentor_sort == "sentinel"
    alice.save()
    assert MentorAssignment.objects.get(pk=assignment.pk).mentor_sort == "aide, alice"


def test_migration_fills_sort_keys_of_existing_rows(program, people):
    assignment = AssignmentFactory(program=program, mentor=people["Alice Aide"], student=people["Dan Nosort"])
    MentorAssignment.objects.update(mentor_sort="", student_sort="")
    migration = importlib.import_module("mentorship.assignments.migrations.0004_list_sort_keys")
    migration.fill_sort_keys(apps, None)
    assignment.refresh_from_db()
    assert (assignment.mentor_sort, assignment.student_sort) == ("aide, alice", "dan nosort")


# --- search ------------------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(program, other_program):
    mentor = PersonFactory(name="Morgan Mentor", sis_user_id="AIDE-001", login_id="mmentor@school.test")
    student = PersonFactory(name="Sasha Student", sis_user_id="S-0001", login_id="sasha@school.test")
    found = AssignmentFactory(program=program, mentor=mentor, student=student, reason="Reading buddy")
    # Names without digits: a search for an assignment's id must not also match "Person 12" by name.
    unrelated = AssignmentFactory(
        program=program,
        mentor=PersonFactory(name="Uma Unrelated"),
        student=PersonFactory(name="Vic Visitor"),
        reason="Maths",
    )
    hidden = AssignmentFactory(program=other_program, mentor=mentor, student=student)
    return found, unrelated, hidden


@pytest.mark.parametrize(
    "term",
    ["organ Men", "sasha student", "AIDE-001", "aide-001", "s-0001", "MMENTOR@school.test", "reading bud"],
)
def test_search_finds_by_name_part_sis_id_login_and_reason(client, coordinator, searchable, term):
    found, _, _ = searchable
    login(client, coordinator)
    assert [a.pk for a in listed(client, q=term)] == [found.pk]


def test_search_by_id_and_no_partial_sis_match(client, coordinator, searchable):
    found, _, _ = searchable
    login(client, coordinator)
    assert [a.pk for a in listed(client, q=str(found.pk))] == [found.pk]
    assert listed(client, q="AIDE-00") == []  # SIS ids and logins match whole, names in part


@pytest.mark.parametrize("limit", ["SEARCH_PEOPLE_LIMIT", "SEARCH_ASSIGNMENTS_LIMIT"])
def test_search_matching_many_uses_subqueries(client, coordinator, searchable, monkeypatch, limit):
    found, unrelated, _ = searchable
    monkeypatch.setattr(selectors, limit, 1)
    AssignmentFactory.create_batch(2, program=found.program)  # more people and assignments match than the limit
    login(client, coordinator)
    # "Person" is in the factory's default names: several people match, the list must still be right.
    shown = {a.pk for a in listed(client, q="Person")}
    assert len(shown) == 2 and found.pk not in shown and unrelated.pk not in shown
    in_program = MentorAssignment.objects.filter(program=found.program)
    named = in_program.filter(mentor__name__contains="Person") | in_program.filter(student__name__contains="Person")
    assert shown == {a.pk for a in named}


# --- pages and counts --------------------------------------------------------------------------------------------


def test_counts_without_a_count_query_when_everything_fits(client, coordinator, program):
    AssignmentFactory.create_batch(3, program=program)
    login(client, coordinator)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("assignments:list"))
    page = response.context["page"]
    assert (page.total, page.total_capped, page.has_next) == (3, False, False)
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert "3 assignments match" in response.content.decode()


def test_counts_across_pages_and_past_the_end(client, coordinator, program, monkeypatch):
    monkeypatch.setattr(selectors, "PAGE_SIZE", 2)
    AssignmentFactory.create_batch(5, program=program)
    login(client, coordinator)
    qs = selectors.assignments_for_coordinator(user=coordinator).order_by("-id")
    first = selectors.assignments_page(qs=qs, page=1, size=2)
    last = selectors.assignments_page(qs=qs, page=3, size=2)
    beyond = selectors.assignments_page(qs=qs, page=9, size=2)
    assert (first.total, first.has_next, len(first.items)) == (5, True, 2)
    assert (last.total, last.has_next, len(last.items)) == (5, False, 1)
    assert (beyond.total, beyond.items) == (5, [])
    absurd = selectors.assignments_page(qs=qs, page=10**20, size=2)
    assert (absurd.number, absurd.items, absurd.total) == (selectors.MAX_PAGE, [], 5)
    everything = [a.pk for p in (1, 2, 3) for a in selectors.assignments_page(qs=qs, page=p, size=2).items]
    assert everything == sorted(everything, reverse=True) and len(set(everything)) == 5


def test_count_is_capped(coordinator, program, monkeypatch):
    monkeypatch.setattr(selectors, "COUNT_CAP", 3)
    AssignmentFactory.create_batch(6, program=program)
    qs = selectors.assignments_for_coordinator(user=coordinator).order_by("id")
    page = selectors.assignments_page(qs=qs, page=1, size=2)
    assert (page.total, page.total_capped) == (3, True)


def test_page_items_keep_the_sort_order_and_scope(coordinator, program, other_program):
    mine = [AssignmentFactory(program=program) for _ in range(4)]
    AssignmentFactory(program=other_program)
    qs = selectors.assignments_filtered(user=coordinator, filters=selectors.ListFilters(sort="oldest"))
    page = selectors.assignments_page(qs=qs, page=1, size=10)
    assert [a.pk for a in page.items] == [a.pk for a in mine]

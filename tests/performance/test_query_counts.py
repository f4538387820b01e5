"""Each page's query count does not grow with the number of rows it shows (no N+1 queries).

Every test renders a page with a few rows, adds many more (still one page), renders it again and asserts the same
number of queries, and that the extra rows really are on the page. benchmarks/pages.py measures the same pages'
server time at 100,000 assignments.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments.models import AssignmentCourse, LinkMethod, MentorAssignment
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record
from mentorship.sync.models import DriftItem, ObserverLink, PairingCode, ReconciliationRun
from tests.conftest import login
from tests.factories import AssignmentFactory, PersonFactory, observee_link

FEW = 2
MANY = 25
Status = MentorAssignment.Status


def queries_for(client, url: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.status_code
    return len(queries.captured_queries), response


def assert_flat(client, url: str, add_rows: Callable[[int, int], None], shown: Callable[[Any], int]) -> None:
    """Rows FEW, then MANY: same number of queries, and the page shows every row both times."""
    add_rows(0, FEW)
    client.get(url)  # first request of the session: sessions, caches and the like settle here
    few, response = queries_for(client, url)
    assert shown(response) == FEW
    add_rows(FEW, MANY)
    many, response = queries_for(client, url)
    assert shown(response) == MANY
    assert many == few, f"{url}: {few} queries with {FEW} rows, {many} with {MANY}"


def failed_link(assignment: MentorAssignment, **extra: Any) -> ObserverLink:
    return ObserverLink.objects.create(
        assignment=assignment,
        kind=ObserverLink.Kind.OBSERVEE,
        observer_canvas_id=assignment.mentor.canvas_user_id,
        student_canvas_id=assignment.student.canvas_user_id,
        state=ObserverLink.State.FAILED,
        last_error="Canvas refused the link.",
        **extra,
    )


def test_dashboard(client, coordinator, program):
    login(client, coordinator)
    today = timezone.localdate()
    run = ReconciliationRun.objects.create(program=program, started_at=timezone.now(), status="done")

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            a = AssignmentFactory(
                program=program,
                status=Status.APPROVED,
                starts_on=today - datetime.timedelta(days=30),
                ends_on=today + datetime.timedelta(days=1 + i % 10),
                link_state=MentorAssignment.LinkState.FAILED,
                decided_by=coordinator,
            )
            failed_link(a)
            DriftItem.objects.create(
                run=run, program=program, kind="missing", observer_canvas_id=1000 + i, student_canvas_id=2000 + i
            )

    # The dashboard lists at most 10 failures, 5 drift items and 20 endings: count what it says it has. `fresh`
    # skips the 30-second cache of its figures (measured: the queries behind them).
    url = reverse("core:dashboard") + "?fresh=1"
    assert_flat(client, url, add, lambda r: r.context["failures_total"])


def test_dashboard_figures_are_kept_for_a_short_while(client, coordinator, program):
    login(client, coordinator)
    AssignmentFactory(program=program)
    url = reverse("core:dashboard")

    def proposed(response: Any) -> int:
        return {value: n for _, n, value in response.context["by_status"]}["proposed"]

    first, response = queries_for(client, url)
    assert proposed(response) == 1
    AssignmentFactory(program=program)
    kept, again = queries_for(client, url)
    assert proposed(again) == 1 and again.context["as_of"] == response.context["as_of"]
    assert kept < first  # the cached figures cost no aggregate queries
    assert "Refresh now" in again.content.decode()
    _, fresh = queries_for(client, url, {"fresh": "1"})
    assert proposed(fresh) == 2


def test_dashboard_shows_an_audited_change_at_once(client, coordinator, program, django_capture_on_commit_callbacks):
    """The kept figures are dropped as soon as a decision (or a Canvas change) in the program is recorded."""
    from mentorship.assignments.services import assignment_reject

    login(client, coordinator)
    waiting = AssignmentFactory(program=program)
    url = reverse("core:dashboard")

    def counts(response: Any) -> dict[str, int]:
        return {value: n for _, n, value in response.context["by_status"]}

    _, before = queries_for(client, url)
    assert counts(before)["proposed"] == 1 and counts(before)["rejected"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        assignment_reject(assignment=waiting, actor=coordinator, reason="The student left the school.")
    _, after = queries_for(client, url)
    assert counts(after)["proposed"] == 0 and counts(after)["rejected"] == 1
    # A read of student data is audited too, but changes no figure: the kept ones stay.
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(action=Action.STUDENT_DATA_VIEWED, actor=coordinator, program=program)
    _, again = queries_for(client, url)
    assert again.context["as_of"] == after.context["as_of"]


def test_assignment_list(client, coordinator, program):
    login(client, coordinator)

    def add(start: int, stop: int) -> None:
        for _ in range(start, stop):
            failed_link(AssignmentFactory(program=program, link_state=MentorAssignment.LinkState.FAILED))

    assert_flat(client, reverse("assignments:list"), add, lambda r: len(r.context["page"].items))


def test_assignment_list_filtered(client, coordinator, program):
    login(client, coordinator)
    url = reverse("assignments:list") + "?status=approved&link_state=failed&attention=on"

    def add(start: int, stop: int) -> None:
        for _ in range(start, stop):
            AssignmentFactory(program=program, status=Status.APPROVED, link_state=MentorAssignment.LinkState.FAILED)

    assert_flat(client, url, add, lambda r: len(r.context["page"].items))


def test_assignment_detail(client, coordinator, assignment):
    login(client, coordinator)
    assignment.scope = MentorAssignment.Scope.COURSES
    assignment.save()

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            AssignmentCourse.objects.create(assignment=assignment, canvas_course_id=500 + i, name=f"Course {i}")
            link = observee_link(
                assignment, state=ObserverLink.State.LINKED, kind=ObserverLink.Kind.COURSE, canvas_course_id=500 + i
            )
            audit_record(
                action=Action.CANVAS_LINKED, system_actor="system:worker", obj=link, program=assignment.program
            )

    assert_flat(
        client,
        reverse("assignments:detail", args=[assignment.pk]),
        add,
        # Every link and its event on the timeline.
        lambda r: len(r.context["links"]) if len(r.context["timeline"]) == len(r.context["links"]) else -1,
    )


def test_people_list(client, coordinator):
    login(client, coordinator)

    def add(start: int, stop: int) -> None:
        PersonFactory.create_batch(stop - start)

    assert_flat(client, reverse("people:list"), add, lambda r: len(r.context["people"]))


def test_drift_page(client, coordinator, program, mentor_person, student_person):
    login(client, coordinator)
    run = ReconciliationRun.objects.create(program=program, started_at=timezone.now(), status="done")
    preview = ReconciliationRun.objects.create(program=program, started_at=timezone.now(), status="done", dry_run=True)

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            for r, status in ((run, DriftItem.Status.OPEN), (preview, DriftItem.Status.PREVIEW)):
                DriftItem.objects.create(
                    run=r,
                    program=program,
                    kind="unexpected" if i % 2 else "missing",
                    status=status,
                    observer_canvas_id=mentor_person.canvas_user_id,
                    student_canvas_id=PersonFactory().canvas_user_id,
                )

    assert_flat(client, reverse("sync:drift"), add, lambda r: len(r.context["items"]))


def test_audit_log(client, auditor, coordinator, program, student_person):
    login(client, auditor)

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            audit_record(
                action=Action.STUDENT_DATA_VIEWED if i % 2 else Action.ASSIGNMENT_PROPOSED,
                actor=coordinator,
                program=program,
                student=student_person,
                details={"i": i},
            )

    assert_flat(client, reverse("audit:log"), add, lambda r: len(r.context["page"].events))


def test_evidence_report(client, auditor, coordinator, program, student_person):
    login(client, auditor)
    today = timezone.localdate()

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            a = AssignmentFactory(
                program=program,
                student=student_person,
                status=Status.APPROVED,
                decided_by=coordinator,
                decided_at=timezone.now(),
                scope=MentorAssignment.Scope.COURSES,
                starts_on=today - datetime.timedelta(days=i),
            )
            AssignmentCourse.objects.create(assignment=a, canvas_course_id=700 + i, name=f"Course {i}")
            audit_record(
                action=Action.CANVAS_LINKED,
                system_actor="system:worker",
                program=program,
                student=student_person,
                details={"assignment": a.pk},
            )

    assert_flat(
        client,
        reverse("audit:evidence", args=[student_person.pk]),
        add,
        lambda r: len(r.context["evidence"].periods),
    )


def test_mentor_students(client, mentor, mentor_person, program, other_program, coordinator, other_coordinator):
    """Active, upcoming and recently ended students, by observer link and by pairing code, in two programs."""
    login(client, mentor)
    today = timezone.localdate()

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            kind = i % 4
            starts = today - datetime.timedelta(days=10)
            ends = today + datetime.timedelta(days=60)
            status = Status.APPROVED
            if kind == 2:
                starts = today + datetime.timedelta(days=5)
            elif kind == 3:
                starts, ends = today - datetime.timedelta(days=90), today - datetime.timedelta(days=3)
                status = Status.ENDED
            own_program, decider = (program, coordinator) if i % 2 else (other_program, other_coordinator)
            a = AssignmentFactory(
                program=own_program,
                mentor=mentor_person,
                status=status,
                starts_on=starts,
                ends_on=ends,
                decided_by=decider,
                ended_at=timezone.now() if status == Status.ENDED else None,
                link_method=LinkMethod.PAIRING_CODE if kind == 0 else LinkMethod.OBSERVEE,
                link_state="awaiting_redemption" if kind == 0 else "linked",
                scope=MentorAssignment.Scope.COURSES if kind == 1 else MentorAssignment.Scope.ALL_COURSES,
            )
            if kind == 1:
                AssignmentCourse.objects.create(assignment=a, canvas_course_id=900 + i, name=f"Course {i}")
            if kind == 0:
                PairingCode.objects.create(
                    assignment=a,
                    student=a.student,
                    code=f"CODE{i:02d}",
                    issued_at=timezone.now(),
                    expires_at=timezone.now() + datetime.timedelta(days=7),
                )

    def shown(response: Any) -> int:
        cards = response.context["cards"]
        return sum(len(cards[group]) for group in ("active", "upcoming", "recently_ended"))

    assert_flat(client, reverse("mentors:students"), add, shown)


def test_mentor_page_shows_each_cards_own_pairing_code(client, mentor, mentor_person, program, coordinator):
    """The codes read for the whole list land on the right cards (newest usable code per assignment)."""
    login(client, mentor)
    now = timezone.now()
    cards = []
    for i in range(3):
        a = AssignmentFactory(
            program=program,
            mentor=mentor_person,
            status=Status.APPROVED,
            decided_by=coordinator,
            link_method=LinkMethod.PAIRING_CODE,
            link_state="awaiting_redemption",
        )
        for age, code in ((2, f"OLD{i}"), (1, f"NEW{i}")):
            PairingCode.objects.create(
                assignment=a,
                student=a.student,
                code=code,
                issued_at=now - datetime.timedelta(hours=age),
                expires_at=now + datetime.timedelta(days=7),
            )
        cards.append(a)
    response = client.get(reverse("mentors:students"))
    codes = {card["a"].pk: card["code"].code for card in response.context["cards"]["active"]}
    assert codes == {a.pk: f"NEW{i}" for i, a in enumerate(cards)}
    assert [c["name"] for c in response.context["cards"]["active"][0]["contacts"]] == ["Casey Coordinator"]


def test_audit_log_sentences_with_many_people_and_courses(client, auditor, coordinator, program):
    """Every row names a different mentor, student and course: the sentences still cost a fixed number of queries."""
    from mentorship.people.models import CanvasCourse

    login(client, auditor)

    def add(start: int, stop: int) -> None:
        for i in range(start, stop):
            a = AssignmentFactory(program=program, proposed_by=coordinator)
            CanvasCourse.objects.create(canvas_course_id=9000 + i, name=f"Course name {i}")
            link = observee_link(
                a, state=ObserverLink.State.PENDING, kind=ObserverLink.Kind.COURSE, canvas_course_id=9000 + i
            )
            audit_record(
                action=Action.CANVAS_LINKED if i % 2 else Action.ASSIGNMENT_APPROVED,
                actor=None if i % 2 else coordinator,
                system_actor="worker" if i % 2 else None,
                program=program,
                student=a.student,
                obj=link if i % 2 else a,
                details={"assignment": a.pk, "courses": [9000 + i]},
            )

    assert_flat(
        client,
        reverse("audit:log"),
        add,
        lambda r: sum("Course name" in row.sentence or "approved" in row.sentence for row in r.context["rows"]),
    )

"""Two assignments for one pair, every combination: the sync engine moves Canvas to the pair's whole desired state.

Canvas keeps one user-level link per pair, a link enrolls the observer in all of the student's courses, and removing
it deletes every observer enrollment of the pair, course-scoped ones included (docs/canvas-rules.md, section 2; the
fake follows canvas-lms app/models/user_observation_link.rb, tests/fake_canvas/test_fake_links.py). After every
step, the fake must hold exactly what the assignments active at that moment need.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from fake_canvas import FakeCanvas
from mentorship.assignments.models import LinkMethod, MentorAssignment
from mentorship.people.models import Person
from mentorship.sync import services
from mentorship.sync.models import ObserverLink
from mentorship.sync.services.planning import pair_desired_state
from tests.sync.conftest import School, approved, end

pytestmark = pytest.mark.django_db

ALL, COURSE = "all-courses", "course-scoped"
# Each assignment is started (approved, links planned) before it ends; these are every interleaving of two.
ORDERS = (
    ("start X", "end X", "start Y", "end Y"),
    ("start X", "start Y", "end X", "end Y"),
    ("start X", "start Y", "end Y", "end X"),
    ("start Y", "start X", "end X", "end Y"),
    ("start Y", "start X", "end Y", "end X"),
    ("start Y", "end Y", "start X", "end X"),
)
WORK = ("pending", "linking", "unlinking")


@dataclass
class Spec:
    kind: str
    courses: list[int]
    days: int
    program: Any
    assignment: MentorAssignment | None = None
    ended: bool = False

    @property
    def active(self) -> bool:
        return self.assignment is not None and not self.ended

    def ends_on(self) -> datetime.date:
        return timezone.localdate() + datetime.timedelta(days=self.days)


def drain() -> None:
    """Run every row with work left until none is left (the worker, inline), as often as the engine re-queues."""
    for _ in range(20):
        rows = list(ObserverLink.objects.filter(state__in=WORK).values_list("pk", "generation"))
        if not rows:
            return
        for pk, generation in rows:
            services.link_sync(link_id=pk, generation=generation)
    raise AssertionError("rows still have work after 20 rounds")


def canvas_state(fake: FakeCanvas, mentor: Person, student: Person) -> tuple[bool, dict[int, list[str | None]]]:
    linked = (mentor.canvas_user_id, student.canvas_user_id) in fake.observer_links()
    enrollments: dict[int, list[str | None]] = {}
    for e in fake.observer_enrollments():
        if e["user_id"] == mentor.canvas_user_id and e["associated_user_id"] == student.canvas_user_id:
            enrollments.setdefault(e["course_id"], []).append(e["end_at"])
    return linked, enrollments


def assert_canvas_matches(fake: FakeCanvas, mentor: Person, student: Person, specs: list[Spec], all_courses: set[int]):
    active = [s for s in specs if s.active]
    want_link = any(s.kind == ALL for s in active)
    scoped: dict[int, list[Spec]] = {}
    for s in active:
        if s.kind == COURSE:
            for course in s.courses:
                scoped.setdefault(course, []).append(s)
    linked, enrollments = canvas_state(fake, mentor, student)
    assert linked == want_link
    want_courses = all_courses if want_link else set(scoped)
    assert set(enrollments) == want_courses
    for course, ends in enrollments.items():
        assert len(ends) == 1, f"course {course} has {len(ends)} active observer enrollments for the pair"
        end_at = ends[0]
        if want_link:
            assert end_at is None, "while the link is wanted, every enrollment is the link's, with the student's dates"
            continue
        assert end_at is not None
        end_day = datetime.date.fromisoformat(end_at[:10])
        # The access covers every active assignment that needs the course, and no approval anyone ever gave ends later.
        assert end_day >= max(s.ends_on() for s in scoped[course])
        assert end_day <= max(s.ends_on() for s in specs if s.kind == COURSE and course in s.courses)
    desired = pair_desired_state(observer_canvas_id=mentor.canvas_user_id, student_canvas_id=student.canvas_user_id)
    assert desired.observee == want_link and set(desired.courses) == set(scoped)
    assert not ObserverLink.objects.filter(state__in=(*WORK, "failed")).exists()


@pytest.mark.parametrize(
    ("x_kind", "y_kind", "order"),
    list(itertools.product((ALL, COURSE), (ALL, COURSE), ORDERS)),
    ids=lambda v: "-".join(v).replace(" ", "") if isinstance(v, tuple) else v,
)
def test_two_assignments_for_one_pair(
    fake: FakeCanvas, school: School, portal: Any, program: Any, other_program: Any, x_kind, y_kind, order
) -> None:
    mentor = school.person("Morgan Mentor", "AIDE-P")
    student = school.person("Sasha Student", "S-P", student=True)
    third = fake.add_course(name="Chemistry")
    fake.enroll(third["id"], student.canvas_user_id)
    c1, c2, c3 = school.course["id"], school.other_course["id"], third["id"]
    specs = {
        # Overlapping courses (c1 in both) and different end dates, so the union and the dates both matter.
        "X": Spec(x_kind, [c1], 30, program),
        "Y": Spec(y_kind, [c1, c2], 60, other_program),
    }
    for step in order:
        verb, name = step.split()
        spec = specs[name]
        if verb == "start":
            method = LinkMethod.OBSERVEE if spec.kind == ALL else LinkMethod.COURSES
            courses = spec.courses if spec.kind == COURSE else []
            spec.assignment = approved(spec.program, mentor, student, method=method, courses=courses, days=spec.days)
        else:
            assert spec.assignment is not None
            end(spec.assignment)
            spec.ended = True
        drain()
        assert_canvas_matches(fake, mentor, student, list(specs.values()), {c1, c2, c3})
    assert canvas_state(fake, mentor, student) == (False, {})


def test_ending_all_courses_while_course_scoped_is_approved_removes_the_link_and_remakes_the_course(
    fake: FakeCanvas, school: School, portal: Any, program: Any, other_program: Any
) -> None:
    """The case of issue 14: the user-level link goes, and the course enrollment is re-made with its own dates."""
    mentor, student = school.person("M", "AIDE-Q"), school.person("S", "S-Q", student=True)
    everything = approved(program, mentor, student, days=90)
    drain()
    scoped = approved(other_program, mentor, student, method=LinkMethod.COURSES, courses=[school.course["id"]], days=20)
    drain()
    end(everything)
    drain()
    linked, enrollments = canvas_state(fake, mentor, student)
    assert linked is False
    assert list(enrollments) == [school.course["id"]]
    (end_at,) = enrollments[school.course["id"]]
    assert end_at is not None and datetime.date.fromisoformat(end_at[:10]) == scoped.ends_on
    row = scoped.links.get()
    assert row.state == "linked" and row.canvas_enrollment_id is not None

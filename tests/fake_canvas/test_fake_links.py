"""The fake's user-level observer links follow canvas-lms app/models/user_observation_link.rb (docs/canvas-rules.md,
section 2): one link per pair, create_or_restore, linked enrollments on create, every observer enrollment of the pair
deleted on removal."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.testing import fake_session
from tests.fake_canvas.test_fake_api import observing

BASE = "http://canvas.test/api/v1"


class Pair:
    def __init__(self) -> None:
        self.fake = FakeCanvas(admin_token="ADMIN", seed="empty")
        self.fake.configure(throttle={"enabled": False})
        f = self.fake
        self.student = f.add_user(name="Sam Student", sis_user_id="S-1")
        self.observer = f.add_user(name="Olive Observer", sis_user_id="O-1")
        self.c1 = f.add_course(name="Algebra")
        self.c2 = f.add_course(name="Biology")
        self.c3 = f.add_course(name="Chemistry")
        for course in (self.c1, self.c2, self.c3):
            f.enroll(course["id"], self.student["id"])
        self.admin: requests.Session = fake_session(f, "ADMIN")
        self.link_url = f"{BASE}/users/{self.observer['id']}/observees/{self.student['id']}"

    def course_enrollment(self, course: dict[str, Any], *, end_at: str = "2027-03-20T00:00:00Z") -> dict[str, Any]:
        data = observing(self.observer["id"], self.student["id"], end_at=end_at)
        r = self.admin.post(f"{BASE}/courses/{course['id']}/enrollments", data=data)
        assert r.status_code == 200
        return dict(r.json())

    def active_courses(self) -> dict[int, Any]:
        return {
            e["course_id"]: e["end_at"]
            for e in self.fake.observer_enrollments()
            if e["user_id"] == self.observer["id"] and e["associated_user_id"] == self.student["id"]
        }


@pytest.fixture
def pair() -> Pair:
    return Pair()


def test_removing_the_link_deletes_course_enrollments_made_separately(pair: Pair) -> None:
    """canvas-lms app/models/user_observation_link.rb#remove_linked_enrollments deletes every ObserverEnrollment of the
    observer whose associated_user is the student, whoever made it: Canvas does not record which ones the link made."""
    pair.course_enrollment(pair.c1)
    assert pair.admin.put(pair.link_url).status_code == 200
    assert set(pair.active_courses()) == {pair.c1["id"], pair.c2["id"], pair.c3["id"]}
    assert pair.admin.delete(pair.link_url).status_code == 200
    assert pair.fake.observer_links() == set()
    assert pair.active_courses() == {}


def test_creating_a_link_leaves_an_active_course_enrollment_alone(pair: Pair) -> None:
    """canvas-lms app/models/enrollment.rb#create_linked_enrollment_for returns early for an active enrollment of the
    pair in that section: the course enrollment keeps its own dates, the other courses get linked ones."""
    made = pair.course_enrollment(pair.c1, end_at="2027-01-31T00:00:00Z")
    pair.admin.put(pair.link_url)
    courses = pair.active_courses()
    assert courses[pair.c1["id"]] == "2027-01-31T00:00:00Z"
    assert courses[pair.c2["id"]] is None and courses[pair.c3["id"]] is None
    assert [e["id"] for e in pair.fake.observer_enrollments() if e["course_id"] == pair.c1["id"]] == [made["id"]]


def test_a_repeated_put_changes_nothing_but_a_removal_and_put_revive_with_the_students_dates(pair: Pair) -> None:
    """canvas-lms app/controllers/user_observees_controller.rb#create_observation_links calls create_or_restore only
    `unless has_observation_link?`: a PUT of an active link does not touch the pair's enrollments. A DELETE and then a
    PUT restores the link (user_observation_link.rb#create_or_restore) and revives every deleted enrollment of the
    pair through Enrollment#update_from, with the student enrollment's dates, not the ones it had before."""
    made = pair.course_enrollment(pair.c1, end_at="2027-01-31T00:00:00Z")
    pair.admin.put(pair.link_url)
    deleted = pair.admin.delete(f"{BASE}/courses/{pair.c1['id']}/enrollments/{made['id']}", params={"task": "delete"})
    assert deleted.json()["enrollment_state"] == "deleted"
    assert pair.admin.put(pair.link_url).status_code == 200
    assert set(pair.active_courses()) == {pair.c2["id"], pair.c3["id"]}
    pair.admin.delete(pair.link_url)
    assert pair.admin.put(pair.link_url).status_code == 200
    courses = pair.active_courses()
    assert set(courses) == {pair.c1["id"], pair.c2["id"], pair.c3["id"]}
    assert courses[pair.c1["id"]] is None
    assert [e["id"] for e in pair.fake.observer_enrollments() if e["course_id"] == pair.c1["id"]] == [made["id"]]


def test_an_sis_active_row_for_an_active_link_revives_the_pairs_enrollments(pair: Pair) -> None:
    """canvas-lms lib/sis/user_observer_importer.rb calls UserObservationLink.create_or_restore for every `active`
    row, which runs create_linked_enrollments even when the link is already active."""
    pair.admin.put(pair.link_url)
    c2 = next(e for e in pair.fake.observer_enrollments() if e["course_id"] == pair.c2["id"])
    pair.admin.delete(f"{BASE}/courses/{pair.c2['id']}/enrollments/{c2['id']}", params={"task": "delete"})
    r = pair.admin.post(
        f"{BASE}/accounts/1/sis_imports",
        files={"attachment": ("user_observers.csv", "observer_id,student_id,status\nO-1,S-1,active\n", "text/csv")},
    )
    deadline = time.monotonic() + 10
    while pair.admin.get(f"{BASE}/accounts/1/sis_imports/{r.json()['id']}").json()["progress"] != 100:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert set(pair.active_courses()) == {pair.c1["id"], pair.c2["id"], pair.c3["id"]}


def test_one_link_per_pair_and_a_deleted_link_is_restored(pair: Pair) -> None:
    """canvas-lms app/models/user_observation_link.rb#create_or_restore: the unique (observer, student, root account)
    row is revived (workflow_state back to active) rather than a second one created, with its linked enrollments."""
    first = pair.admin.put(pair.link_url).json()
    pair.admin.delete(pair.link_url)
    assert pair.active_courses() == {}
    restored = pair.admin.put(pair.link_url).json()
    assert restored["id"] == first["id"]
    with pair.fake.lock:
        rows = [link for link in pair.fake.state.links.values() if link["observer_id"] == pair.observer["id"]]
    assert len(rows) == 1 and rows[0]["workflow_state"] == "active"
    assert set(pair.active_courses()) == {pair.c1["id"], pair.c2["id"], pair.c3["id"]}


def test_deleting_a_course_enrollment_leaves_the_link(pair: Pair) -> None:
    """Only the link's removal cascades (user_observation_link.rb#destroy); deleting one ObserverEnrollment
    (enrollments_api_controller.rb#destroy, task=delete) touches neither the link nor the other courses."""
    pair.admin.put(pair.link_url)
    c2 = next(e for e in pair.fake.observer_enrollments() if e["course_id"] == pair.c2["id"])
    pair.admin.delete(f"{BASE}/courses/{pair.c2['id']}/enrollments/{c2['id']}", params={"task": "delete"})
    assert pair.fake.observer_links() == {(pair.observer["id"], pair.student["id"])}
    assert set(pair.active_courses()) == {pair.c1["id"], pair.c3["id"]}

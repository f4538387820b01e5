"""SIS imports of user_observers.csv: async lifecycle, Canvas's row messages, link effects."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.testing import fake_session

BASE = "http://canvas.test/api/v1"


def wait_for_import(s: requests.Session, import_id: int, deadline_s: float = 10.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        body = s.get(f"{BASE}/accounts/1/sis_imports/{import_id}").json()
        if body["progress"] == 100:
            return body
        time.sleep(0.01)
    raise AssertionError("The SIS import did not finish in time.")


@pytest.fixture
def fake() -> FakeCanvas:
    f = FakeCanvas(admin_token="A", seed="empty", throttle={"enabled": False})
    for name, sis in (("Ann Aide", "AIDE-1"), ("Sal Student", "S-1"), ("Sol Student", "S-2")):
        f.add_user(name=name, sis_user_id=sis)
    course = f.add_course(name="Algebra")
    f.enroll(course["id"], f.find_user("sis_user_id:S-1")["id"])
    return f


def test_import_lifecycle_creates_links_and_enrollments(fake: FakeCanvas) -> None:
    s = fake_session(fake, "A")
    fake.configure(sis_paused=True)
    csv_text = "observer_id,student_id,status\nAIDE-1,S-1,active\nAIDE-1,S-2,active\n"
    r = s.post(
        f"{BASE}/accounts/1/sis_imports",
        files={"attachment": ("user_observers.csv", csv_text, "text/csv")},
        data={"import_type": "instructure_csv"},
    )
    assert r.status_code == 200
    created = r.json()
    assert created["workflow_state"] == "created" and created["progress"] == 0
    assert s.get(f"{BASE}/accounts/1/sis_imports/{created['id']}").json()["workflow_state"] == ("created")
    fake.configure(sis_paused=False)
    done = wait_for_import(s, created["id"])
    assert done["workflow_state"] == "imported"
    assert done["data"]["counts"]["user_observers"] == 2
    assert done["data"]["supplied_batches"] == ["user_observer"]
    assert done["processing_warnings"] == []
    aide = fake.find_user("sis_user_id:AIDE-1")["id"]
    assert {o for o, _ in fake.observer_links()} == {aide}
    assert len(fake.observer_links()) == 2
    assert len(fake.observer_enrollments()) == 1  # S-1's one course
    listing = s.get(f"{BASE}/accounts/1/sis_imports").json()
    assert [i["id"] for i in listing["sis_imports"]] == [created["id"]]


def test_row_problems_are_warnings_with_canvas_strings(fake: FakeCanvas) -> None:
    s = fake_session(fake, "A")
    csv_text = (
        "observer_id,student_id,status\n"
        ",S-1,active\n"
        "AIDE-1,,active\n"
        "S-1,S-1,active\n"
        "AIDE-1,S-1,paused\n"
        "GHOST,S-1,active\n"
        "AIDE-1,GHOST,active\n"
        "AIDE-1,S-2,deleted\n"
        "AIDE-1,S-1,active\n"
    )
    r = s.post(
        f"{BASE}/accounts/1/sis_imports",
        params={"extension": "csv"},
        data=csv_text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200
    done = wait_for_import(s, r.json()["id"])
    assert done["workflow_state"] == "imported_with_messages"
    assert done["processing_errors"] == []
    assert done["processing_warnings"] == [
        ["sis_import.csv", "No observer_id given for a user observer"],
        ["sis_import.csv", "No user_id given for a user observer"],
        ["sis_import.csv", "Can't observe yourself user S-1"],
        ["sis_import.csv", 'Improper status "paused" for a user_observer'],
        ["sis_import.csv", "An observer referenced a non-existent user GHOST"],
        ["sis_import.csv", "A student referenced a non-existent user GHOST"],
        [
            "sis_import.csv",
            "Can't delete a non-existent observer for observer: AIDE-1, student: S-2",
        ],
    ]
    assert done["data"]["counts"]["user_observers"] == 1
    assert len(fake.observer_links()) == 1


def test_deleted_row_removes_link_and_enrollments(fake: FakeCanvas) -> None:
    s = fake_session(fake, "A")
    aide = fake.find_user("sis_user_id:AIDE-1")["id"]
    student = fake.find_user("sis_user_id:S-1")["id"]
    s.put(f"{BASE}/users/{aide}/observees/{student}")
    assert fake.observer_enrollments()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("user_observers.csv", "observer_id,student_id,status\nAIDE-1,S-1,deleted\n")
    r = s.post(
        f"{BASE}/accounts/1/sis_imports",
        files={"attachment": ("batch.zip", archive.getvalue(), "application/zip")},
    )
    done = wait_for_import(s, r.json()["id"])
    assert done["workflow_state"] == "imported"
    assert fake.observer_links() == set()
    assert fake.observer_enrollments() == []


def test_unrecognised_file_fails_with_messages(fake: FakeCanvas) -> None:
    s = fake_session(fake, "A")
    r = s.post(
        f"{BASE}/accounts/1/sis_imports",
        files={"attachment": ("people.csv", "name,age\nx,1\n", "text/csv")},
    )
    done = wait_for_import(s, r.json()["id"])
    assert done["workflow_state"] == "failed_with_messages"
    assert done["processing_errors"] == [["people.csv", "Couldn't find Canvas CSV import headers"]]


def test_sis_imports_only_on_root_accounts(fake: FakeCanvas) -> None:
    r = fake_session(fake, "A").post(
        f"{BASE}/accounts/2/sis_imports",
        files={"attachment": ("u.csv", "observer_id,student_id,status\n", "text/csv")},
    )
    assert r.status_code == 400
    assert r.json() == {"errors": ["SIS imports can only be executed on root accounts"]}

"""SIS imports of user_observers.csv: async lifecycle, Canvas's row messages, link effects."""

from __future__ import annotations

import csv
import io
import time
import zipfile
from typing import Any

import pytest
import requests

from fake_canvas import FakeCanvas
from fake_canvas.testing import ManualClock, fake_session

BASE = "http://canvas.test/api/v1"


def wait_for_import(s: requests.Session, import_id: int, deadline_s: float = 10.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        body = s.get(f"{BASE}/accounts/1/sis_imports/{import_id}").json()
        if body["progress"] == 100:
            return body
        time.sleep(0.01)
    raise AssertionError("The SIS import did not finish in time.")


def import_file(s: requests.Session, name: str, content: str | bytes, mime: str = "text/csv") -> Any:
    """Send one file as a SIS import to the root account and wait until Canvas has finished with it."""
    r = s.post(f"{BASE}/accounts/1/sis_imports", files={"attachment": (name, content, mime)})
    return wait_for_import(s, r.json()["id"])


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
    done = import_file(s, "batch.zip", archive.getvalue(), "application/zip")
    assert done["workflow_state"] == "imported"
    assert fake.observer_links() == set()
    assert fake.observer_enrollments() == []


def test_unrecognised_file_fails_with_messages(fake: FakeCanvas) -> None:
    s = fake_session(fake, "A")
    done = import_file(s, "people.csv", "name,age\nx,1\n")
    assert done["workflow_state"] == "failed_with_messages"
    assert done["processing_errors"] == [["people.csv", "Couldn't find Canvas CSV import headers"]]


def test_sis_imports_only_on_root_accounts(fake: FakeCanvas) -> None:
    r = fake_session(fake, "A").post(
        f"{BASE}/accounts/2/sis_imports",
        files={"attachment": ("u.csv", "observer_id,student_id,status\n", "text/csv")},
    )
    assert r.status_code == 400
    assert r.json() == {"errors": ["SIS imports can only be executed on root accounts"]}


def _thirty_bad_rows(fake: FakeCanvas) -> tuple[str, list[str]]:
    """Thirty rows naming unknown students, between two good ones."""
    ghosts = [f"GHOST-{i:02d}" for i in range(30)]
    lines = ["observer_id,student_id,status", "AIDE-1,S-1,active"]
    lines += [f"AIDE-1,{ghost},active" for ghost in ghosts]
    lines.append("AIDE-1,S-2,active")
    return "\n".join(lines) + "\n", ghosts


def test_warnings_are_capped_at_24_with_an_and_n_more_entry_and_full_counts(fake: FakeCanvas) -> None:
    """canvas-lms app/models/sis_batch.rb#populate_old_warnings_and_errors: processing_warnings holds
    `sis_batch_errors.warnings.limit(24)` and then ["and N more warnings that were not included", "Download the error
    file to see all warnings."]; data.counts.warning_count and error_count are the full counts."""
    s = fake_session(fake, "A")
    csv_text, ghosts = _thirty_bad_rows(fake)
    done = import_file(s, "user_observers.csv", csv_text)
    assert done["workflow_state"] == "imported_with_messages"
    warnings = done["processing_warnings"]
    assert len(warnings) == 25
    assert warnings[:24] == [
        ["user_observers.csv", f"A student referenced a non-existent user {ghost}"] for ghost in ghosts[:24]
    ]
    assert warnings[24] == [
        "and 6 more warnings that were not included",
        "Download the error file to see all warnings.",
    ]
    assert done["data"]["counts"]["warning_count"] == 30
    assert done["data"]["counts"]["error_count"] == 0
    assert done["data"]["counts"]["user_observers"] == 2
    assert len(fake.observer_links()) == 2


def test_the_errors_file_lists_every_message_and_is_downloaded_with_the_token_or_verifier() -> None:
    """canvas-lms app/models/sis_batch.rb#write_errors_to_file: a CSV `sis_import_id,file,message,row` with every
    error and warning, exposed as errors_attachment (lib/api/v1/sis_import.rb); its URL carries a verifier that
    expires, and an admin's token downloads it as well."""
    clock = ManualClock()
    fake = FakeCanvas(admin_token="A", seed="empty", throttle={"enabled": False}, clock=clock)
    fake.configure(throttle={"enabled": False})
    for name, sis in (("Ann Aide", "AIDE-1"), ("Sal Student", "S-1"), ("Sol Student", "S-2")):
        fake.add_user(name=name, sis_user_id=sis)
    s = fake_session(fake, "A")
    csv_text, ghosts = _thirty_bad_rows(fake)
    done = import_file(s, "user_observers.csv", csv_text)
    attachment = done["errors_attachment"]
    assert attachment["display_name"] == f"sis_errors_attachment_{done['id']}.csv"
    assert attachment["url"].startswith("http://canvas.test/files/") and "verifier=" in attachment["url"]
    anonymous = fake_session(fake)
    by_verifier = anonymous.get(attachment["url"])
    assert by_verifier.status_code == 200 and by_verifier.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(by_verifier.text)))
    assert rows[0] == ["sis_import_id", "file", "message", "row"]
    assert rows[1:] == [
        [str(done["id"]), "user_observers.csv", f"A student referenced a non-existent user {ghost}", str(i + 3)]
        for i, ghost in enumerate(ghosts)
    ]
    clock.advance(3601)
    assert anonymous.get(attachment["url"]).status_code == 401
    assert s.get(attachment["url"]).text == by_verifier.text
    student = fake_session(fake, fake.mint_token(fake.find_user("sis_user_id:S-1")["id"]))
    assert student.get(attachment["url"].split("?")[0]).status_code == 401


def test_an_import_without_messages_has_no_errors_file_and_zero_counts(fake: FakeCanvas) -> None:
    """sis_batch.rb#populate_old_warnings_and_errors sets both counts to 0 when the batch has no errors."""
    s = fake_session(fake, "A")
    done = import_file(s, "user_observers.csv", "observer_id,student_id,status\nAIDE-1,S-1,active\n")
    assert done["errors_attachment"] is None
    assert (done["data"]["counts"]["warning_count"], done["data"]["counts"]["error_count"]) == (0, 0)

"""The CSV import: good files, every bad input (a clear message, nothing created), and the management command."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mentorship.assignments import csv_import
from mentorship.assignments.models import MentorAssignment
from mentorship.audit.models import AuditEvent
from mentorship.people.models import Person
from tests.factories import AssignmentFactory, PersonFactory

HEADER = "mentor,student,starts_on,ends_on,scope,method,reason\n"
D1, D2 = "2027-01-04", "2027-03-01"


def rows(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode()


def preview_of(program, data: bytes, **kw) -> csv_import.Preview:
    return csv_import.validate(program=program, records=csv_import.read_csv(data), **kw)


@pytest.fixture
def pair(db):
    return PersonFactory(sis_user_id="AIDE-1", name="Alex Aide"), PersonFactory(sis_user_id="S-1", name="Sam Young")


def test_a_clean_file_previews_and_commits_all_rows(program, coordinator, pair):
    other = PersonFactory(sis_user_id="S-2", login_id="s2@school.test")
    data = rows(
        f"sis_user_id:AIDE-1,sis_user_id:S-1,{D1},{D2},,observee,Aide",
        f"AIDE-1,S2@school.test,{D1},{D2},,,Aide for the second student",
    )
    preview = preview_of(program, data)
    assert preview.ok, [r.errors for r in preview.rows]
    assert preview.rows[1].student == other
    assert not MentorAssignment.objects.exists()
    result = csv_import.commit(preview=preview, actor=coordinator)
    assert len(result.created) == 2
    assert MentorAssignment.objects.filter(status="proposed").count() == 2
    assert AuditEvent.objects.filter(action="assignment.proposed").count() == 2
    assert AuditEvent.objects.get(action="assignment.imported").details["rows"] == 2


def test_every_row_error_is_reported_in_plain_words(program, coordinator, pair):
    mentor, student = pair
    AssignmentFactory(
        program=program,
        mentor=mentor,
        student=student,
        starts_on=datetime.date(2027, 1, 1),
        ends_on=datetime.date(2027, 2, 1),
    )
    data = rows(
        f"NOBODY,S-1,{D1},{D2},,,x",
        f"AIDE-1,S-1,{D1},{D2},,,duplicate",
        f"AIDE-1,AIDE-1,{D1},{D2},,,self",
        f"AIDE-1,S-1,2027-13-01,{D2},,,bad date",
        f"AIDE-1,S-1,{D2},{D1},,,end before start",
        f"AIDE-1,S-1,{D1},{D2},,teleport,bad method",
        f"AIDE-1,S-1,{D1},{D2},,,",
        f"AIDE-1,S-1,{D1},{D2},,courses,no scope",
    )
    preview = preview_of(program, data)
    assert not preview.ok
    errors = {r.line: " ".join(r.errors) for r in preview.rows}
    assert "No one in Canvas has" in errors[2] or "Canvas could not be reached" in errors[2]
    assert "Duplicate of the existing proposed assignment" in errors[3]
    assert "same person" in errors[4]
    assert "is not a date" in errors[5]
    assert "end date 2027-01-04 is before the start date 2027-03-01" in errors[6]
    assert "method 'teleport' is not known" in errors[7]
    assert "reason is empty" in errors[8]
    assert "needs the courses in scope" in errors[9]
    with pytest.raises(csv_import.AssignmentError):
        csv_import.commit(preview=preview, actor=coordinator)
    assert MentorAssignment.objects.count() == 1


def test_duplicates_within_the_file_and_over_capacity(program, coordinator, pair):
    program.mentor_capacity = 1
    program.save()
    mentor, _student = pair
    AssignmentFactory(
        program=program,
        mentor=mentor,
        status="approved",
        starts_on=datetime.date(2027, 1, 1),
        ends_on=datetime.date(2027, 6, 1),
    )
    PersonFactory(sis_user_id="S-9")
    data = rows(f"AIDE-1,S-1,{D1},{D2},,,a", f"AIDE-1,S-1,{D1},{D2},,,b", f"S-9,S-1,{D1},{D2},,,c")
    preview = preview_of(program, data)
    assert "Over capacity" in " ".join(preview.rows[0].errors)
    assert "Overlaps line 2 in this file" in " ".join(preview.rows[1].errors)
    assert preview.rows[2].ok


def test_formula_cells_are_refused(program, pair):
    data = rows(f'AIDE-1,S-1,{D1},{D2},,,"=HYPERLINK(""http://x"")"', f"@SUM(1),S-1,{D1},{D2},,,x")
    preview = preview_of(program, data)
    assert "formula" in " ".join(preview.rows[0].errors)
    assert "formula" in " ".join(preview.rows[1].errors)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"mentor;student;starts_on;ends_on;reason\nA;B;2027-01-01;2027-02-01;x\n", "separated by semicolons"),
        (b"mentor\tstudent\tstarts_on\tends_on\treason\n", "separated by tabs"),
        (b"mentor,student,starts_on\nA,B,2027-01-01\n", "lacks the columns ends_on, reason"),
        (b"mentor,student,starts_on,ends_on,reason,colour\nA,B,1,2,x,red\n", "Unknown column colour"),
        (HEADER.encode(), "no assignments"),
        ("mentor,student,starts_on,ends_on,reason\nJosé,B,2027-01-01,2027-02-01,x\n".encode("latin-1"), "not UTF-8"),
        ("mentor,student\n".encode("utf-16"), "UTF-16"),
        (b"PK\x03\x04\x00\x00binary", "not a CSV text file"),
    ],
)
def test_unreadable_files_get_a_clear_message(data, message):
    with pytest.raises(csv_import.ImportFileError, match=message):
        csv_import.read_csv(data)


def test_a_file_over_the_limit_is_refused(settings):
    settings.CSV_IMPORT_MAX_BYTES = 1000
    with pytest.raises(csv_import.ImportFileError, match="largest file accepted"):
        csv_import.read_csv(b"x" * 1001)


def test_a_50_megabyte_file_is_refused_without_parsing(settings):
    big = HEADER.encode() + b"A,B,2027-01-01,2027-02-01,,,x\n" * (50 * 1024 * 1024 // 30)
    assert len(big) >= 50 * 1024 * 1024 - 100
    with pytest.raises(csv_import.ImportFileError, match="MB"):
        csv_import.read_csv(big)


def test_people_unknown_to_the_portal_are_found_in_canvas_and_added_on_confirm(program, coordinator, canvas):
    canvas.user("Alex Aide", "AIDE-014")
    canvas.user("Sam Young", "S-2044", courses=(canvas.algebra, canvas.biology))
    canvas.user("Pat Peer", "S-1187")
    data = rows(
        f"sis_user_id:AIDE-014,sis_user_id:S-2044,{D1},{D2},,observee,Aide",
        f"sis_user_id:S-1187,sis_user_id:S-2044,{D1},{D2},ALG1-P3;BIO-P5,courses,Peer",
        f"sis_user_id:S-1187,sis_user_id:S-2044,{D1},{D2},NOPE-1,courses,Peer",
    )
    preview = preview_of(program, data)
    assert preview.rows[2].errors[0] == "Canvas has no course with the SIS id NOPE-1."
    assert not Person.objects.exists()
    good = csv_import.Preview(program=program, rows=preview.rows[:2])
    assert good.new_people == 3
    result = csv_import.commit(preview=good, actor=coordinator)
    assert result.people_added == 3
    assert Person.objects.count() == 3
    scoped = result.created[1]
    assert sorted(scoped.courses.values_list("sis_course_id", flat=True)) == ["ALG1-P3", "BIO-P5"]
    assert AuditEvent.objects.filter(action="person.added").count() == 3


def test_validation_makes_a_fixed_number_of_queries(program, pair):
    few = rows(*[f"AIDE-1,S-1,{D1},{D2},,,x"] * 3)
    many = rows(*[f"AIDE-1,S-1,{D1},{D2},,,x"] * 300)
    with CaptureQueriesContext(connection) as small:
        preview_of(program, few)
    with CaptureQueriesContext(connection) as large:
        preview_of(program, many)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_commit_is_all_or_nothing(program, coordinator, pair, monkeypatch):
    data = rows(f"AIDE-1,S-1,{D1},{D2},,,a", "AIDE-1,S-1,2027-04-01,2027-05-01,,,b")
    preview = preview_of(program, data)
    assert preview.ok
    real = csv_import.audit_record
    calls = []

    def second_fails(**kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real(**kw)

    monkeypatch.setattr(csv_import, "audit_record", second_fails)
    with pytest.raises(RuntimeError):
        csv_import.commit(preview=preview, actor=coordinator)
    assert not MentorAssignment.objects.exists()
    assert not AuditEvent.objects.filter(action="assignment.proposed").exists()


def test_commit_with_approve_stops_at_the_first_refusal(program, coordinator, pair):
    program.mentor_capacity = 1
    program.save()
    PersonFactory(sis_user_id="S-2")
    data = rows(f"AIDE-1,S-1,{D1},{D2},,,a", f"AIDE-1,S-2,{D1},{D2},,,b")
    preview = preview_of(program, data)  # without approve, capacity counts only approved assignments
    assert preview.ok
    with pytest.raises(csv_import.AssignmentError, match=r"Line 3: .*allows 1 per mentor"):
        csv_import.commit(preview=preview, actor=coordinator, approve=True)
    assert not MentorAssignment.objects.exists()


# --- the management command --------------------------------------------------------------------------------------


def test_command_imports_and_approves(tmp_path: Path, program, coordinator, pair, capsys):
    f = tmp_path / "in.csv"
    f.write_bytes(rows(f"AIDE-1,S-1,{D1},{D2},,,a"))
    call_command("import_assignments", str(f), "--program", program.slug, "--actor", coordinator.username, "--approve")
    out = capsys.readouterr().out
    assert "Imported 1 assignment(s)" in out and "approved 1" in out
    assert MentorAssignment.objects.get().status == "approved"


def test_command_exits_1_with_row_errors(tmp_path: Path, program, coordinator, pair, capsys):
    f = tmp_path / "in.csv"
    f.write_bytes(rows(f"AIDE-1,S-1,{D2},{D1},,,a"))
    with pytest.raises(CommandError, match="1 of 1 rows have errors"):
        call_command("import_assignments", str(f), "--program", program.slug, "--actor", coordinator.username)
    assert "line 2: The end date" in capsys.readouterr().err
    assert not MentorAssignment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_command_exit_status_is_1(tmp_path: Path):
    import os
    import subprocess
    import sys

    f = tmp_path / "in.csv"
    f.write_bytes(b"mentor;student\n")
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        url = f"sqlite:///{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.run(
        [sys.executable, "manage.py", "import_assignments", str(f), "--program", "nope", "--actor", "x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "There is no program with the slug 'nope'" in proc.stderr


def test_command_refuses_bad_program_actor_and_file(tmp_path: Path, program, coordinator, other_coordinator):
    f = tmp_path / "in.csv"
    f.write_bytes(b"mentor;student;starts_on;ends_on;reason\n")
    with pytest.raises(CommandError, match="no program"):
        call_command("import_assignments", str(f), "--program", "nope", "--actor", coordinator.username)
    with pytest.raises(CommandError, match="not a coordinator"):
        call_command("import_assignments", str(f), "--program", program.slug, "--actor", other_coordinator.username)
    with pytest.raises(CommandError, match="semicolons"):
        call_command("import_assignments", str(f), "--program", program.slug, "--actor", coordinator.username)
    with pytest.raises(CommandError, match="Cannot read"):
        call_command(
            "import_assignments",
            str(tmp_path / "missing.csv"),
            "--program",
            program.slug,
            "--actor",
            coordinator.username,
        )


def test_command_approve_refused_when_a_second_approver_is_required(tmp_path, program, coordinator, pair):
    program.requires_second_approver = True
    program.save()
    f = tmp_path / "in.csv"
    f.write_bytes(rows(f"AIDE-1,S-1,{D1},{D2},,,a"))
    with pytest.raises(CommandError, match="second coordinator"):
        call_command(
            "import_assignments", str(f), "--program", program.slug, "--actor", coordinator.username, "--approve"
        )
    assert not MentorAssignment.objects.exists()


def test_the_sample_file_parses():
    data = (Path(__file__).resolve().parent.parent / "data" / "assignments_example.csv").read_bytes()
    records = csv_import.read_csv(data)
    assert [r["method"] for r in records] == ["observee", "courses", "pairing_code"]

"""The strict CSV reader and the import's refusals: each damaged file or bad row gets a sentence naming the line and
what to do, nothing is created, and the outcome is the same on PostgreSQL and SQLite, on the page and in the CLI."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from mentorship.assignments import csv_import, services
from mentorship.assignments.forms import AssignmentCreateForm
from mentorship.assignments.models import CsvImport, MentorAssignment, Program
from mentorship.people.models import Person
from tests.assignments.test_views import upload
from tests.conftest import login
from tests.factories import PersonFactory

HEADER = "mentor,student,starts_on,ends_on,scope,method,reason\n"
D1, D2 = "2027-01-04", "2027-03-01"
SHARED_DATA = Path(__file__).resolve().parent.parent / "data"  # the sample files handed to the project, copied


@pytest.fixture
def people(db):
    for i in range(400):
        PersonFactory(sis_user_id=f"M-{i}")
        PersonFactory(sis_user_id=f"S-{i}")


def good_line(i: int) -> str:
    return f"M-{i},S-{i},{D1},{D2},,,Reading support\n"


def read(text: str | bytes):
    return csv_import.read_csv(text.encode() if isinstance(text, str) else text)


def errors_of(preview) -> dict[int, str]:
    return {row.line: " ".join(row.errors) for row in preview.error_rows}


def test_an_unclosed_quote_on_line_40_is_an_error_naming_the_line_and_the_rest(program, people):
    lines = [good_line(i) for i in range(299)]
    lines[38] = f'M-38,S-38,{D1},{D2},,,"Reading support\n'  # file line 40: the quote never closes
    records = read(HEADER + "".join(lines))
    preview = csv_import.validate(program=program, records=records)
    assert not preview.ok
    assert errors_of(preview) == {
        40: 'A quote (") opens in this row and is never closed, so lines 40 to 300 would run into one cell. '
        "Close the quote or remove it, then upload the file again."
    }
    assert len(preview.rows) == 39 and preview.line_count == 300 and preview.lines_differ


def test_a_quote_inside_a_cell_is_an_error_and_the_next_rows_are_still_read(program, people):
    data = (
        HEADER
        + good_line(1)
        + f'M-2,S-2,{D1},{D2},,,Reads "aloud" well\n'.replace(',Reads "', ',"Reads" "')
        + good_line(3)
    )
    preview = csv_import.validate(program=program, records=read(data))
    assert list(errors_of(preview)) == [3]
    assert 'A quote (") is in the middle of a cell' in errors_of(preview)[3]
    assert [r.line for r in preview.rows] == [2, 3, 4] and preview.rows[2].ok


@pytest.mark.parametrize(
    ("line", "cells"),
    [(f"M-1,S-1,{D1},{D2},,Reading support", 6), (f"M-1,S-1,{D1},{D2},,,Reading, support", 8)],
)
def test_a_row_with_the_wrong_number_of_cells_is_an_error(program, people, line, cells):
    preview = csv_import.validate(program=program, records=read(HEADER + line + "\n"))
    assert errors_of(preview)[2].startswith(f"The row has {cells} cells; the header has 7 columns.")


def test_a_nul_byte_at_100000_is_a_row_error_not_a_file_error(program, people):
    body = "".join(f"M-{i % 400},S-{i // 400},{D1},{D2},,,Reading support\n" for i in range(3000))
    data = (HEADER + body).encode()
    cut = 100_000
    data = data[:cut] + b"\x00" + data[cut:]
    line = data[:cut].count(b"\n") + 1
    preview = csv_import.validate(program=program, records=read(data))
    assert list(errors_of(preview)) == [line]
    assert "contains a NUL byte, which is not text" in errors_of(preview)[line]


def test_a_nul_byte_in_the_upload_page_answers_with_the_row_and_stores_nothing(client, coordinator, program, people):
    data = (HEADER + "".join(good_line(i) for i in range(300))).encode()
    data = data[:9000] + b"\x00" + data[9000:]
    login(client, coordinator)
    response = upload(client, program, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "contains a NUL byte" in body and "Create " not in body
    assert not CsvImport.objects.exists() and not MentorAssignment.objects.exists()


def test_a_binary_file_is_refused_as_a_whole():
    with pytest.raises(csv_import.ImportFileError, match="not a CSV text file"):
        read(b"mentor,student\n\x00\x01\x02")


def test_a_control_character_in_a_name_is_an_error(program, people):
    preview = csv_import.validate(program=program, records=read(HEADER + f"M-1\x1b[2J,S-1,{D1},{D2},,,x\n"))
    assert "mentor contains an invisible control character. Retype the cell without it." in errors_of(preview)[2]


def test_a_reason_over_the_limit_is_refused_by_the_file_and_the_form_alike(program, people, coordinator):
    long = "x" * 5000
    preview = csv_import.validate(program=program, records=read(HEADER + f"M-1,S-1,{D1},{D2},,,{long}\n"))
    assert errors_of(preview)[2] == "The reason is 5,000 characters long; keep it to 2,000 or fewer."
    form = AssignmentCreateForm(data={"reason": long}, programs=Program.objects.all())
    assert not form.is_valid() and "reason" in form.errors
    with pytest.raises(services.AssignmentError, match="keep it to 2,000 or fewer"):
        services.assignment_propose(
            program=program,
            mentor=Person.objects.get(sis_user_id="M-1"),
            student=Person.objects.get(sis_user_id="S-1"),
            starts_on=datetime.date(2027, 1, 4),
            ends_on=datetime.date(2027, 2, 1),
            reason=long,
            actor=coordinator,
        )


def test_a_past_end_date_is_refused_at_import_and_at_proposal(program, people, coordinator):
    today = timezone.localdate()
    start, end = today - datetime.timedelta(days=30), today - datetime.timedelta(days=1)
    preview = csv_import.validate(program=program, records=read(HEADER + f"M-1,S-1,{start},{end},,,x\n"))
    expected = (
        f"The end date {end} has already passed, so the assignment could never be approved. "
        "Give an end date from today on."
    )
    assert errors_of(preview)[2] == expected
    with pytest.raises(services.AssignmentError) as refused:
        services.assignment_propose(
            program=program,
            mentor=Person.objects.get(sis_user_id="M-1"),
            student=Person.objects.get(sis_user_id="S-1"),
            starts_on=start,
            ends_on=end,
            reason="x",
            actor=coordinator,
        )
    assert str(refused.value) == expected
    form = AssignmentCreateForm(data={"starts_on": start, "ends_on": end}, programs=Program.objects.all())
    assert not form.is_valid() and form.errors["ends_on"] == [expected]
    assert not MentorAssignment.objects.exists()


def test_an_overlap_within_the_file_is_called_an_overlap(program, people):
    data = HEADER + f"M-1,S-1,{D1},{D2},,,a\nM-1,S-1,2027-02-01,2027-04-01,,,b\n"
    preview = csv_import.validate(program=program, records=read(data))
    assert errors_of(preview)[3].startswith(
        "Overlaps line 2 in this file: the same mentor and student, with dates that overlap. Keep one of the two rows"
    )


def test_a_long_cell_is_named_by_its_column_not_by_megabytes(program, people):
    preview = csv_import.validate(program=program, records=read(HEADER + f"{'M' * 300},S-1,{D1},{D2},,,x\n"))
    assert (
        "mentor is 300 characters long; it can have at most 255. Check that a quote before it is closed."
        in (errors_of(preview)[2])
    )
    assert "MB" not in errors_of(preview)[2]


def test_the_cli_shows_control_characters_instead_of_obeying_them(program, coordinator, people, tmp_path):
    path = tmp_path / "in.csv"
    crafted = f"M-1\x1b]0;owned\x07,S-1,{D1},{D2},,,x\nGHOST\u202etxt.exe,S-2,{D1},{D2},,,x\n"
    path.write_bytes((HEADER + crafted).encode())
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 of 2 rows have errors"):
        call_command("import_assignments", str(path), program=program.slug, actor=coordinator.username, stderr=err)
    printed = err.getvalue()
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    assert "line 2: mentor contains an invisible control character" in printed
    assert "line 3: mentor: GHOST\\u202etxt.exe is not known to the portal and Canvas could not be reached." in printed


def test_the_cli_reports_a_nul_byte_as_a_row_error(program, coordinator, people, tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes((HEADER + "".join(good_line(i) for i in range(200))).encode() + b"M-1,S-\x00,2027-01-04,,,,x\n")
    err = io.StringIO()
    with pytest.raises(CommandError, match="nothing was created"):
        call_command("import_assignments", str(path), program=program.slug, actor=coordinator.username, stderr=err)
    assert "line 202: student contains a NUL byte" in err.getvalue()
    assert not MentorAssignment.objects.exists()


def test_every_shared_sample_file_previews_as_its_readme_says(program, canvas):
    """The sample's ids exist in the Canvas imported against: every row is fine and its people come from Canvas."""
    files = sorted(SHARED_DATA.glob("*.csv"))
    assert files, "the shared samples are missing"
    for sis, courses in (("AIDE-014", ()), ("S-1187", ()), ("T-0042", ()), ("S-2031", ()), ("S-2102", ())):
        canvas.user(sis, sis, courses=courses)
    canvas.user("S-2044", "S-2044", courses=(canvas.algebra, canvas.biology))
    for path in files:
        preview = csv_import.validate(program=program, records=csv_import.read_csv(path.read_bytes()))
        assert preview.ok, (path.name, errors_of(preview))
        assert preview.new_people == 6 and not preview.lines_differ


def test_every_shared_sample_file_names_people_canvas_does_not_know(program, canvas):
    """Pointed at a Canvas without those people, each row names the id to check; nothing else goes wrong."""
    for path in sorted(SHARED_DATA.glob("*.csv")):
        preview = csv_import.validate(program=program, records=csv_import.read_csv(path.read_bytes()))
        assert len(preview.error_rows) == len(preview.rows)
        for row in preview.error_rows:
            assert all(
                "No one in Canvas has the SIS id, login or Canvas id" in e or "no course" in e for e in row.errors
            )


def test_a_course_picker_says_when_canvas_could_not_be_reached(client, coordinator, program):
    student = PersonFactory()
    login(client, coordinator)
    body = client.get(reverse("assignments:course_options"), {"student": student.pk}).content.decode()
    assert "Canvas could not be reached, so this student's courses cannot be listed right now." in body
    assert "no current Canvas courses" not in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            HEADER.encode() + b"M-1,S-1,2027-01-04,2027-03-01,,,caf\xc3",
            "The file is not UTF-8 text (it ends in the middle of a character). Save it as 'CSV UTF-8",
        ),
        (
            b'"mentor,student,starts_on,ends_on,reason\nM-1,S-1,2027-01-04,2027-03-01,x\n',
            "The first line is not a header row: it must name the columns, separated by commas.",
        ),
    ],
)
def test_a_file_that_cannot_be_read_at_all_says_what_to_do(data, message):
    with pytest.raises(csv_import.ImportFileError) as refused:
        read(data)
    assert str(refused.value).startswith(message)


def test_the_same_person_twice_in_a_row_is_named(program, people):
    preview = csv_import.validate(program=program, records=read(HEADER + f"M-1,sis_user_id:M-1,{D1},{D2},,,x\n"))
    assert errors_of(preview)[2] == "The mentor and the student are the same person; a mentor needs another student."


def test_a_closed_program_says_who_can_reopen_it(program, people):
    program.is_active = False
    program.save()
    preview = csv_import.validate(program=program, records=read(HEADER + good_line(1)))
    assert errors_of(preview)[2].startswith(
        f"{program.name} is closed: an administrator must reopen it before you import into it."
    )

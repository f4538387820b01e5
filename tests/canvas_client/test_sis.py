"""user_observers.csv building and reading Canvas's row warnings back."""

from __future__ import annotations

import csv
import io

import pytest

from canvas_client.sis import (
    ObserverWarning,
    UserObserverRow,
    build_user_observers_csv,
    match_warnings,
    parse_processing_warnings,
)


def test_builds_header_and_rows_as_utf8_crlf() -> None:
    data = build_user_observers_csv([UserObserverRow("AIDE-014", "S-2044"), ("T-0042", "S-2102", "deleted")])
    assert data == (b"observer_id,student_id,status\r\nAIDE-014,S-2044,active\r\nT-0042,S-2102,deleted\r\n")
    assert not data.startswith(b"\xef\xbb\xbf")  # no BOM: Canvas sniffs the header


def test_quotes_awkward_ids_and_keeps_unicode() -> None:
    data = build_user_observers_csv([('A,"1"', "Zoë 2", "active")])
    assert "Zoë 2".encode() in data
    assert b'"A,""1"""' in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[1] == ['A,"1"', "Zoë 2", "active"]


def test_strips_surrounding_whitespace() -> None:
    data = build_user_observers_csv([(" A ", "B\t")])
    assert data.endswith(b"A,B,active\r\n")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("", "S-1"), "observer_id is empty"),
        (("A-1", "   "), "student_id is empty"),
        (("A-1", "S\n1"), "line break"),
        (("A-1", "S-1", "suspended"), "status must be"),
        (("S-1", "S-1"), "cannot observe themself"),
        (("only-one",), "expected observer_id"),
    ],
)
def test_refuses_bad_rows(row: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_user_observers_csv([("OK-1", "OK-2"), row])


def test_refuses_an_empty_file() -> None:
    with pytest.raises(ValueError, match="No rows"):
        build_user_observers_csv([])


def test_parses_each_canvas_row_message() -> None:
    warnings = parse_processing_warnings(
        [
            ["user_observers.csv", "Can't observe yourself user S-1"],
            ["user_observers.csv", "An observer referenced a non-existent user A-9"],
            ["user_observers.csv", "A student referenced a non-existent user S-404"],
            [
                "user_observers.csv",
                "Can't delete a non-existent observer for observer: A-1, student: S-2",
            ],
            ["user_observers.csv", "No observer_id given for a user observer"],
            ["user_observers.csv", 'Improper status "paused" for a user_observer'],
            "bare message",
        ]
    )
    assert [(w.observer_id, w.student_id) for w in warnings] == [
        ("S-1", "S-1"),
        ("A-9", None),
        (None, "S-404"),
        ("A-1", "S-2"),
        (None, None),
        (None, None),
        (None, None),
    ]
    assert warnings[2].message == "A student referenced a non-existent user S-404"
    assert warnings[2].file == "user_observers.csv"
    assert warnings[6] == ObserverWarning(None, None, "bare message", "")


def test_ids_with_commas_survive_the_pair_message() -> None:
    (warning,) = parse_processing_warnings(
        [["f.csv", "Can't delete a non-existent observer for observer: A,1, student: S-2"]]
    )
    assert (warning.observer_id, warning.student_id) == ("A,1", "S-2")


def test_match_warnings_to_rows() -> None:
    rows = [
        UserObserverRow("A-1", "S-1"),
        UserObserverRow("A-1", "S-2"),
        UserObserverRow("A-2", "S-404"),
        UserObserverRow("A-9", "S-3", "deleted"),
    ]
    warnings = parse_processing_warnings(
        [
            ["u.csv", "A student referenced a non-existent user S-404"],
            ["u.csv", "An observer referenced a non-existent user A-9"],
            ["u.csv", "Can't delete a non-existent observer for observer: A-1, student: S-2"],
            ["u.csv", "No observer_id given for a user observer"],
        ]
    )

    matched = match_warnings(rows, warnings)

    assert matched == {
        rows[2]: ["A student referenced a non-existent user S-404"],
        rows[3]: ["An observer referenced a non-existent user A-9"],
        rows[1]: ["Can't delete a non-existent observer for observer: A-1, student: S-2"],
    }
    assert rows[0] not in matched

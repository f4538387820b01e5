"""Small frozen dataclasses for what Canvas returns.

Each has ``from_json`` that tolerates missing optional fields: Canvas omits ``sis_user_id`` unless
the caller may read SIS data, ``login_id`` without ``view_user_logins``, ``email`` without
``include[]=email`` (docs/canvas.md, "The observer's view"). Secrets (pairing codes, OAuth tokens) are kept out of
``repr``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import datetime
from functools import cache
from types import UnionType
from typing import Any, Self, cast, get_args, get_origin, get_type_hints

JSON = Mapping[str, Any]


def parse_datetime(value: object) -> datetime | None:
    """Canvas timestamps are ISO 8601, usually UTC with a ``Z``; ``None`` or junk gives ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _optional(convert: Callable[[Any], Any]) -> Callable[[object], Any]:
    """A reader for an optional value: None when Canvas leaves it out, sends "", or sends junk it cannot convert."""

    def read(value: object) -> Any:
        if value is None or value == "":
            return None
        try:
            return convert(value)
        except (TypeError, ValueError):
            return None

    return read


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    """processing_errors/_warnings are lists of [csv_file, message] pairs."""
    out: list[tuple[str, str]] = []
    for item in value or ():  # type: ignore[attr-defined]
        if isinstance(item, list | tuple) and len(item) >= 2:
            out.append((str(item[0]), str(item[1])))
        elif isinstance(item, str):
            out.append(("", item))
    return tuple(out)


def rule(key: str | None = None, *, required: bool = False, absent: object = None) -> dict[str, Any]:
    """A field's `metadata` when its type's rule is not enough: `key` is where Canvas puts it (dotted for a nested
    object), `required` makes a missing value an error, `absent` replaces a missing or empty one."""
    return {"canvas": {"key": key, "required": required, "absent": absent}}


Convert = Callable[[Any], Any]
_OPTIONAL: dict[Any, Convert] = {
    str: _optional(str),
    int: _optional(int),
    float: _optional(float),
    datetime: parse_datetime,
}


def _lookup(path: str) -> Convert:
    keys = path.split(".")

    def read(data: JSON) -> Any:
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    return read


def _nested(model: Any, *, many: bool) -> Convert:
    """A nested answer (or a list of them): only the well-formed entries are read."""
    if many:
        return lambda v: tuple(model.from_json(e) for e in v if isinstance(e, Mapping)) if isinstance(v, list) else ()
    return lambda v: model.from_json(v) if isinstance(v, Mapping) else None


def _convert(hint: Any, *, absent: object) -> Convert:
    """How one value of the answer becomes the field's type (the rules are listed in `_FromJson.from_json`)."""
    args = get_args(hint)
    if isinstance(hint, UnionType):
        inner = next(a for a in args if a is not type(None))
        return _nested(inner, many=False) if is_dataclass(inner) else _OPTIONAL[inner]
    if get_origin(hint) is tuple:
        if is_dataclass(args[0]):
            return _nested(args[0], many=True)
        return (lambda v: tuple(int(x) for x in v or ())) if args[0] is int else _pairs
    if hint is bool or absent is None:
        return hint
    return lambda v: hint(v) if v else absent


@cache
def _readers(model: type) -> tuple[tuple[str, Convert, Convert], ...]:
    hints = get_type_hints(model)
    out = []
    for f in fields(model):
        meta = f.metadata.get("canvas", {})
        key, hint, absent = meta.get("key") or f.name, hints[f.name], meta.get("absent")
        required = meta.get("required") or (hint is int and f.default is MISSING and absent is None)
        if not required and absent is None and hint in (str, int):
            absent = "" if hint is str else f.default
        read = operator.itemgetter(key) if required else _lookup(key)
        out.append((f.name, read, _convert(hint, absent=absent)))
    return tuple(out)


class _FromJson:
    @classmethod
    def from_json(cls, data: JSON) -> Self:
        """Build the dataclass from Canvas's answer, each field by its type.

        An `X | None` field is None when Canvas leaves it out (or sends junk); an `int` without a default is required
        (a KeyError names it), one with a default falls back to it; a `str` reads as "" when missing; a `bool` is
        truthiness; tuples and nested dataclasses take only the well-formed entries. `rule()` changes the key or the
        rule.
        """
        return cls(**{name: convert(read(data)) for name, read, convert in _readers(cast(type, cls))})


@dataclass(frozen=True)
class _Named(_FromJson):
    """What every user and course answer has: its id (required) and its name ("" when Canvas leaves it out)."""

    id: int
    name: str


@dataclass(frozen=True)
class CanvasUser(_Named):
    sortable_name: str | None = None
    sis_user_id: str | None = None
    login_id: str | None = None
    email: str | None = None
    # Root accounts holding the link; only on observee/observer endpoints (docs/canvas.md, "Observer links").
    observation_link_root_account_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Course(_Named):
    course_code: str | None = None
    sis_course_id: str | None = None
    workflow_state: str | None = None
    enrollments: tuple[CourseEnrollment, ...] = ()

    def student_enrollment(self, user_id: int) -> CourseEnrollment | None:
        """The user's student enrollment in this course, if the answer lists it."""
        return next((e for e in self.enrollments if e.type == "student" and e.user_id == user_id), None)


@dataclass(frozen=True)
class PairingCode(_FromJson):
    user_id: int
    # The code lets whoever holds it observe the student: never in repr, logs or exception text.
    code: str = field(repr=False, metadata=rule(required=True))
    expires_at: datetime | None
    workflow_state: str = field(metadata=rule(absent="active"))


@dataclass(frozen=True)
class CourseEnrollment(_FromJson):
    """One entry of a course's `enrollments` in the courses API (no id there). With `include[]=observed_users` the
    observees' student enrollments are listed beside the caller's own; scores need `include[]=total_scores`."""

    type: str
    user_id: int = field(metadata=rule(absent=0))
    enrollment_state: str = ""
    associated_user_id: int | None = None
    current_score: float | None = field(default=None, metadata=rule("computed_current_score"))
    current_grade: str | None = field(default=None, metadata=rule("computed_current_grade"))


@dataclass(frozen=True)
class Enrollment(_FromJson):
    id: int
    course_id: int
    user_id: int
    type: str
    enrollment_state: str
    associated_user_id: int | None = None
    course_section_id: int | None = None
    current_score: float | None = field(default=None, metadata=rule("grades.current_score"))
    current_grade: str | None = field(default=None, metadata=rule("grades.current_grade"))


@dataclass(frozen=True)
class Submission(_FromJson):
    user_id: int | None = None
    workflow_state: str | None = None
    submitted_at: datetime | None = None
    missing: bool = False
    late: bool = False
    score: float | None = None
    grade: str | None = None


@dataclass(frozen=True)
class Assignment(_FromJson):
    id: int
    course_id: int
    name: str
    due_at: datetime | None = None
    html_url: str | None = None
    points_possible: float | None = None
    # Present when asked for with include[]=submission: the *caller's* submission (missing_submissions returns none).
    submission: Submission | None = None
    # With include[]=observed_users as well Canvas sends a list: the caller's and each observee's
    # (docs/canvas-rules.md, section 1).
    submissions: tuple[Submission, ...] = field(default=(), metadata=rule("submission"))

    @property
    def submission_state(self) -> str | None:
        return self.submission.workflow_state if self.submission else None

    def submission_of(self, user_id: int) -> Submission | None:
        """This user's submission from either form of the answer."""
        if self.submission is not None and self.submission.user_id in (None, user_id):
            return self.submission
        return next((s for s in self.submissions if s.user_id == user_id), None)


# Canvas stops touching an import once it reaches one of these states (docs/canvas.md, "SIS imports").
SIS_FINISHED_STATES = frozenset(
    {
        "imported",
        "imported_with_messages",
        "aborted",
        "failed",
        "failed_with_messages",
        "partially_restored",
        "restored",
    }
)


# SisBatch#populate_old_warnings_and_errors appends ["and N more warnings that were not included", "Download the
# error file to see all warnings."] after 24 (docs/canvas-rules.md, section 3): a summary, never a row.
_MORE = re.compile(r"^and \d+ more (warnings|errors) that were not included$")


def is_more_entry(pair: tuple[str, str] | Sequence[str]) -> bool:
    """Is this processing_warnings/_errors pair Canvas's "and N more" summary (not a file and a message)?"""
    return len(pair) >= 1 and bool(_MORE.match(str(pair[0]).strip()))


@dataclass(frozen=True)
class SisImport(_FromJson):
    """A SIS import. Canvas lists at most 24 warnings (and errors) and then an "and N more" pair; the full counts
    are `warning_count` and `error_count`, and every message is in the file at `errors_attachment_url`
    (docs/canvas-rules.md, section 3)."""

    id: int
    workflow_state: str
    progress: int = 0
    processing_errors: tuple[tuple[str, str], ...] = ()
    processing_warnings: tuple[tuple[str, str], ...] = ()
    warning_count: int | None = field(default=None, metadata=rule("data.counts.warning_count"))
    error_count: int | None = field(default=None, metadata=rule("data.counts.error_count"))
    errors_attachment_url: str | None = field(default=None, metadata=rule("errors_attachment.url"))

    @property
    def messages_complete(self) -> bool:
        """Are all of the import's messages in processing_warnings and processing_errors (no "and N more" pair)?"""
        pairs = (*self.processing_warnings, *self.processing_errors)
        if any(is_more_entry(pair) for pair in pairs):
            return False
        listed = sum(1 for pair in self.processing_warnings if not is_more_entry(pair))
        return self.warning_count is None or listed >= self.warning_count

    @property
    def finished(self) -> bool:
        return self.workflow_state in SIS_FINISHED_STATES

    @property
    def succeeded(self) -> bool:
        """The import ran; row problems (if any) are in ``processing_warnings``."""
        return self.workflow_state in {"imported", "imported_with_messages"}


@dataclass(frozen=True)
class OAuthToken(_FromJson):
    access_token: str = field(repr=False, metadata=rule(required=True))
    token_type: str = field(metadata=rule(absent="Bearer"))
    user_id: int | None = field(metadata=rule("user.id"))
    user_name: str | None = field(metadata=rule("user.name"))
    expires_in: int | None
    # Canvas returns a refresh token on the first exchange only; a refresh returns none.
    refresh_token: str | None = field(default=None, repr=False)


__all__ = [
    "SIS_FINISHED_STATES",
    "Assignment",
    "CanvasUser",
    "Course",
    "Enrollment",
    "OAuthToken",
    "PairingCode",
    "SisImport",
    "Submission",
    "is_more_entry",
    "parse_datetime",
]

"""Small frozen dataclasses for what Canvas returns.

Each has ``from_json`` that tolerates missing optional fields: Canvas omits ``sis_user_id`` unless
the caller may read SIS data, ``login_id`` without ``view_user_logins``, ``email`` without
``include[]=email`` (docs/canvas.md, "The observer's view"). Secrets (pairing codes, OAuth tokens) are kept out of
``repr``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JSON = Mapping[str, Any]


def parse_datetime(value: object) -> datetime | None:
    """Canvas timestamps are ISO 8601, usually UTC with a ``Z``; ``None`` or junk gives ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _opt_str(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _opt_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _opt_float(value: object) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class CanvasUser:
    id: int
    name: str
    sortable_name: str | None = None
    sis_user_id: str | None = None
    login_id: str | None = None
    email: str | None = None
    # Root accounts holding the link; only on observee/observer endpoints (docs/canvas.md, "Observer links").
    observation_link_root_account_ids: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, data: JSON) -> CanvasUser:
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            sortable_name=_opt_str(data.get("sortable_name")),
            sis_user_id=_opt_str(data.get("sis_user_id")),
            login_id=_opt_str(data.get("login_id")),
            email=_opt_str(data.get("email")),
            observation_link_root_account_ids=tuple(
                int(x) for x in data.get("observation_link_root_account_ids") or ()
            ),
        )


@dataclass(frozen=True)
class PairingCode:
    user_id: int
    # The code lets whoever holds it observe the student: never in repr, logs or exception text.
    code: str = field(repr=False)
    expires_at: datetime | None
    workflow_state: str

    @classmethod
    def from_json(cls, data: JSON) -> PairingCode:
        return cls(
            user_id=int(data["user_id"]),
            code=str(data["code"]),
            expires_at=parse_datetime(data.get("expires_at")),
            workflow_state=str(data.get("workflow_state") or "active"),
        )


@dataclass(frozen=True)
class CourseEnrollment:
    """One entry of a course's `enrollments` in the courses API (no id there). With `include[]=observed_users` the
    observees' student enrollments are listed beside the caller's own; scores need `include[]=total_scores`."""

    type: str
    user_id: int
    enrollment_state: str = ""
    associated_user_id: int | None = None
    current_score: float | None = None
    current_grade: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> CourseEnrollment:
        return cls(
            type=str(data.get("type") or ""),
            user_id=int(data.get("user_id") or 0),
            enrollment_state=str(data.get("enrollment_state") or ""),
            associated_user_id=_opt_int(data.get("associated_user_id")),
            current_score=_opt_float(data.get("computed_current_score")),
            current_grade=_opt_str(data.get("computed_current_grade")),
        )


@dataclass(frozen=True)
class Course:
    id: int
    name: str
    course_code: str | None = None
    sis_course_id: str | None = None
    workflow_state: str | None = None
    enrollments: tuple[CourseEnrollment, ...] = ()

    @classmethod
    def from_json(cls, data: JSON) -> Course:
        raw = data.get("enrollments")
        return cls(
            id=int(data["id"]),
            name=str(data.get("name") or ""),
            course_code=_opt_str(data.get("course_code")),
            sis_course_id=_opt_str(data.get("sis_course_id")),
            workflow_state=_opt_str(data.get("workflow_state")),
            enrollments=tuple(CourseEnrollment.from_json(e) for e in raw if isinstance(e, Mapping))
            if isinstance(raw, list)
            else (),
        )

    def student_enrollment(self, user_id: int) -> CourseEnrollment | None:
        """The user's student enrollment in this course, if the answer lists it."""
        return next((e for e in self.enrollments if e.type == "student" and e.user_id == user_id), None)


@dataclass(frozen=True)
class Enrollment:
    id: int
    course_id: int
    user_id: int
    type: str
    enrollment_state: str
    associated_user_id: int | None = None
    course_section_id: int | None = None
    current_score: float | None = None
    current_grade: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> Enrollment:
        grades = data.get("grades") or {}
        return cls(
            id=int(data["id"]),
            course_id=int(data["course_id"]),
            user_id=int(data["user_id"]),
            type=str(data.get("type") or ""),
            enrollment_state=str(data.get("enrollment_state") or ""),
            associated_user_id=_opt_int(data.get("associated_user_id")),
            course_section_id=_opt_int(data.get("course_section_id")),
            current_score=_opt_float(grades.get("current_score")),
            current_grade=_opt_str(grades.get("current_grade")),
        )


@dataclass(frozen=True)
class Submission:
    user_id: int | None = None
    workflow_state: str | None = None
    submitted_at: datetime | None = None
    missing: bool = False
    late: bool = False
    score: float | None = None
    grade: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> Submission:
        return cls(
            user_id=_opt_int(data.get("user_id")),
            workflow_state=_opt_str(data.get("workflow_state")),
            submitted_at=parse_datetime(data.get("submitted_at")),
            missing=bool(data.get("missing")),
            late=bool(data.get("late")),
            score=_opt_float(data.get("score")),
            grade=_opt_str(data.get("grade")),
        )


@dataclass(frozen=True)
class Assignment:
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
    submissions: tuple[Submission, ...] = ()

    @classmethod
    def from_json(cls, data: JSON) -> Assignment:
        sub = data.get("submission")
        return cls(
            id=int(data["id"]),
            course_id=int(data["course_id"]),
            name=str(data.get("name") or ""),
            due_at=parse_datetime(data.get("due_at")),
            html_url=_opt_str(data.get("html_url")),
            points_possible=_opt_float(data.get("points_possible")),
            submission=Submission.from_json(sub) if isinstance(sub, Mapping) else None,
            submissions=tuple(Submission.from_json(s) for s in sub if isinstance(s, Mapping))
            if isinstance(sub, list)
            else (),
        )

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


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    """processing_errors/_warnings are lists of [csv_file, message] pairs."""
    out: list[tuple[str, str]] = []
    for item in value or ():  # type: ignore[attr-defined]
        if isinstance(item, list | tuple) and len(item) >= 2:
            out.append((str(item[0]), str(item[1])))
        elif isinstance(item, str):
            out.append(("", item))
    return tuple(out)


@dataclass(frozen=True)
class SisImport:
    """A SIS import. Canvas lists at most 24 warnings (and errors) and then an "and N more" pair; the full counts
    are `warning_count` and `error_count`, and every message is in the file at `errors_attachment_url`
    (docs/canvas-rules.md, section 3)."""

    id: int
    workflow_state: str
    progress: int = 0
    processing_errors: tuple[tuple[str, str], ...] = ()
    processing_warnings: tuple[tuple[str, str], ...] = ()
    warning_count: int | None = None
    error_count: int | None = None
    errors_attachment_url: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> SisImport:
        counts = (data.get("data") or {}).get("counts") or {}
        attachment = data.get("errors_attachment") or {}
        return cls(
            id=int(data["id"]),
            workflow_state=str(data.get("workflow_state") or ""),
            progress=_opt_int(data.get("progress")) or 0,
            processing_errors=_pairs(data.get("processing_errors")),
            processing_warnings=_pairs(data.get("processing_warnings")),
            warning_count=_opt_int(counts.get("warning_count")),
            error_count=_opt_int(counts.get("error_count")),
            errors_attachment_url=_opt_str(attachment.get("url")) if isinstance(attachment, dict) else None,
        )

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
class OAuthToken:
    access_token: str = field(repr=False)
    token_type: str
    user_id: int | None
    user_name: str | None
    expires_in: int | None
    # Canvas returns a refresh token on the first exchange only; a refresh returns none.
    refresh_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: JSON) -> OAuthToken:
        user = data.get("user") or {}
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            user_id=_opt_int(user.get("id")),
            user_name=_opt_str(user.get("name")),
            expires_in=_opt_int(data.get("expires_in")),
            refresh_token=_opt_str(data.get("refresh_token")),
        )


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

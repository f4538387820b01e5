"""Reading a student's courses and work for their mentor, and linking by pairing code.

Reads use only the mentor's own Canvas token (docs/decisions.md, "Mentor pages read with the mentor's token only"):
Canvas then enforces what an observer may see, and the scope filter keeps only the assignment's courses. A
course-scoped mentor holds only course ObserverEnrollments, which Canvas does not let read `/users/:student/...`
(docs/canvas-rules.md, section 1), so every read goes through `/users/self/...` and `/courses/:c/...`; an all-courses
mentor's user-level link gives it the same enrollments in every course, so one path serves both scopes. A mentor
without a Canvas credential, or whose token Canvas refuses after one refresh, is asked to sign in with Canvas again and
sees no student data. Results are cached briefly per mentor; a longer-lived copy lets the page show the last good
data, with its time, when Canvas is slow or down. Every page view of a student's data writes a `student_data.viewed`
audit event (a FERPA record of disclosure); every refusal a `student_data.refused` one.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.cache import cache
from django.http import Http404, HttpRequest
from django.utils import timezone

from canvas_client import (
    CanvasAuthError,
    CanvasClient,
    CanvasError,
    CanvasNotFound,
    CanvasPermissionError,
    CanvasRateLimited,
    CanvasTransientError,
    Course,
)
from mentorship.accounts import canvas_tokens
from mentorship.accounts.models import User
from mentorship.assignments.models import MentorAssignment
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record

from . import selectors

logger = logging.getLogger(__name__)

FRESH_SECONDS = 120
LAST_GOOD_SECONDS = 24 * 3600
UPCOMING_DAYS = 14
PARALLEL_READS = 4  # Canvas reads of one student page at once (the throttle allows ~11 per token)

SOURCE_MENTOR = "mentor_token"

# Why a mentor saw no student data (the `reason` of a student_data.refused event).
REFUSED_NO_CREDENTIAL = "no_canvas_credential"
REFUSED_TOKEN_REVOKED = "canvas_token_refused"  # noqa: S105 - a reason, not a secret
REFUSED_OUTSIDE_DATES = "outside_assignment_dates"
REFUSED_NOT_THEIRS = "not_their_student"
REFUSED_NO_SUCH = "no_such_assignment"

NOT_LINKED_SENTENCE = (
    "Canvas does not show you this student's work yet: your Canvas link is not in place. "
    "If you have a pairing code, use it on your students page."
)

T = TypeVar("T")


class LinkNowError(Exception):
    """ "Link now" did not work; the message is a sentence for the mentor."""


class SignInNeeded(Exception):
    """The mentor has no Canvas token Canvas accepts; `reason` is one of the REFUSED_* values."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class StudentData:
    courses: list[dict[str, Any]] = field(default_factory=list)
    fetched_at: datetime.datetime | None = None
    source: str = SOURCE_MENTOR
    stale: bool = False
    from_cache: bool = False
    # A sentence for the mentor when the page cannot show fresh data.
    problem: str = ""
    # The problem is Canvas being slow or down (worth trying again soon), not a refusal.
    transient: bool = False
    # The mentor must sign in with Canvas (again) before any of the student's data is shown.
    sign_in_reason: str = ""

    @property
    def shown(self) -> bool:
        return self.fetched_at is not None

    @property
    def needs_sign_in(self) -> bool:
        return bool(self.sign_in_reason)


def sign_in_sentence(assignment: MentorAssignment) -> str:
    return f"Sign in with Canvas again to see {assignment.student.name}\u2019s work."


def _scope_ids(assignment: MentorAssignment) -> set[int] | None:
    if assignment.scope != MentorAssignment.Scope.COURSES:
        return None
    return {c.canvas_course_id for c in assignment.courses.all()}


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:  # a cache outage must not take the page down: read from Canvas instead
        logger.warning("The cache could not be read; reading from Canvas.")
        return None


def _cache_set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:
        logger.warning("The cache could not be written; the next view reads from Canvas again.")


def _cache_key(assignment: MentorAssignment, user: User, kind: str) -> str:
    """Per mentor: a copy read with one mentor's token is never shown to anyone else."""
    scope = ",".join(str(i) for i in sorted(_scope_ids(assignment) or ())) or "all"
    return f"mentors:student:{kind}:{assignment.pk}:{assignment.generation}:{SOURCE_MENTOR}:{user.pk}:{scope}"


# --- reading Canvas with the mentor's token ---------------------------------------------------------------------


def _observed_courses(
    *, client: CanvasClient, assignment: MentorAssignment, student_id: int
) -> dict[int, dict[str, Any]]:
    """The student's courses the mentor observes them in (`/users/self/courses?include[]=observed_users`), in scope."""
    scope = _scope_ids(assignment)
    scope_names = {c.canvas_course_id: c.name for c in assignment.courses.all()}
    courses: dict[int, dict[str, Any]] = {}
    for course in client.list_observed_courses():
        if scope is not None and course.id not in scope:
            continue
        if not _observes_in(course, student_id):
            continue
        enrollment = course.student_enrollment(student_id)
        if enrollment is None or enrollment.enrollment_state != "active":
            continue
        courses[course.id] = {
            "id": course.id,
            "name": scope_names.get(course.id) or course.name or f"Course {course.id}",
            "grade": enrollment.current_grade,
            "score": enrollment.current_score,
            "upcoming": [],
            "missing": [],
        }
    return courses


def _observes_in(course: Course, student_id: int) -> bool:
    return any(e.type == "observer" and e.associated_user_id == student_id for e in course.enrollments)


def _upcoming_work(*, client: CanvasClient, course: dict[str, Any], student_id: int) -> None:
    """Work due in the next UPCOMING_DAYS, with the student's own submission state (`include[]=observed_users`)."""
    now = timezone.now()
    horizon = now + datetime.timedelta(days=UPCOMING_DAYS)
    for item in client.list_course_assignments(course["id"], bucket="future"):
        if item.due_at is None or not now < item.due_at <= horizon:
            continue
        submission = item.submission_of(student_id)
        course["upcoming"].append(
            {
                "name": item.name,
                "due_at": item.due_at,
                "url": item.html_url,
                "points": item.points_possible,
                "submitted": submission is not None and submission.workflow_state in {"submitted", "graded"},
            }
        )
    course["upcoming"].sort(key=lambda a: a["due_at"])


def fetch_student_courses(*, client: CanvasClient, assignment: MentorAssignment) -> list[dict[str, Any]]:
    """The student's current courses in scope with grade, upcoming work (14 days) and missing submissions.

    `client` acts with the mentor's own token. Raises CanvasError.
    """
    student_id = assignment.student.canvas_user_id
    courses = _observed_courses(client=client, assignment=assignment, student_id=student_id)
    if courses:
        # The reads per course and the missing-work read are independent: run them side by side (a student with
        # eight courses is one round trip of Canvas latency, not seventeen). The first CanvasError is raised.
        with ThreadPoolExecutor(max_workers=PARALLEL_READS, thread_name_prefix="student-page") as pool:
            details = [
                pool.submit(_upcoming_work, client=client, course=course, student_id=student_id)
                for course in courses.values()
            ]
            missing = pool.submit(
                lambda: list(
                    client.list_missing_submissions("self", observed_user_id=student_id, course_ids=sorted(courses))
                )
            )
            for future in details:
                future.result()
            for item in missing.result():
                if item.course_id in courses:
                    courses[item.course_id]["missing"].append(
                        {"name": item.name, "due_at": item.due_at, "url": item.html_url}
                    )
    return sorted(courses.values(), key=lambda c: (c["name"].lower(), c["id"]))


def with_mentor_token(*, user: User, read: Callable[[CanvasClient], T]) -> T:
    """Run `read` with the mentor's own client; a 401 token failure gets one refresh and one more try.

    Raises SignInNeeded when the mentor has no credential or Canvas still refuses the token (the credential is then
    forgotten, so the next page asks at once), CanvasError for anything else (a refresh that could not reach Canvas
    included).
    """
    client = canvas_tokens.mentor_client(user)
    if client is None:
        raise SignInNeeded(REFUSED_NO_CREDENTIAL)
    try:
        return read(client)
    except CanvasAuthError:
        # Canvas may expire a token before the time it announced: refresh once and try again.
        pass
    finally:
        client.close()
    retry = canvas_tokens.mentor_client(user, force_refresh=True)
    if retry is None:
        raise SignInNeeded(REFUSED_TOKEN_REVOKED)
    try:
        return read(retry)
    except CanvasAuthError:
        canvas_tokens.credential_forget(user=user)
        raise SignInNeeded(REFUSED_TOKEN_REVOKED) from None
    finally:
        retry.close()


def _problem_sentence(exc: CanvasError) -> str:
    if isinstance(exc, CanvasRateLimited | CanvasTransientError):
        return "Canvas is slow or not answering right now."
    if isinstance(exc, CanvasPermissionError | CanvasNotFound):
        return NOT_LINKED_SENTENCE
    return "Canvas could not give us this student's work right now."


def _token_check(client: CanvasClient) -> None:
    """One cheap call that fails with CanvasAuthError when the token was revoked since the copy was cached."""
    client.get_self()


def _cached_if_token_works(*, user: User, key: str) -> StudentData | None:
    """The fresh copy, but only while Canvas still accepts the mentor's token: a revoked mentor sees no cached data."""
    cached = _cache_get(key)
    if cached is None:
        return None
    try:
        with_mentor_token(user=user, read=_token_check)
    except (CanvasRateLimited, CanvasTransientError):
        pass  # Canvas slow: the token was fine two minutes ago, and the copy is the mentor's own
    except CanvasError:
        return None  # read afresh; that read names the problem
    return StudentData(courses=cached["courses"], fetched_at=cached["at"], from_cache=True)


def _load(*, user: User, assignment: MentorAssignment) -> StudentData:
    fresh_key = _cache_key(assignment, user, "fresh")
    last_key = _cache_key(assignment, user, "last")
    try:
        cached = _cached_if_token_works(user=user, key=fresh_key)
        if cached is not None:
            return cached
        courses = with_mentor_token(user=user, read=lambda c: fetch_student_courses(client=c, assignment=assignment))
    except SignInNeeded as refused:
        # No copy of any kind: the data is shown only to a mentor whose token Canvas accepts now.
        return StudentData(problem=sign_in_sentence(assignment), sign_in_reason=refused.reason)
    except CanvasError as exc:
        # Status only: the exception text could name a student or course.
        logger.info("Student page read failed for assignment %s (%s).", assignment.pk, exc.status_text)
        transient = isinstance(exc, CanvasRateLimited | CanvasTransientError)
        last = _cache_get(last_key) if transient else None
        if last is not None:
            return StudentData(
                courses=last["courses"],
                fetched_at=last["at"],
                stale=True,
                problem=_problem_sentence(exc),
                transient=True,
            )
        return StudentData(problem=_problem_sentence(exc), transient=transient)
    if not courses and assignment.link_state != MentorAssignment.LinkState.LINKED:
        # Canvas shows the mentor nothing because the link is still being made (or waits for a pairing code).
        return StudentData(problem=NOT_LINKED_SENTENCE)
    fetched_at = timezone.now()
    payload = {"courses": courses, "at": fetched_at}
    _cache_set(fresh_key, payload, FRESH_SECONDS)
    _cache_set(last_key, payload, LAST_GOOD_SECONDS)
    return StudentData(courses=courses, fetched_at=fetched_at)


def _audit_refused(
    *,
    user: User,
    reason: str,
    assignment: MentorAssignment | None,
    request: HttpRequest | None,
    **details: Any,
) -> None:
    audit_record(
        action=Action.STUDENT_DATA_REFUSED,
        actor=user,
        program=assignment.program if assignment is not None else None,
        student=assignment.student if assignment is not None else None,
        obj=assignment,
        outcome=Outcome.REFUSED,
        request=request,
        details={"reason": reason, "assignment": assignment.pk if assignment is not None else None, **details},
    )


def assignment_for_mentor_audited(
    *, user: Any, assignment_id: int, request: HttpRequest | None = None
) -> MentorAssignment:
    """selectors.assignment_for_mentor, with every refusal (not theirs, outside the dates, no such) audited."""
    try:
        return selectors.assignment_for_mentor(user=user, assignment_id=assignment_id)
    except Http404:
        if isinstance(user, User) and user.is_authenticated:
            found = MentorAssignment.objects.select_related("program", "student").filter(pk=assignment_id).first()
            if found is None:
                reason = REFUSED_NO_SUCH
            elif found.mentor_id != user.person_id:
                reason = REFUSED_NOT_THEIRS
            else:
                reason = REFUSED_OUTSIDE_DATES
            # The student of someone else's assignment is not named in this mentor's refusal.
            _audit_refused(
                user=user,
                reason=reason,
                assignment=found if reason == REFUSED_OUTSIDE_DATES else None,
                request=request,
                requested=assignment_id,
            )
        raise


def student_data_view(*, user: User, assignment: MentorAssignment, request: HttpRequest | None = None) -> StudentData:
    """Read the student's data for their mentor and record the view in the audit log.

    Precondition: `assignment` came from selectors.assignment_for_mentor (the mentor's own, active assignment).
    """
    data = _load(user=user, assignment=assignment)
    if data.needs_sign_in:
        _audit_refused(user=user, reason=data.sign_in_reason, assignment=assignment, request=request)
        return data
    audit_record(
        action=Action.STUDENT_DATA_VIEWED,
        actor=user,
        program=assignment.program,
        student=assignment.student,
        obj=assignment,
        outcome=Outcome.OK if data.shown else Outcome.FAILED,
        request=request,
        details={
            "assignment": assignment.pk,
            "courses": [c["id"] for c in data.courses] if data.shown else [],
            "source": data.source,
            "from_cache": data.from_cache,
            "stale": data.stale,
            "fetched_at": data.fetched_at.isoformat() if data.fetched_at else None,
        },
    )
    return data


NO_CODE_SENTENCE = "There is no valid pairing code for this student any more. Ask your coordinator for a new one."
LINK_NOW_SIGN_IN_SENTENCE = (
    "\u201cLink now\u201d needs your Canvas sign-in. Choose \u201cSign in with Canvas\u201d, "
    "or enter the code in Canvas yourself as described below."
)


def pairing_card_settle(*, assignments: list[MentorAssignment]) -> None:
    """Expire the codes of these cards whose time has passed, before the cards are drawn: the card, the code ledger
    and the coordinator's view then show one state (expired, coordinator told), not "waiting" beside a dead code."""
    from mentorship.sync.services import pairing_codes_expire_due

    if pairing_codes_expire_due(assignment_ids=[a.pk for a in assignments]):
        for assignment in assignments:
            assignment.refresh_from_db(fields=["link_state"])


def pairing_code_link_now(*, user: User, assignment: MentorAssignment) -> str:
    """Redeem the mentor's own pairing code with their own Canvas token (sync records who and when).

    The token is refreshed first when it has expired, and once more if Canvas refuses it. Returns the sentence to
    show ("now linked", or "already linked" when another tab or Canvas itself got there first). Raises LinkNowError
    (a sentence) when the mentor has no Canvas token Canvas accepts, or Canvas refused the code.
    """
    from mentorship.sync.services import SyncError, pairing_code_redeem

    if assignment.mentor_id != user.person_id:
        raise LinkNowError("This pairing code was issued for someone else.")
    pairing_card_settle(assignments=[assignment])
    if assignment.link_state == MentorAssignment.LinkState.LINKED:
        return f"You are already linked to {assignment.student.name} in Canvas."
    code = selectors.pairing_code_for_mentor(user=user, assignment=assignment)
    if code is None:
        raise LinkNowError(NO_CODE_SENTENCE)
    try:
        with_mentor_token(
            user=user, read=lambda c: pairing_code_redeem(pairing_code=code, mentor_user=user, canvas_client=c)
        )
    except SignInNeeded:
        raise LinkNowError(LINK_NOW_SIGN_IN_SENTENCE) from None
    except SyncError as exc:
        raise LinkNowError(str(exc)) from None
    except CanvasError:
        raise LinkNowError("Canvas is not answering right now. Please try again in a minute.") from None
    return f"You are now linked to {assignment.student.name} in Canvas."

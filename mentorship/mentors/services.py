"""Reading a student's courses and work for their mentor, and linking by pairing code.

Reads use the mentor's own Canvas token when they signed in with Canvas (Canvas then enforces what an observer may
see), otherwise the portal's token; either way only the courses in the assignment's scope are kept. Results are
cached briefly; a longer-lived copy lets the page show the last good data, with its time, when Canvas is slow or down.
Every page view of a student's data writes a `student_data.viewed` audit event (a FERPA record of disclosure).
"""

from __future__ import annotations

import datetime
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import (
    CanvasAuthError,
    CanvasClient,
    CanvasError,
    CanvasNotFound,
    CanvasPermissionError,
    CanvasRateLimited,
    CanvasTransientError,
)
from mentorship.accounts import canvas_tokens
from mentorship.accounts.models import User
from mentorship.assignments.models import MentorAssignment
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.sync.models import PairingCode

logger = logging.getLogger(__name__)

FRESH_SECONDS = 120
LAST_GOOD_SECONDS = 24 * 3600
UPCOMING_DAYS = 14
PARALLEL_READS = 4  # Canvas reads of one student page at once (the throttle allows ~11 per token)

SOURCE_MENTOR = "mentor_token"
SOURCE_PORTAL = "portal_token"


class LinkNowError(Exception):
    """ "Link now" did not work; the message is a sentence for the mentor."""


@dataclass
class StudentData:
    courses: list[dict[str, Any]] = field(default_factory=list)
    fetched_at: datetime.datetime | None = None
    source: str = ""
    stale: bool = False
    from_cache: bool = False
    # A sentence for the mentor when the page cannot show fresh data.
    problem: str = ""
    # The problem is Canvas being slow or down (worth trying again soon), not a refusal.
    transient: bool = False

    @property
    def shown(self) -> bool:
        return self.fetched_at is not None


def _portal_client() -> CanvasClient:
    from mentorship.core.canvas import portal_client

    client = portal_client(session=canvas_tokens.canvas_session(), max_retries=1, max_throttle_retries=2)
    # Same fail-fast policy as the mentor's own token: a page waits seconds, not minutes.
    client.timeout = canvas_tokens.USER_TIMEOUT
    return client


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


def _cache_key(assignment: MentorAssignment, source: str, kind: str) -> str:
    scope = ",".join(str(i) for i in sorted(_scope_ids(assignment) or ())) or "all"
    return f"mentors:student:{kind}:{assignment.pk}:{assignment.generation}:{source}:{scope}"


def fetch_student_courses(
    *, client: CanvasClient, assignment: MentorAssignment, as_observer: bool
) -> list[dict[str, Any]]:
    """The student's current courses in scope with grade, upcoming work (14 days) and missing submissions.

    Raises CanvasError. With the mentor's token (`as_observer`) Canvas itself limits the answer to what the mentor
    observes; the scope filter applies in both cases.
    """
    student_id = assignment.student.canvas_user_id
    scope = _scope_ids(assignment)
    scope_names = {c.canvas_course_id: c.name for c in assignment.courses.all()}
    now = timezone.now()
    horizon = now + datetime.timedelta(days=UPCOMING_DAYS)

    courses: dict[int, dict[str, Any]] = {}
    for enrollment in client.list_user_enrollments(student_id, type="StudentEnrollment", state="active"):
        if scope is not None and enrollment.course_id not in scope:
            continue
        courses[enrollment.course_id] = {
            "id": enrollment.course_id,
            "name": scope_names.get(enrollment.course_id, ""),
            "grade": enrollment.current_grade,
            "score": enrollment.current_score,
            "upcoming": [],
            "missing": [],
        }

    def course_details(course: dict[str, Any]) -> None:
        if not course["name"]:
            try:
                course["name"] = client.get_course(course["id"]).name
            except (CanvasNotFound, CanvasPermissionError):
                course["name"] = f"Course {course['id']}"
        for item in client.list_assignments(student_id, course["id"], bucket="future"):
            if item.due_at is not None and now < item.due_at <= horizon:
                course["upcoming"].append(
                    {
                        "name": item.name,
                        "due_at": item.due_at,
                        "url": item.html_url,
                        "points": item.points_possible,
                        "submitted": item.submission_state in {"submitted", "graded"},
                    }
                )
        course["upcoming"].sort(key=lambda a: a["due_at"])

    def missing_work() -> list[Any]:
        ids = sorted(courses)
        if as_observer:
            return list(client.list_missing_submissions("self", observed_user_id=student_id, course_ids=ids))
        return list(client.list_missing_submissions(student_id, course_ids=ids))

    if courses:
        # The reads per course and the missing-work read are independent: run them side by side (a student with
        # eight courses is one round trip of Canvas latency, not seventeen). The first CanvasError is raised.
        with ThreadPoolExecutor(max_workers=PARALLEL_READS, thread_name_prefix="student-page") as pool:
            details = [pool.submit(course_details, course) for course in courses.values()]
            missing = pool.submit(missing_work)
            for future in details:
                future.result()
            for item in missing.result():
                if item.course_id in courses:
                    courses[item.course_id]["missing"].append(
                        {"name": item.name, "due_at": item.due_at, "url": item.html_url}
                    )
    return sorted(courses.values(), key=lambda c: (c["name"].lower(), c["id"]))


def _problem_sentence(exc: CanvasError, *, as_observer: bool) -> str:
    if isinstance(exc, CanvasRateLimited | CanvasTransientError):
        return "Canvas is slow or not answering right now."
    if as_observer and isinstance(exc, CanvasPermissionError | CanvasNotFound):
        return (
            "Canvas does not show you this student's work yet: your Canvas link is not in place. "
            "If you have a pairing code, use it on your students page."
        )
    if isinstance(exc, CanvasAuthError) and as_observer:
        return "Canvas no longer accepts your sign-in. Sign out, then sign in with Canvas again."
    if isinstance(exc, CanvasAuthError):
        return "Mentor Link cannot reach Canvas right now (the portal's Canvas access was refused)."
    return "Canvas could not give us this student's work right now."


def _load(*, user: User, assignment: MentorAssignment) -> StudentData:
    client: CanvasClient | None = None
    try:
        client = canvas_tokens.mentor_client(user)
    except CanvasError as exc:
        return StudentData(problem=_problem_sentence(exc, as_observer=True), source=SOURCE_MENTOR, transient=True)
    as_observer = client is not None
    source = SOURCE_MENTOR if as_observer else SOURCE_PORTAL
    fresh_key = _cache_key(assignment, f"{source}:{user.pk}" if as_observer else source, "fresh")
    last_key = _cache_key(assignment, f"{source}:{user.pk}" if as_observer else source, "last")
    cached = _cache_get(fresh_key)
    if cached is not None:
        if client is not None:
            client.close()
        return StudentData(courses=cached["courses"], fetched_at=cached["at"], source=source, from_cache=True)
    if client is None:
        client = _portal_client()
    try:
        try:
            courses = fetch_student_courses(client=client, assignment=assignment, as_observer=as_observer)
        except CanvasAuthError:
            if not as_observer:
                raise
            # Canvas may expire a token before the time it announced: refresh once and try again.
            client.close()
            retry = canvas_tokens.mentor_client(user, force_refresh=True)
            if retry is None:
                raise
            client = retry
            courses = fetch_student_courses(client=client, assignment=assignment, as_observer=True)
    except CanvasError as exc:
        # Status only: the exception text could name a student or course.
        logger.info("Student page read failed for assignment %s (%s).", assignment.pk, exc.status_text)
        problem = _problem_sentence(exc, as_observer=as_observer)
        last = _cache_get(last_key)
        transient = isinstance(exc, CanvasRateLimited | CanvasTransientError)
        if last is not None and transient:
            return StudentData(
                courses=last["courses"],
                fetched_at=last["at"],
                source=source,
                stale=True,
                problem=problem,
                transient=True,
            )
        return StudentData(source=source, problem=problem, transient=transient)
    finally:
        client.close()
    fetched_at = timezone.now()
    payload = {"courses": courses, "at": fetched_at}
    _cache_set(fresh_key, payload, FRESH_SECONDS)
    _cache_set(last_key, payload, LAST_GOOD_SECONDS)
    return StudentData(courses=courses, fetched_at=fetched_at, source=source)


def student_data_view(*, user: User, assignment: MentorAssignment, request: HttpRequest | None = None) -> StudentData:
    """Read the student's data for their mentor and record the view in the audit log.

    Precondition: `assignment` came from selectors.assignment_for_mentor (the mentor's own, active assignment).
    """
    data = _load(user=user, assignment=assignment)
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


def pairing_code_link_now(*, user: User, assignment: MentorAssignment, code: PairingCode) -> None:
    """Redeem the mentor's own pairing code with their own Canvas token (sync records who and when).

    Raises LinkNowError (a sentence) when the mentor did not sign in with Canvas or Canvas refused.
    """
    from mentorship.sync.services import SyncError, pairing_code_redeem

    if code.assignment_id != assignment.pk or assignment.mentor_id != user.person_id:
        raise LinkNowError("This pairing code was issued for someone else.")
    try:
        client = canvas_tokens.mentor_client(user)
    except CanvasError:
        raise LinkNowError("Canvas is not answering right now. Please try again in a minute.") from None
    if client is None:
        raise LinkNowError(
            "“Link now” needs you to sign in with Canvas. Sign out, choose “Sign in with Canvas”, "
            "or enter the code in Canvas yourself as described below."
        )
    try:
        pairing_code_redeem(pairing_code=code, mentor_user=user, canvas_client=client)
    except SyncError as exc:
        raise LinkNowError(str(exc)) from None
    finally:
        client.close()

"""Writes to Person records, and the Canvas look-ups that feed them.

People come from Canvas: a coordinator searches Canvas by name, login or SIS id and adds the match, or uploads a
list of SIS ids. A refresh re-reads the record from Canvas. Each write is audited.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Upper
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import CanvasClient, CanvasError, CanvasNotFound, CanvasUser
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record

from .models import Person

logger = logging.getLogger(__name__)

# A Canvas look-up made while a coordinator waits (search, approval checks): fail fast rather than hang the page.
LOOKUP_TIMEOUT = (2.0, 5.0)
STUDENT_STATUS_MAX_AGE = datetime.timedelta(hours=12)


class PersonError(Exception):
    """A look-up or change could not be done; the message is a sentence for the coordinator."""


def lookup_client() -> CanvasClient:
    """The portal's Canvas client with a short timeout and no retries, for look-ups a person waits on."""
    from mentorship.core.canvas import portal_client

    return portal_client(timeout=LOOKUP_TIMEOUT, max_retries=0, max_throttle_retries=1)


def _canvas_problem(exc: Exception) -> str:
    if isinstance(exc, CanvasError) and exc.status is not None:
        return f"Canvas could not answer ({exc.status_text}). Try again in a minute."
    return "Canvas could not be reached. Try again in a minute."  # no answer at all: refused, timed out


# --- reads from Canvas -----------------------------------------------------------------------------------------


def people_search_canvas(*, term: str, client: CanvasClient | None = None, limit: int = 20) -> list[CanvasUser]:
    """Canvas users matching a name, login or SIS id (Canvas needs 3 characters). Raises PersonError."""
    from mentorship.core.canvas import account_id

    term = term.strip()
    if len(term) < 3:
        raise PersonError("Type at least 3 characters to search Canvas.")
    client = client or lookup_client()
    found: list[CanvasUser] = []
    try:
        for user in client.search_users(account_id(), term):
            found.append(user)
            if len(found) >= limit:
                break
    except Exception as exc:  # any failure is reported to the person as a sentence
        raise PersonError(_canvas_problem(exc)) from exc
    return found


def parse_identifier(identifier: str) -> tuple[str, str]:
    """("sis" | "login" | "canvas" | "any", value) for "sis_user_id:X", "sis_login_id:X", "canvas_id:N" or "X"."""
    text = identifier.strip()
    prefix, sep, rest = text.partition(":")
    kinds = {"sis_user_id": "sis", "sis_login_id": "login", "canvas_id": "canvas", "canvas_user_id": "canvas"}
    if sep and prefix.lower() in kinds and rest.strip():
        return kinds[prefix.lower()], rest.strip()
    return "any", text


def canvas_user_lookup(identifier: str, *, client: CanvasClient) -> CanvasUser | None:
    """Find one Canvas user by SIS id, login id or Canvas id (in that order). None when Canvas knows nobody.

    Raises CanvasError (other than not-found) so the caller can tell "unknown" from "Canvas is down".
    """
    kind, value = parse_identifier(identifier)
    answers = _routes_lookup(value, {kind}, client=client)
    return next((answers[k] for k in _ROUTES if answers.get(k)), None)


# --- writes ----------------------------------------------------------------------------------------------------


def _fields_from_canvas(user: CanvasUser) -> dict[str, Any]:
    return {
        "sis_user_id": user.sis_user_id or "",
        "login_id": user.login_id or "",
        "name": user.name or f"Canvas user {user.id}",
        "sortable_name": user.sortable_name or "",
        "email": user.email or "",
        "refreshed_at": timezone.now(),
    }


def person_upsert_from_canvas(
    *, canvas_user: CanvasUser, actor: Any = None, system_actor: str = "", request: HttpRequest | None = None
) -> tuple[Person, bool]:
    """Create or update the Person for a Canvas user; audited as person.added or person.refreshed."""
    with transaction.atomic():
        person, created = Person.objects.update_or_create(
            canvas_user_id=canvas_user.id, defaults=_fields_from_canvas(canvas_user)
        )
        audit_record(
            action=Action.PERSON_ADDED if created else Action.PERSON_REFRESHED,
            actor=actor,
            system_actor=system_actor,
            obj=person,
            request=request,
            details={"canvas_user_id": person.canvas_user_id, "sis_user_id": person.sis_user_id},
        )
    return person, created


def person_add_from_canvas(
    *, canvas_user_id: int, actor: Any, request: HttpRequest | None = None, client: CanvasClient | None = None
) -> tuple[Person, bool]:
    """Read one user from Canvas and add (or refresh) the Person. Raises PersonError."""
    client = client or lookup_client()
    try:
        user = client.get_user(canvas_user_id)
    except CanvasNotFound as exc:
        raise PersonError("Canvas has no user with that id.") from exc
    except Exception as exc:
        raise PersonError(_canvas_problem(exc)) from exc
    return person_upsert_from_canvas(canvas_user=user, actor=actor, request=request)


def person_refresh(
    *, person: Person, actor: Any, request: HttpRequest | None = None, client: CanvasClient | None = None
) -> Person:
    """Re-read the person (and whether they study as a student) from Canvas. Raises PersonError."""
    client = client or lookup_client()
    try:
        user = client.get_user(person.canvas_user_id)
    except CanvasNotFound as exc:
        raise PersonError(f"Canvas no longer has a user with id {person.canvas_user_id}.") from exc
    except Exception as exc:
        raise PersonError(_canvas_problem(exc)) from exc
    person, _ = person_upsert_from_canvas(canvas_user=user, actor=actor, request=request)
    person_student_status(person=person, client=client, max_age=datetime.timedelta(0))
    return person


@dataclass
class SisAddRow:
    sis_user_id: str
    person: Person | None = None
    created: bool = False
    error: str = ""


def people_add_by_sis_ids(
    *, sis_ids: Iterable[str], actor: Any, request: HttpRequest | None = None, client: CanvasClient | None = None
) -> list[SisAddRow]:
    """Add every listed SIS id from Canvas (ids already known are left alone). One result per id."""
    ids = list(dict.fromkeys(s.strip() for s in sis_ids if s and s.strip()))
    known = {p.sis_user_id: p for p in Person.objects.filter(sis_user_id__in=ids)}
    client = client or lookup_client()
    rows: list[SisAddRow] = []
    for sis_id in ids:
        row = SisAddRow(sis_user_id=sis_id)
        if sis_id in known:
            row.person = known[sis_id]
        else:
            try:
                user = client.get_user(f"sis_user_id:{sis_id}")
            except CanvasNotFound:
                row.error = "Canvas has no user with this SIS id."
            except Exception as exc:
                row.error = _canvas_problem(exc)
            else:
                row.person, row.created = person_upsert_from_canvas(canvas_user=user, actor=actor, request=request)
        rows.append(row)
    return rows


@dataclass(frozen=True)
class StudentCheck:
    """The answer of the mentor-is-a-student check: True/False, or None with `problem` saying why Canvas could not
    tell (the approver sees that sentence and decides; docs/decisions.md, "Approval waits for the student check")."""

    is_student: bool | None
    problem: str = ""


def student_check_problem(exc: Exception) -> str:
    """Why the check could not run, naming the real cause: a refused token is not an outage."""
    from canvas_client import CanvasAuthError, CanvasRateLimited

    if isinstance(exc, CanvasAuthError):
        return f"Canvas refused the portal's token ({exc.status_text}); an administrator must replace it."
    if isinstance(exc, CanvasRateLimited):
        return "Canvas is throttling the portal's requests right now."
    if isinstance(exc, CanvasError) and exc.status is not None:
        return f"Canvas could not answer ({exc.status_text})."
    if isinstance(exc, CanvasError):
        return "Canvas could not be reached."
    return "The portal could not ask Canvas (an internal error; see the logs)."


def person_student_check(
    *, person: Person, client: CanvasClient | None = None, max_age: datetime.timedelta = STUDENT_STATUS_MAX_AGE
) -> StudentCheck:
    """Whether the person takes courses as a student in Canvas, cached on the Person for `max_age`; when Canvas
    could not be asked, None and the reason."""
    return people_student_checks(people=[person], client=client, max_age=max_age)[person.pk]


# Canvas reads a bulk approval makes at once for its people's enrollments (the shared limiter still paces them).
STUDENT_CHECK_THREADS = 8


def people_student_checks(
    *,
    people: Iterable[Person],
    client: CanvasClient | None = None,
    max_age: datetime.timedelta = STUDENT_STATUS_MAX_AGE,
    threads: int = STUDENT_CHECK_THREADS,
) -> dict[int, StudentCheck]:
    """`person_student_check` for many people: fresh answers from their Person rows, the others read from Canvas a
    few at a time (threads make only the Canvas calls; this thread writes the answers)."""
    now = timezone.now()
    answers: dict[int, StudentCheck] = {}
    stale: dict[int, Person] = {}  # one read per person, however many times they are given
    for person in people:
        fresh = person.student_checked_at and now - person.student_checked_at <= max_age
        if fresh and person.is_canvas_student is not None:
            answers[person.pk] = StudentCheck(person.is_canvas_student)
        else:
            stale.setdefault(person.pk, person)
    if not stale:
        return answers
    try:
        client = client or lookup_client()
    except Exception as exc:
        return answers | {pk: StudentCheck(None, student_check_problem(exc)) for pk in stale}

    def read(person: Person) -> list[int] | Exception:
        try:
            enrollments = client.list_user_enrollments(
                person.canvas_user_id, type="StudentEnrollment", state=["active", "invited"]
            )
            return sorted({e.course_id for e in enrollments})
        except Exception as exc:  # Canvas down, token refused, Redis down: all mean "unknown", each with its reason
            return exc

    if len(stale) == 1 or threads <= 1:
        results = [read(p) for p in stale.values()]
    else:
        with ThreadPoolExecutor(max_workers=min(threads, len(stale))) as pool:
            results = list(pool.map(read, stale.values()))
    for person, course_ids in zip(stale.values(), results, strict=True):
        if isinstance(course_ids, Exception):
            logger.warning("could not read student enrollments of person %s (%s)", person.pk, type(course_ids).__name__)
            answers[person.pk] = StudentCheck(None, student_check_problem(course_ids))
            continue
        person.is_canvas_student = bool(course_ids)
        person.canvas_student_course_ids = course_ids
        person.student_checked_at = now
        Person.objects.filter(pk=person.pk).update(
            is_canvas_student=person.is_canvas_student, canvas_student_course_ids=course_ids, student_checked_at=now
        )
        answers[person.pk] = StudentCheck(person.is_canvas_student)
    return answers


def person_student_status(
    *, person: Person, client: CanvasClient | None = None, max_age: datetime.timedelta = STUDENT_STATUS_MAX_AGE
) -> bool | None:
    """Whether the person takes courses as a student in Canvas (person_student_check without the reason).

    Returns None when Canvas could not be asked.
    """
    return person_student_check(person=person, client=client, max_age=max_age).is_student


# --- batch resolution (CSV import) -----------------------------------------------------------------------------


@dataclass
class Resolution:
    """People found for a list of identifiers: known Persons, Canvas users not yet added, and sentences."""

    known: dict[str, Person] = field(default_factory=dict)
    from_canvas: dict[str, CanvasUser] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


# Canvas look-ups of one preview run side by side (each waits ~100 ms on Canvas); the shared limiter still paces them
# against the portal's token (mentorship/core/ratelimit.py), so more threads never means more than Canvas allows.
# Canvas admits about 11 requests in flight per token (docs/canvas.md, "Throttling": hwm / up-front cost - 1), and
# a requests session keeps 10 connections per host: more threads would only wait, or reconnect.
RESOLVE_THREADS = 10


def people_resolve(*, identifiers: Iterable[str], client: CanvasClient | None = None) -> Resolution:
    """Resolve SIS ids, login ids or Canvas ids to people: the known ones in one query, the rest from Canvas.

    Each distinct person is looked up once (an id given both bare and as "sis_user_id:X" counts once); Canvas is
    asked about the unknown ones concurrently, under the shared rate limiter. Matching order for each identifier:
    SIS id, login id (case-insensitive), Canvas id.
    """
    # A NUL cannot be sent to PostgreSQL (nor is it anyone's id): such identifiers are nobody, on every database.
    wanted = list(dict.fromkeys(i.strip() for i in identifiers if i and i.strip() and "\x00" not in i))
    result = Resolution()
    if not wanted:
        return result
    parsed = {w: parse_identifier(w) for w in wanted}
    found = _known_people({v for _, v in parsed.values()})
    missing = []
    for ident in wanted:
        person = _match(parsed[ident], found)
        if person is not None:
            result.known[ident] = person
        else:
            missing.append(ident)
    if missing:
        _resolve_from_canvas(missing, parsed, client, result)
    return result


def _known_people(values: set[str]) -> dict[tuple[str, str], Person]:
    """One query for everyone any value could name, indexed by ("sis" | "login" | "canvas", value)."""
    uppered = {v.upper() for v in values}
    numeric = [int(v) for v in values if v.isdigit() and len(v) < 19]
    # Each test can use its own index (SIS id; UPPER(login_id), person_login_upper_idx; the Canvas id), and only the
    # columns the import uses are read: 10,000 rows name 12,000 people.
    match = Q(sis_user_id__in=values) | Q(login_upper__in=uppered)
    if numeric:
        match |= Q(canvas_user_id__in=numeric)
    people = Person.objects.annotate(login_upper=Upper("login_id")).filter(match)
    people = people.only("pk", "canvas_user_id", "sis_user_id", "login_id", "name", "sortable_name")
    found: dict[tuple[str, str], Person] = {}
    for p in people:
        if p.sis_user_id:
            found.setdefault(("sis", p.sis_user_id), p)
        if p.login_id:
            found.setdefault(("login", p.login_id.lower()), p)
        found[("canvas", str(p.canvas_user_id))] = p
    return found


def _match(parsed: tuple[str, str], found: dict[tuple[str, str], Person]) -> Person | None:
    kind, value = parsed
    for tried, key in (("sis", value), ("login", value.lower()), ("canvas", value)):
        if kind in (tried, "any") and (tried, key) in found:
            return found[(tried, key)]
    return None


def _resolve_from_canvas(
    missing: list[str], parsed: dict[str, tuple[str, str]], client: CanvasClient | None, result: Resolution
) -> None:
    """Ask Canvas about each distinct missing person once, several at a time; stop asking once Canvas fails."""
    unreachable = "{} is not known to the portal and Canvas could not be reached. Try again in a minute."
    try:
        client = client or lookup_client()
    except Exception:
        for ident in missing:
            result.errors[ident] = unreachable.format(ident)
        return
    down = threading.Event()
    needs: dict[str, set[str]] = {}
    for ident in missing:
        kind, value = parsed[ident]
        needs.setdefault(value, set()).add(kind)

    def look_up(value: str) -> dict[str, CanvasUser | None] | Exception:
        if down.is_set():
            return CanvasError("not asked: Canvas already failed in this preview")
        try:
            return _routes_lookup(value, needs[value], client=client)
        except CanvasError as exc:
            down.set()
            return exc

    with ThreadPoolExecutor(max_workers=RESOLVE_THREADS) as pool:
        answers = dict(zip(needs, pool.map(look_up, needs), strict=True))
    for ident in missing:
        kind, value = parsed[ident]
        routes = answers[value]
        if isinstance(routes, Exception):
            result.errors[ident] = unreachable.format(ident)
            continue
        answer = next((routes[k] for k in _ROUTES if routes.get(k)), None) if kind == "any" else routes.get(kind)
        if answer is None:
            result.errors[ident] = (
                f"No one in Canvas has the SIS id, login or Canvas id {ident}. Check the id, or add the person "
                "in Canvas first."
            )
        else:
            result.from_canvas[ident] = answer


_ROUTES = ("sis", "login", "canvas")


def _routes_lookup(value: str, wanted: set[str], *, client: CanvasClient) -> dict[str, CanvasUser | None]:
    """Ask Canvas about one value by the routes its identifiers need, in matching order. "any" (a bare id) stops at
    the first hit, so a bare SIS id costs one call however many rows name it, bare or as "sis_user_id:X"."""
    refs = {"sis": f"sis_user_id:{value}", "login": f"sis_login_id:{value}", "canvas": value}
    answers: dict[str, CanvasUser | None] = {}
    for kind in _ROUTES:
        if kind == "canvas" and not value.isdigit():
            continue
        if kind not in wanted and ("any" not in wanted or any(answers.values())):
            continue
        try:
            answers[kind] = client.get_user(refs[kind])
        except CanvasNotFound:
            answers[kind] = None
    return answers

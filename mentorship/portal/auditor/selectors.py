"""Reads of the audit log that depend on who is asking. Auditors see their programs' events; admins see all."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.http import Http404
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments.models import MentorAssignment, Program
from mentorship.assignments.selectors import programs_for_auditor
from mentorship.audit.actions import Action
from mentorship.audit.models import AuditEvent, AuditVerification
from mentorship.people.courses import course_label, course_names
from mentorship.people.models import Person
from mentorship.sync.models import ObserverLink

PAGE_SIZE = 50


def user_can_audit(*, user: Any) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return bool(user.is_portal_admin) or ProgramRole.objects.filter(user=user, role=ProgramRole.Role.AUDITOR).exists()


def audit_programs_for_viewer(*, user: User) -> QuerySet[Program]:
    return programs_for_auditor(user=user).order_by("name")


def events_for_viewer(*, user: User) -> QuerySet[AuditEvent]:
    """Every event the viewer may read. Events without a program (sign-ins, system work) are for admins only."""
    if user.is_portal_admin:
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(program_id__in=programs_for_auditor(user=user).values("pk"))


@dataclass(frozen=True)
class EventFilters:
    program: Program | None = None
    actor: str = ""
    person: str = ""
    student: str = ""
    action: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None

    def as_details(self) -> dict[str, Any]:
        """The filters as plain values, for the audit event that records an export."""
        return {
            "program": self.program.pk if self.program else None,
            "actor": self.actor,
            "person": self.person,
            "student": self.student,
            "action": self.action,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
        }


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def students_matching(text: str) -> QuerySet[Person]:
    """A student named by SIS id, login, Canvas id, portal id or part of the name."""
    query = Q(sis_user_id__iexact=text) | Q(login_id__iexact=text) | Q(name__icontains=text)
    if text.isdigit():
        query |= Q(canvas_user_id=int(text)) | Q(pk=int(text))
    return Person.objects.filter(query)


def users_matching(text: str) -> QuerySet[User]:
    """Accounts by user name (whole), by part of the first, last or full name, or by their person's name."""
    full = Concat("first_name", Value(" "), "last_name", output_field=CharField())
    return User.objects.annotate(full=full).filter(
        Q(username__iexact=text) | Q(full__icontains=text) | Q(person__name__icontains=text)
    )


def _as_text(rows: QuerySet[Any]) -> QuerySet[Any]:
    """A subquery of ids as text, to compare with AuditEvent.object_id (a string, any model's key)."""
    return rows.annotate(key=Cast("pk", output_field=CharField())).values("key")


def events_naming(*, events: QuerySet[AuditEvent], text: str) -> QuerySet[AuditEvent]:
    """Events that name a person in any role: who acted, the student, or the mentor or student of the assignment
    the event is about (its own events and its Canvas links' events)."""
    people = students_matching(text)
    assignments = MentorAssignment.objects.filter(Q(mentor__in=people) | Q(student__in=people))
    links = ObserverLink.objects.filter(assignment__in=assignments)
    return events.filter(
        Q(actor_id__in=users_matching(text).values("pk"))
        | Q(student_id__in=people.values("pk"))
        | Q(object_type="mentorassignment", object_id__in=_as_text(assignments))
        | Q(object_type="observerlink", object_id__in=_as_text(links))
    )


def events_filtered(*, user: User, filters: EventFilters) -> QuerySet[AuditEvent]:
    events = events_for_viewer(user=user)
    if filters.program is not None:
        events = events.filter(program=filters.program)
    if filters.actor:
        if filters.actor.startswith("system:"):
            events = events.filter(actor_label=filters.actor)
        else:
            events = events.filter(actor_id__in=users_matching(filters.actor).values("pk"))
    if filters.person:
        events = events_naming(events=events, text=filters.person)
    if filters.student:
        events = events.filter(student_id__in=students_matching(filters.student).values("pk"))
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.date_from is not None:
        events = events.filter(occurred_at__gte=_day_start(filters.date_from))
    if filters.date_to is not None:
        events = events.filter(occurred_at__lt=_day_start(filters.date_to + datetime.timedelta(days=1)))
    return events


@dataclass(frozen=True)
class EventPage:
    events: list[AuditEvent]
    newer_than: int | None  # pass as ?after= to go to newer events
    older_than: int | None  # pass as ?before= to go to older events


def events_page(
    *, events: QuerySet[AuditEvent], before: int | None = None, after: int | None = None, size: int = PAGE_SIZE
) -> EventPage:
    """Keyset pagination on seq: one index range scan of `size + 1` rows whatever the depth (no OFFSET).

    Events the sequencer has not chained yet (no seq, a second or so after commit) head the first page, newest
    first, shown as "pending" (mentorship/audit/sequencer.py).
    """
    if after is not None:
        rows = list(events.filter(seq__gt=after).order_by("seq")[: size + 1])
        has_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        has_older = bool(rows) and events.filter(seq__lt=rows[-1].seq).exists()
        older_than = rows[-1].seq if rows and has_older else None
    else:
        pending = [] if before is not None else list(events.filter(seq__isnull=True).order_by("-id")[:size])
        chained = events.filter(seq__isnull=False)
        if before is not None:
            chained = chained.filter(seq__lt=before)
        room = size - len(pending)
        found = list(chained.order_by("-seq")[: room + 1])
        has_older = len(found) > room
        rows = pending + found[:room]
        has_newer = before is not None and bool(rows)
        # A first page made only of pending events continues with the newest chained one.
        older_than = (found[room - 1].seq if room else (found[0].seq or 0) + 1) if has_older else None
    return EventPage(events=rows, newer_than=rows[0].seq if rows and has_newer else None, older_than=older_than)


def verification_latest() -> AuditVerification | None:
    return AuditVerification.objects.select_related("requested_by").first()


def verification_last_finished() -> AuditVerification | None:
    return (
        AuditVerification.objects.exclude(state=AuditVerification.State.RUNNING).select_related("requested_by").first()
    )


# --- Evidence report -----------------------------------------------------------------------------------------------


def student_for_auditor(*, user: User, person_id: int) -> Person:
    """The student, if they have an assignment (or an event) in a program the viewer audits; 404 otherwise."""
    programs = programs_for_auditor(user=user).values("pk")
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        raise Http404("No such student.")
    in_reach = (
        MentorAssignment.objects.filter(student=person, program__in=programs).exists()
        or events_for_viewer(user=user).filter(student=person).exists()
    )
    if not in_reach:
        raise Http404("No such student.")
    return person


def students_for_auditor(*, user: User, text: str, limit: int = 50) -> list[Person]:
    programs = programs_for_auditor(user=user).values("pk")
    students = MentorAssignment.objects.filter(program__in=programs).values("student_id")
    return list(students_matching(text).filter(pk__in=students).order_by("sortable_name", "pk")[:limit])


@dataclass
class AccessPeriod:
    """One assignment of a mentor to the student: who approved it, and when Canvas actually gave access."""

    assignment: MentorAssignment
    canvas_from: datetime.datetime | None = None
    canvas_until: datetime.datetime | None = None
    still_linked: bool = False
    canvas_events: list[AuditEvent] = field(default_factory=list)
    # The courses in scope by name: the chosen ones, or for all-courses scope the student's courses the portal knows
    # (from Canvas's student check and from the mentor's views), after "All the student's courses".
    courses: list[str] = field(default_factory=list)

    @property
    def scope_text(self) -> str:
        if self.assignment.scope == MentorAssignment.Scope.COURSES:
            return "; ".join(self.courses)
        listed = f": {'; '.join(self.courses)}" if self.courses else ""
        return f"All the student's courses{listed}"


@dataclass
class Evidence:
    student: Person
    programs: list[Program]
    periods: list[AccessPeriod]
    views: list[AuditEvent]
    events: list[AuditEvent]
    produced_at: datetime.datetime


def _name_courses(*, periods: list[AccessPeriod], student: Person, events: list[AuditEvent]) -> None:
    """Fill each period's course names from the name cache, one query for the whole report."""
    seen: dict[int, list[int]] = {}
    for event in events:
        d = event.details if isinstance(event.details, dict) else {}
        if event.action == Action.STUDENT_DATA_VIEWED and isinstance(d.get("assignment"), int):
            seen.setdefault(d["assignment"], []).extend(c for c in d.get("courses") or [] if isinstance(c, int))
    own = [c for c in student.canvas_student_course_ids or [] if isinstance(c, int)]
    chosen = {p.assignment.pk: [c.canvas_course_id for c in p.assignment.courses.all()] for p in periods}
    names = course_names(
        {*own, *(c for ids in seen.values() for c in ids), *(c for ids in chosen.values() for c in ids)}
    )
    for period in periods:
        a = period.assignment
        if a.scope == MentorAssignment.Scope.COURSES:
            kept = {c.canvas_course_id: c.name for c in a.courses.all()}
            ids = chosen[a.pk]
        else:
            kept, ids = {}, list(dict.fromkeys([*own, *seen.get(a.pk, [])]))
        labels = {i: names.get(i) or kept.get(i) or course_label(canvas_course_id=i, names={}) for i in ids}
        period.courses = sorted(labels.values())


_CANVAS_ACTIONS = (Action.CANVAS_LINKED, Action.CANVAS_UNLINKED, Action.CANVAS_FAILED)


def evidence_for_student(*, user: User, student: Person) -> Evidence:
    """Who could see this student's work, from when to when, approved by whom, and every view of their data.

    Approval comes from the assignment; the Canvas access window from the worker's link/unlink events (what Canvas
    actually held, which can start later or end later than the approved dates).
    """
    programs = list(programs_for_auditor(user=user).filter(assignments__student=student).distinct().order_by("name"))
    assignments = (
        MentorAssignment.objects.filter(student=student, program__in=programs_for_auditor(user=user))
        .select_related("program", "mentor", "proposed_by", "decided_by", "ended_by")
        .prefetch_related("courses")
        .order_by("starts_on", "pk")
    )
    periods = {a.pk: AccessPeriod(assignment=a) for a in assignments}
    events = list(events_for_viewer(user=user).filter(student=student).order_by(F("seq").asc(nulls_last=True), "id"))
    linked_objects: dict[int, set[str]] = {}
    for event in events:
        if event.action not in _CANVAS_ACTIONS:
            continue
        assignment_id = event.details.get("assignment") if isinstance(event.details, dict) else None
        period = periods.get(assignment_id) if isinstance(assignment_id, int) else None
        if period is None:
            continue
        period.canvas_events.append(event)
        if event.outcome != "ok":
            continue
        # An assignment can hold several Canvas objects (one per course): access lasts until the last one goes.
        held = linked_objects.setdefault(period.assignment.pk, set())
        if event.action == Action.CANVAS_LINKED:
            if period.canvas_from is None:
                period.canvas_from = event.occurred_at
            held.add(event.object_id)
            period.canvas_until = None
        elif event.action == Action.CANVAS_UNLINKED:
            held.discard(event.object_id)
            if not held:
                period.canvas_until = event.occurred_at
        period.still_linked = bool(held)
    _name_courses(periods=list(periods.values()), student=student, events=events)
    return Evidence(
        student=student,
        programs=programs,
        periods=list(periods.values()),
        views=[e for e in events if e.action == Action.STUDENT_DATA_VIEWED],
        events=events,
        produced_at=timezone.now(),
    )

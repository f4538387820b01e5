"""The audit log read as sentences: "Casey Coordinator approved Grace Brooks as mentor of Liam Hall in Learning
Support 2026-27" (docs/decisions.md, "The audit log reads as sentences; the CSV keeps the codes").

The log stores ids and codes, which is what the chain hashes and the CSV keeps. This module only reads: for a page
of events it loads every person, account, program, assignment and course they name in a handful of queries (one
per kind, whatever the page's length), then renders each event as a sentence, its details as labelled fields, and
names with their ids on hover.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments.models import LinkMethod, MentorAssignment, Program
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.models import AuditEvent
from mentorship.people.courses import course_label, course_names
from mentorship.people.models import Person
from mentorship.sync.models import ObserverLink

# Named system actors (actor_label "system:<name>"), as a reader would call them.
SYSTEM_ACTORS = {
    "system:worker": "The portal's worker",
    "system:beat": "The portal's scheduler",
    "system:reconciler": "The portal's reconciliation",
}

_ASSIGNMENT = "{mentor} as mentor of {student} in {program}"
# One sentence per action. Placeholders: actor, mentor, student, program, courses, user, role, rows.
SENTENCES: dict[str, str] = {
    Action.SIGN_IN: "{actor} signed in",
    Action.SIGN_IN_FAILED: "A sign-in as {actor} failed",
    Action.SIGN_IN_LOCKED: "Sign-in as {actor} was locked out after repeated failures",
    Action.SIGN_IN_REFUSED: "{actor} was refused sign-in",
    Action.SIGN_OUT: "{actor} signed out",
    Action.CANVAS_TOKEN_EXPIRED: "{actor}'s Canvas sign-in was revoked and the session ended",
    Action.ACCESS_DENIED: "{actor} was refused a page",
    Action.PROGRAM_CREATED: "{actor} created the program {program}",
    Action.PROGRAM_UPDATED: "{actor} changed the program {program}",
    Action.ROLE_GRANTED: "{actor} made {user} {role} of {program}",
    Action.ROLE_REVOKED: "{actor} removed {user} as {role} of {program}",
    Action.PERSON_ADDED: "{actor} added {student} from Canvas",
    Action.PERSON_REFRESHED: "{actor} refreshed {student} from Canvas",
    Action.ASSIGNMENT_PROPOSED: "{actor} proposed " + _ASSIGNMENT,
    Action.ASSIGNMENT_APPROVED: "{actor} approved " + _ASSIGNMENT,
    Action.ASSIGNMENT_REJECTED: "{actor} rejected " + _ASSIGNMENT,
    Action.ASSIGNMENT_CANCELLED: "{actor} withdrew the proposal of " + _ASSIGNMENT,
    Action.ASSIGNMENT_UPDATED: "{actor} edited the proposal of " + _ASSIGNMENT,
    Action.ASSIGNMENT_ENDED: "{actor} ended " + _ASSIGNMENT,
    Action.ASSIGNMENT_ACTIVATED: "The start date began " + _ASSIGNMENT,
    Action.ASSIGNMENTS_IMPORTED: "{actor} imported {rows} proposals from a CSV file into {program}",
    Action.CANVAS_LINKED: "Canvas gave {mentor} access to {student}'s work ({courses})",
    Action.CANVAS_UNLINKED: "Canvas removed {mentor}'s access to {student}'s work ({courses})",
    Action.CANVAS_FAILED: "Canvas did not change {mentor}'s access to {student}'s work ({courses})",
    Action.CANVAS_RETRY: "{actor} asked to retry the Canvas change for {mentor} and {student}",
    Action.CANVAS_CIRCUIT_OPENED: "Canvas work stopped: Canvas rejected the portal's token",
    Action.CANVAS_CIRCUIT_CLOSED: "Canvas work resumed",
    Action.CANVAS_TOKEN_REPLACED: "{actor} replaced the portal's Canvas token",
    Action.CANVAS_TOKEN_REFUSED: "{actor} tried a new Canvas token; it did not work",
    Action.SIS_IMPORT: "{actor} sent an SIS import of {rows} observer links to Canvas",
    Action.SIS_CSV_DOWNLOADED: "{actor} downloaded the SIS observer CSV",
    Action.PAIRING_CODE_ISSUED: "{actor} issued a pairing code for {mentor} to observe {student}",
    Action.PAIRING_CODE_REDEEMED: "{mentor} redeemed the pairing code for {student}",
    Action.PAIRING_CODE_EXPIRED: "The pairing code for {mentor} to observe {student} expired",
    Action.PAIRING_CODE_REMINDED: "{actor} reminded {mentor} of the pairing code for {student}",
    Action.RECONCILE_RUN: "{actor} compared {program} with Canvas",
    Action.RECONCILE_REPAIR: "{actor} repaired a missing Canvas link for {student} in {program}",
    Action.RECONCILE_REMOVAL: "{actor} removed an unexpected Canvas link to {student} in {program}",
    Action.RECONCILE_HELD: "{actor} held a reconciliation of {program} for a person to confirm",
    Action.STUDENT_DATA_VIEWED: "{actor} viewed {student}'s work ({courses})",
    Action.STUDENT_DATA_REFUSED: "{actor} was refused {student}'s work",
    Action.AUDIT_EXPORTED: "{actor} downloaded the audit log as CSV",
    Action.AUDIT_VERIFIED: "{actor} verified the audit chain",
    Action.EVIDENCE_REPORT: "{actor} produced the evidence report of {student}",
}
OUTCOME_WORDS = {"failed": "failed", "refused": "refused", "warning": "with a warning"}

# Details shown as fields: (key, label). Keys not listed are shown with their own name made readable; keys the
# sentence already says (ids of people and the assignment) are left out.
FIELD_LABELS: dict[str, str] = {
    "reason": "Reason",
    "note": "Note",
    "starts_on": "Starts",
    "ends_on": "Ends",
    "method": "Method",
    "courses": "Courses",
    "generation": "Change number",
    "links": "Canvas links",
    "kind": "Link",
    "rows": "Rows",
    "people_added": "People added",
    "source": "Source",
    "format": "Format",
    "events": "Events",
    "error": "Error",
    "path": "Page",
    "changes": "What changed",
    "code": "Pairing code",
    "link_method": "Method",
}
HIDDEN_FIELDS = {"assignment", "mentor", "student", "user_id", "user", "role", "line"}
# Codes in the details, as words, for the keys that hold them.
VALUE_WORDS: dict[str, dict[str, str]] = {
    "method": {**dict(LinkMethod.choices), "local": "Password", "canvas": "Canvas"},
    "link_method": dict(LinkMethod.choices),
    "kind": dict(ObserverLink.Kind.choices),
}
OUTCOMES = dict(Outcome.choices)


@dataclass(frozen=True)
class Name:
    """A name in a sentence, with what identifies it (shown on hover, kept in the CSV)."""

    text: str
    title: str = ""

    def html(self) -> SafeString:
        if not self.title:
            return format_html("{}", self.text)
        return format_html('<span class="name" title="{}">{}</span>', self.title, self.text)


@dataclass
class EventView:
    event: AuditEvent
    action_label: str
    actor: Name
    outcome_label: str = ""
    parts: list[str | Name] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)
    student: Name | None = None
    object: Name | None = None

    @property
    def sentence(self) -> str:
        return "".join(p.text if isinstance(p, Name) else p for p in self.parts)

    @property
    def sentence_html(self) -> SafeString:
        return format_html_join("", "{}", ((p.html() if isinstance(p, Name) else p,) for p in self.parts))


@dataclass
class _Known:
    """Everything a page of events names, loaded in one query per kind."""

    users: dict[int, User]
    people: dict[int, Person]
    people_by_canvas: dict[int, Person]
    programs: dict[int, Program]
    assignments: dict[int, MentorAssignment]
    links: dict[int, ObserverLink]
    courses: dict[int, str]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _details(event: AuditEvent) -> dict[str, Any]:
    return event.details if isinstance(event.details, dict) else {}


def _load(events: Sequence[AuditEvent]) -> _Known:
    links_ids = {_int(e.object_id) for e in events if e.object_type == "observerlink"} - {None}
    links = {
        link.pk: link
        for link in ObserverLink.objects.filter(pk__in=links_ids).only("pk", "assignment_id", "canvas_course_id")
    }
    assignment_ids = {_int(e.object_id) for e in events if e.object_type == "mentorassignment"}
    assignment_ids |= {_int(_details(e).get("assignment")) for e in events}
    assignment_ids |= {link.assignment_id for link in links.values()}
    assignments = {
        a.pk: a
        for a in MentorAssignment.objects.filter(pk__in=assignment_ids - {None}).select_related("mentor", "student")
    }
    user_ids = {e.actor_id for e in events} | {_int(_details(e).get("user_id")) for e in events}
    canvas_ids: set[int | None] = set()
    course_ids: set[int | None] = {link.canvas_course_id for link in links.values()}
    for e in events:
        d = _details(e)
        canvas_ids |= {_int(d.get("mentor")), _int(d.get("student"))}
        if isinstance(d.get("courses"), list):
            course_ids |= {_int(c) for c in d["courses"]}
    people_by_canvas = {p.canvas_user_id: p for p in Person.objects.filter(canvas_user_id__in=canvas_ids - {None})}
    return _Known(
        users={u.pk: u for u in User.objects.filter(pk__in=user_ids - {None}).select_related("person")},
        people={p.pk: p for p in Person.objects.filter(pk__in={e.student_id for e in events} - {None})},
        people_by_canvas=people_by_canvas,
        programs={p.pk: p for p in Program.objects.filter(pk__in={e.program_id for e in events} - {None})},
        assignments=assignments,
        links=links,
        courses=course_names(course_ids),
    )


def _person(person: Person | None) -> Name | None:
    if person is None:
        return None
    ids = f"portal id {person.pk}, Canvas id {person.canvas_user_id}"
    return Name(person.name, f"{person.sis_user_id} · {ids}" if person.sis_user_id else ids)


def _user(user: User | None, label: str) -> Name:
    if label in SYSTEM_ACTORS:
        return Name(SYSTEM_ACTORS[label], label)
    if label.startswith("system:"):
        return Name(f"The portal ({label.removeprefix('system:')})", label)
    if user is None:
        return Name(label or "Someone", f"account {label}" if label else "")
    name = user.get_full_name() or (user.person.name if user.person else "") or user.get_username()
    return Name(name, f"account {user.get_username()}")


def _courses(ids: Iterable[Any], known: _Known) -> str:
    wanted = [i for i in (_int(c) for c in ids) if i is not None]
    if not wanted:
        return "all courses"
    return ", ".join(course_label(canvas_course_id=i, names=known.courses) for i in wanted)


def _assignment_of(event: AuditEvent, known: _Known) -> MentorAssignment | None:
    if event.object_type == "mentorassignment":
        found = known.assignments.get(_int(event.object_id) or 0)
        if found:
            return found
    link = known.links.get(_int(event.object_id) or 0) if event.object_type == "observerlink" else None
    if link is not None:
        return known.assignments.get(link.assignment_id)
    return known.assignments.get(_int(_details(event).get("assignment")) or 0)


def _values(event: AuditEvent, known: _Known, actor: Name) -> dict[str, str | Name]:
    """What each placeholder of the event's sentence stands for."""
    d = _details(event)
    assignment = _assignment_of(event, known)
    mentor = _person(assignment.mentor if assignment else known.people_by_canvas.get(_int(d.get("mentor")) or 0))
    student = _person(
        known.people.get(event.student_id or 0)
        or (assignment.student if assignment else known.people_by_canvas.get(_int(d.get("student")) or 0))
    )
    program = known.programs.get(event.program_id or 0)
    link = known.links.get(_int(event.object_id) or 0) if event.object_type == "observerlink" else None
    if link is not None:
        courses = _courses([link.canvas_course_id] if link.canvas_course_id else [], known)
    else:
        courses = _courses(d.get("courses") or [], known)
    role = str(d.get("role") or "")
    granted = known.users.get(_int(d.get("user_id")) or 0)
    return {
        "actor": actor,
        "mentor": mentor or Name("an unknown mentor"),
        "student": student or Name("an unknown student"),
        "program": Name(program.name, f"program {program.pk}") if program else Name("no program"),
        "courses": courses,
        "user": _user(granted, str(d.get("user") or "")),
        "role": dict(ProgramRole.Role.choices).get(role, role).lower() or "a role holder",
        "rows": str(d.get("rows", "")),
    }


def _parts(template: str, values: dict[str, str | Name]) -> list[str | Name]:
    parts: list[str | Name] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if name is not None:
            parts.append(values.get(name, ""))
    if parts and isinstance(parts[0], str) and parts[0]:
        parts[0] = parts[0][0].upper() + parts[0][1:]
    return parts


def _value_text(key: str, value: Any, known: _Known) -> str:
    if key == "courses" and isinstance(value, list):
        return _courses(value, known)
    if key == "changes" and isinstance(value, dict):  # {field: [old, new]}: an edit of a proposal
        return "; ".join(
            f"{_label(k)}: {_value_text(k, v[0], known)} → {_value_text(k, v[1], known)}"
            if isinstance(v, list) and len(v) == 2
            else f"{_label(k)}: {_value_text(k, v, known)}"
            for k, v in value.items()
        )
    if isinstance(value, str) and value in VALUE_WORDS.get(key, {}):
        return VALUE_WORDS[key][value]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_value_text(key, v, known) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{_label(k)}: {_value_text(k, v, known)}" for k, v in value.items()) or "none"
    return "" if value is None else str(value)


def _label(key: str) -> str:
    return FIELD_LABELS.get(key) or key.replace("_", " ").capitalize()


def event_fields(event: AuditEvent, known: _Known) -> list[tuple[str, str]]:
    """The details as (label, value) pairs, in the order they were recorded."""
    return [
        (_label(key), _value_text(key, value, known))
        for key, value in _details(event).items()
        if key not in HIDDEN_FIELDS and value not in (None, "", [], {})
    ]


def _object(event: AuditEvent, known: _Known, values: dict[str, str | Name]) -> Name | None:
    if not event.object_type:
        return None
    title = f"{event.object_type} {event.object_id}"
    assignment = _assignment_of(event, known)
    if event.object_type == "mentorassignment" and assignment is not None:
        return Name(f"Assignment {assignment.pk}: {assignment.mentor.name} → {assignment.student.name}", title)
    if event.object_type == "observerlink":
        return Name(f"Canvas link ({values['courses']})", title)
    if event.object_type == "program" and isinstance(values["program"], Name):
        return Name(f"Program {values['program'].text}", title)
    if event.object_type == "programrole" and isinstance(values["user"], Name):
        return Name(f"Role of {values['user'].text}", title)
    return Name(event.object_type.replace("_", " ").capitalize(), title)


def describe(events: Sequence[AuditEvent]) -> list[EventView]:
    """Each event as a sentence with names, its details as fields (a fixed number of queries per page)."""
    known = _load(events)
    labels = dict(Action.choices)
    views = []
    for event in events:
        actor = _user(known.users.get(event.actor_id or 0), event.actor_label)
        values = _values(event, known, actor)
        template = SENTENCES.get(event.action, "{actor}: " + labels.get(event.action, event.action))
        parts = _parts(template, values)
        if event.outcome in OUTCOME_WORDS:
            parts.append(f" ({OUTCOME_WORDS[event.outcome]})")
        student = values["student"] if event.student_id else None
        views.append(
            EventView(
                event=event,
                action_label=labels.get(event.action, event.action),
                actor=actor,
                outcome_label=OUTCOMES.get(event.outcome, event.outcome),
                parts=parts,
                fields=event_fields(event, known),
                student=student if isinstance(student, Name) else None,
                object=_object(event, known, values),
            )
        )
    return views

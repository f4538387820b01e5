"""Seed a realistic portal at scale on PostgreSQL, fast: people, assignments, Canvas links and pairing codes with
INSERT ... SELECT generate_series (one statement per table), audit events as a valid hash chain (hashes computed in
Python, rows sent with COPY, as benchmarks/audit_bench.py does).

Used by benchmarks/pages.py. PostgreSQL only: the SQL uses generate_series, random() and setseed().
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Share of the assignments in the big program (the coordinator's and auditor's); the rest spread over three others.
BIG_PROGRAM_SHARE = 0.7
OTHER_PROGRAMS = 3
# The signed-in mentor's own assignments (active, upcoming, recently ended), several by pairing code.
MENTOR_ACTIVE = 10


@dataclass
class Cast:
    program_id: int
    coordinator_id: int
    auditor_id: int
    admin_id: int
    mentor_id: int  # a User linked to a Person with MENTOR_ACTIVE active assignments
    assignment_id: int  # one of the big program's assignments (for the detail page)
    student_id: int  # a student of the big program with a few audit events (for the evidence report)


def _sql(statement: str, params: Any = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def seed(*, people: int, assignments: int, events: int, today: datetime.date) -> Cast:
    from django.db import connection

    from mentorship.accounts.models import User
    from mentorship.assignments.models import Program
    from mentorship.people.models import Person

    assert connection.vendor == "postgresql", "benchmarks/_seed.py seeds PostgreSQL only"
    _sql("SELECT setseed(0.42)")
    big = Program.objects.create(name="Learning Support 2026-27", slug="learning-support")
    others = [Program.objects.create(name=f"Peer Mentors {i}", slug=f"peer-{i}") for i in range(OTHER_PROGRAMS)]
    program_ids = [big.pk] + [p.pk for p in others]
    _seed_people(people)
    first_person = Person.objects.order_by("pk").values_list("pk", flat=True).first()
    assert first_person is not None
    mentors = max(people // 5, 20)
    cast: dict[str, Any] = {"first": first_person, "mentors": mentors, "students": people - mentors}

    coordinator, auditor, admin = _seed_staff(big, others)
    sort_columns, sort_values = _sort_columns()
    cast |= {"big": big.pk, "coordinator": coordinator.pk, "today": today}
    _seed_assignments({**cast, "others": [p.pk for p in others]}, n=assignments, sort=(sort_columns, sort_values))
    _seed_mentor_assignments(cast, sort_columns=sort_columns)
    mentor = User.objects.create(username="bench-mentor", first_name="Morgan", person_id=first_person)
    _seed_links_and_drift(program=big.pk, coordinator=coordinator.pk, mentors=mentors)
    write_audit_chain(
        events,
        program_ids=program_ids,
        actor_ids=[coordinator.pk, mentor.pk, auditor.pk],
        first_person=first_person,
        people=people,
    )
    _sql("VACUUM ANALYZE")
    assignment_id = (
        Program.objects.get(pk=big.pk).assignments.filter(status="approved").order_by("pk").values_list("pk", flat=True)
    )[0]
    staff = {
        f"{role}_id": user.pk for role, user in (("coordinator", coordinator), ("auditor", auditor), ("admin", admin))
    }
    return Cast(
        program_id=big.pk, mentor_id=mentor.pk, assignment_id=assignment_id, student_id=first_person + mentors, **staff
    )


def _seed_staff(big: Any, others: list[Any]) -> tuple[Any, Any, Any]:
    """The big program's coordinator and auditor, an admin, and a coordinator for each other program."""
    from mentorship.accounts.models import ProgramRole, User

    coordinator = User.objects.create(username="bench-coordinator", first_name="Casey", last_name="Coordinator")
    ProgramRole.objects.create(program=big, user=coordinator, role=ProgramRole.Role.COORDINATOR)
    auditor = User.objects.create(username="bench-auditor")
    ProgramRole.objects.create(program=big, user=auditor, role=ProgramRole.Role.AUDITOR)
    admin = User.objects.create(username="bench-admin", is_superuser=True, is_staff=True)
    for other in others:
        user = User.objects.create(username=f"bench-coordinator-{other.slug}")
        ProgramRole.objects.create(program=other, user=user, role=ProgramRole.Role.COORDINATOR)

    return coordinator, auditor, admin


def _seed_people(people: int) -> None:
    """People: a fifth are mentors (the low ids), the rest students."""
    _sql(
        """
        INSERT INTO people_person (canvas_user_id, sis_user_id, login_id, name, sortable_name, email,
                                   canvas_student_course_ids, created_at)
        SELECT 100000 + g, 'SIS-' || lpad(g::text, 7, '0'), 'user' || g || '@school.test',
               'Person ' || lpad(g::text, 7, '0'), lpad(g::text, 7, '0') || ', Person',
               'user' || g || '@school.test', '[]'::jsonb, now()
        FROM generate_series(1, %s) AS g
        """,
        [people],
    )


def _sort_columns() -> tuple[str, str]:
    """The list keeps copies of the people's sort keys (assignments 0004, when present), as bulk_create fills them."""
    sort_columns, sort_values = "", ""
    if _has_sort_keys():
        sort_columns = ", mentor_sort, student_sort"
        sort_values = (
            ", substr(lower(coalesce(nullif(m.sortable_name, ''), m.name)), 1, 255)"
            ", substr(lower(coalesce(nullif(s.sortable_name, ''), s.name)), 1, 255)"
        )

    return sort_columns, sort_values


def _seed_assignments(params: dict[str, Any], *, n: int, sort: tuple[str, str]) -> None:
    sort_columns, sort_values = sort
    # Assignments: statuses, link states, methods and dates in a realistic mix. r1..r8 are uniform draws.
    _sql(  # the f-string only adds fixed column names
        f"""
        INSERT INTO assignments_mentorassignment (
            program_id, mentor_id, student_id, scope, starts_on, ends_on, link_method, reason, status, link_state,
            generation, warnings_acknowledged, proposed_by_id, proposed_at, decided_by_id, decided_at,
            decision_note, ended_at, end_reason, updated_at{sort_columns})
        SELECT
            CASE WHEN r1 < %(big_share)s THEN %(big)s
                 ELSE (%(others)s::bigint[])[1 + floor(r2 * %(n_others)s)::int] END,
            mentor_id, student_id,
            'all_courses', starts, starts + (10 + floor(r5 * 290)::int),
            CASE WHEN status = 'approved' AND r2 < 0.06 THEN 'pairing_code' ELSE 'observee' END,
            'Learning support aide', status,
            CASE WHEN status = 'approved' THEN
                    CASE WHEN r2 < 0.06 THEN 'awaiting_redemption' WHEN r5 < 0.05 THEN 'failed'
                         WHEN r5 < 0.12 THEN 'pending' ELSE 'linked' END
                 WHEN status = 'ended' THEN 'unlinked' ELSE 'none' END,
            0, '[]'::jsonb, %(coordinator)s, proposed,
            CASE WHEN status <> 'proposed' THEN %(coordinator)s END,
            CASE WHEN status <> 'proposed' THEN proposed + interval '2 days' END,
            '', CASE WHEN status = 'ended' THEN proposed + interval '90 days' END, '', proposed{sort_values}
        FROM (
            SELECT r1, r2, r5,
                   %(first)s + floor(r3 * %(mentors)s)::int AS mentor_id,
                   %(first)s + %(mentors)s + floor(r4 * %(students)s)::int AS student_id,
                   %(today)s::date + (floor(r6 * 400)::int - 300) AS starts,
                   now() - (r7 * 400) * interval '1 day' AS proposed,
                   CASE WHEN r8 < 0.55 THEN 'approved' WHEN r8 < 0.70 THEN 'proposed' WHEN r8 < 0.85 THEN 'ended'
                        WHEN r8 < 0.93 THEN 'rejected' ELSE 'cancelled' END AS status
            FROM (SELECT random() r1, random() r2, random() r3, random() r4, random() r5, random() r6,
                         random() r7, random() r8
                  FROM generate_series(1, %(n)s)) AS draws
        ) AS rows
        JOIN people_person m ON m.id = rows.mentor_id
        JOIN people_person s ON s.id = rows.student_id
        """,  # noqa: S608
        {**params, "big_share": BIG_PROGRAM_SHARE, "n_others": OTHER_PROGRAMS, "n": n},
    )


def _seed_mentor_assignments(cast: dict[str, Any], *, sort_columns: str) -> None:
    from django.db import connection

    program, first_person, mentors = cast["big"], cast["first"], cast["mentors"]
    coordinator, today = cast["coordinator"], cast["today"]

    # The signed-in mentor: the first mentor person, with MENTOR_ACTIVE active assignments (two by pairing code),
    # two upcoming and two recently ended, on top of whatever the random draw gave them.
    rows: list[list[Any]] = []
    for i in range(MENTOR_ACTIVE + 4):
        if i < MENTOR_ACTIVE:
            starts, ends, status = today - datetime.timedelta(30 + i), today + datetime.timedelta(60 + i), "approved"
        elif i < MENTOR_ACTIVE + 2:
            starts, ends, status = today + datetime.timedelta(5 + i), today + datetime.timedelta(90), "approved"
        else:
            starts, ends, status = today - datetime.timedelta(200), today - datetime.timedelta(5 + i), "ended"
        pairing = i in (1, 4)
        link_state = (
            "awaiting_redemption"
            if pairing
            else ("unlinked" if status == "ended" else ("linked" if i % 5 else "pending"))
        )
        rows.append(
            [
                program,
                first_person,
                first_person + mentors + i,
                starts,
                ends,
                "pairing_code" if pairing else "observee",
                status,
                link_state,
                coordinator,
            ]
        )
    with connection.cursor() as cursor:
        cursor.executemany(
            f"""
            INSERT INTO assignments_mentorassignment (
                program_id, mentor_id, student_id, scope, starts_on, ends_on, link_method, reason, status,
                link_state, generation, warnings_acknowledged, proposed_by_id, proposed_at, decided_by_id,
                decided_at, decision_note, end_reason, updated_at, ended_at{sort_columns})
            VALUES (%s, %s, %s, 'all_courses', %s, %s, %s, 'Learning support aide', %s, %s, 0, '[]'::jsonb,
                    %s, now(), %s, now(), '', '', now(), CASE WHEN %s = 'ended' THEN now() END
                    {", '', ''" if sort_columns else ""})
            """,  # noqa: S608
            [[*row, row[-1], row[6]] for row in rows],
        )
    if sort_columns:
        _sql(
            """
            UPDATE assignments_mentorassignment a
            SET mentor_sort = substr(lower(coalesce(nullif(m.sortable_name, ''), m.name)), 1, 255),
                student_sort = substr(lower(coalesce(nullif(s.sortable_name, ''), s.name)), 1, 255)
            FROM people_person m, people_person s
            WHERE m.id = a.mentor_id AND s.id = a.student_id AND a.mentor_id = %s
            """,
            [first_person],
        )


def _seed_links_and_drift(*, program: int, coordinator: int, mentors: int) -> None:
    # One Canvas link per assignment that has been sent to Canvas; pairing codes for those waiting on one.
    _sql(
        """
        INSERT INTO sync_observerlink (assignment_id, kind, observer_canvas_id, student_canvas_id, desired, state,
                                       generation, attempts, last_error, claim, created_at, updated_at,
                                       synced_at, linked_at, last_error_status)
        SELECT a.id, 'observee', m.canvas_user_id, s.canvas_user_id,
               CASE WHEN a.link_state = 'unlinked' THEN 'absent' ELSE 'present' END,
               a.link_state, 0, CASE WHEN a.link_state = 'failed' THEN 5 ELSE 1 END,
               CASE WHEN a.link_state = 'failed'
                    THEN 'Canvas refused the link: the student account is suspended. Ask the registrar.'
                    ELSE '' END,
               '', a.proposed_at, a.proposed_at + interval '1 hour',
               CASE WHEN a.link_state IN ('linked', 'unlinked') THEN a.proposed_at + interval '1 hour' END,
               CASE WHEN a.link_state IN ('linked', 'unlinked') THEN a.proposed_at + interval '1 hour' END,
               CASE WHEN a.link_state = 'failed' THEN 422 END
        FROM assignments_mentorassignment a
        JOIN people_person m ON m.id = a.mentor_id
        JOIN people_person s ON s.id = a.student_id
        WHERE a.link_state <> 'none'
        """
    )
    _sql(
        """
        INSERT INTO sync_pairingcode (assignment_id, link_id, student_id, code, issued_by_id, issued_at, expires_at,
                                      delivered_via, status)
        SELECT a.id, l.id, a.student_id, upper(substr(md5(a.id::text), 1, 6)), %s, now() - interval '1 day',
               now() + interval '6 days', 'email', 'issued'
        FROM assignments_mentorassignment a JOIN sync_observerlink l ON l.assignment_id = a.id
        WHERE a.link_state = 'awaiting_redemption'
        """,
        [coordinator],
    )
    # A reconciliation run with some open drift in the big program.
    _sql(
        """
        WITH run AS (
            INSERT INTO sync_reconciliationrun (program_id, dry_run, status, started_at, finished_at, counts, error)
            VALUES (%s, false, 'done', now() - interval '1 hour', now(), '{}'::jsonb, '') RETURNING id)
        INSERT INTO sync_driftitem (run_id, program_id, kind, status, observer_canvas_id, student_canvas_id,
                                    detail)
        SELECT run.id, %s, CASE WHEN g %% 3 = 0 THEN 'unexpected' ELSE 'missing' END, 'open', 100000 + g,
               100000 + %s + g, ''
        FROM run, generate_series(1, 40) AS g
        """,
        [program, program, mentors],
    )


def _has_sort_keys() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        columns = {
            c.name for c in connection.introspection.get_table_description(cursor, "assignments_mentorassignment")
        }
    return {"mentor_sort", "student_sort"} <= columns


_ACTIONS = [
    # (action, object_type, weight): student data views dominate a real log; then the workers' Canvas outcomes.
    ("student_data.viewed", "mentorassignment", 50),
    ("canvas.linked", "observerlink", 12),
    ("assignment.proposed", "mentorassignment", 8),
    ("assignment.approved", "mentorassignment", 8),
    ("auth.sign_in", "user", 8),
    ("canvas.failed", "observerlink", 3),
    ("assignment.ended", "mentorassignment", 4),
    ("canvas.unlinked", "observerlink", 4),
    ("pairing_code.issued", "pairingcode", 2),
    ("person.added", "person", 1),
]


def write_audit_chain(n: int, *, program_ids: list[int], actor_ids: list[int], first_person: int, people: int) -> None:
    """n events forming a valid chain from the genesis hash (benchmarks/_audit_chain.py)."""
    from _audit_chain import write_chain

    rng = random.Random(11)
    actions = [a for a, _, w in _ACTIONS for _ in range(w)]
    object_types = {a: t for a, t, _ in _ACTIONS}
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=365)
    step = datetime.timedelta(days=364) / max(n, 1)

    def events() -> Iterator[tuple[Any, ...]]:
        for seq in range(1, n + 1):
            action = rng.choice(actions)
            system = action.startswith("canvas.")
            actor = None if system else actor_ids[seq % len(actor_ids)]
            program = (
                None
                if action == "auth.sign_in"
                else (program_ids[0] if rng.random() < BIG_PROGRAM_SHARE else rng.choice(program_ids[1:]))
            )
            student = None if action in ("auth.sign_in", "person.added") else first_person + rng.randrange(people)
            details: dict[str, Any] = (
                {"page": "courses"} if action == "student_data.viewed" else {"assignment": seq % 100_000 + 1}
            )
            yield (
                seq,
                start + step * seq,
                actor,
                "system:worker" if system else f"user{actor}",
                action,
                object_types[action],
                str(seq % 100_000 + 1),
                program,
                student,
                "failed" if action == "canvas.failed" else "ok",
                None if system else f"10.0.{seq % 250}.{seq % 200}",
                f"req{seq:012d}",
                details,
            )

    write_chain(events())

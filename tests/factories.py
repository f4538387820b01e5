"""factory_boy factories for the domain. Keep them minimal: tests say what matters to them."""

from __future__ import annotations

import datetime
from typing import Any

import factory
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments import services
from mentorship.assignments.models import LinkMethod, MentorAssignment, Program
from mentorship.people.models import Person
from mentorship.sync.models import ObserverLink


class PersonFactory(factory.django.DjangoModelFactory[Person]):
    class Meta:
        model = Person

    canvas_user_id = factory.Sequence(lambda n: 100000 + n)
    sis_user_id = factory.Sequence(lambda n: f"SIS-{n:05d}")
    login_id = factory.Sequence(lambda n: f"user{n}@school.test")
    name = factory.Sequence(lambda n: f"Person {n}")
    sortable_name = factory.LazyAttribute(lambda o: f"{o.name.split()[-1]}, {o.name.split()[0]}")
    email = factory.LazyAttribute(lambda o: o.login_id)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@school.test")
    password = factory.django.Password("correct-horse-battery")


class ProgramFactory(factory.django.DjangoModelFactory[Program]):
    class Meta:
        model = Program

    name = factory.Sequence(lambda n: f"Learning Support {n}")
    slug = factory.Sequence(lambda n: f"learning-support-{n}")
    default_link_method = LinkMethod.OBSERVEE


class ProgramRoleFactory(factory.django.DjangoModelFactory[ProgramRole]):
    class Meta:
        model = ProgramRole

    program = factory.SubFactory(ProgramFactory)
    user = factory.SubFactory(UserFactory)
    role = ProgramRole.Role.COORDINATOR


class AssignmentFactory(factory.django.DjangoModelFactory[MentorAssignment]):
    class Meta:
        model = MentorAssignment

    program = factory.SubFactory(ProgramFactory)
    mentor = factory.SubFactory(PersonFactory)
    student = factory.SubFactory(PersonFactory)
    starts_on = factory.LazyFunction(lambda: timezone.localdate())
    ends_on = factory.LazyFunction(lambda: timezone.localdate() + datetime.timedelta(days=90))
    link_method = LinkMethod.OBSERVEE
    reason = "Learning support aide"
    proposed_by = factory.SubFactory(UserFactory)


def approved_assignment(
    *, program: Program, mentor: Person, student: Person, proposed_by: User, decided_by: User, **fields: object
) -> MentorAssignment:
    """An assignment one coordinator proposed and another approved just now (decided_by is the approver)."""
    assignment: MentorAssignment = AssignmentFactory(  # type: ignore[assignment]  # factory_boy returns the model instance
        program=program,
        mentor=mentor,
        student=student,
        proposed_by=proposed_by,
        status="approved",
        decided_by=decided_by,
        decided_at=timezone.now(),
        **fields,
    )
    return assignment


def observee_link(
    assignment: MentorAssignment, *, state: str, kind: str = "observee", **fields: object
) -> ObserverLink:
    """The assignment's observee link between its own mentor and student, in the state given (or, with
    kind="course" and a canvas_course_id, its link in one course)."""
    return ObserverLink.objects.create(
        assignment=assignment,
        kind=kind,
        observer_canvas_id=assignment.mentor.canvas_user_id,
        student_canvas_id=assignment.student.canvas_user_id,
        state=state,
        **fields,
    )


def pending_proposals(
    *,
    program: Program,
    mentors: list[Person],
    students: list[Person],
    proposed_by: User,
    reason: str,
    batch_size: int | None = None,
) -> list[MentorAssignment]:
    """Proposals waiting for approval from today for 60 days, the students shared out in runs (as many to each
    mentor, the last one fewer), written at once: bulk approve's tests and its benchmark seed
    thousands."""
    per_mentor = -(-len(students) // len(mentors))
    today = timezone.localdate()
    return MentorAssignment.objects.bulk_create(
        [
            MentorAssignment(
                program=program,
                mentor=mentors[i // per_mentor],
                student=student,
                starts_on=today,
                ends_on=today + datetime.timedelta(days=60),
                link_method=LinkMethod.OBSERVEE,
                reason=reason,
                proposed_by=proposed_by,
            )
            for i, student in enumerate(students)
        ],
        batch_size=batch_size,
    )


def record_link_and_view(assignment: MentorAssignment) -> None:
    """The evidence an auditor looks for: the worker linked the mentor in Canvas, and the mentor read the student."""
    from mentorship.audit.actions import Action
    from mentorship.audit.services import audit_record

    where = {"program": assignment.program, "student": assignment.student}
    audit_record(
        action=Action.CANVAS_LINKED,
        system_actor="worker",
        obj=assignment,
        details={"assignment": assignment.pk, "kind": "observee"},
        **where,
    )
    audit_record(
        action=Action.STUDENT_DATA_VIEWED,
        system_actor="mentor",
        details={"assignment": assignment.pk, "page": "courses"},
        **where,
    )


def propose(program: Any, coordinator: Any, mentor: Any = None, student: Any = None, **kw: Any) -> MentorAssignment:
    """A proposal made through the service (audited, checked), dated from today unless told."""
    today = timezone.localdate()
    return services.assignment_propose(
        program=program,
        mentor=mentor or PersonFactory(),
        student=student or PersonFactory(),
        starts_on=kw.pop("starts_on", today),
        ends_on=kw.pop("ends_on", today + datetime.timedelta(days=30)),
        reason=kw.pop("reason", "Learning support"),
        actor=coordinator,
        **kw,
    )

"""factory_boy factories for the domain. Keep them minimal: tests say what matters to them."""

from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from mentorship.accounts.models import ProgramRole, User
from mentorship.assignments.models import LinkMethod, MentorAssignment, Program
from mentorship.people.models import Person


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

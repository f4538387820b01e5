"""The fixed cast every page test uses, and test-wide isolation from a running demo.

Cast (docs/architecture.md, "Tests"): admin, coordinator (of `program`), other_coordinator (of `other_program`),
mentor / other_mentor (users linked to Persons with assignments), auditor (of `program`), and anonymous (the plain
`client`).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from mentorship.accounts.models import ProgramRole
from tests import factories
from tests.factories import AssignmentFactory, PersonFactory, ProgramFactory, ProgramRoleFactory, UserFactory

PASSWORD = "correct-horse-battery"


def pytest_configure(config: pytest.Config) -> None:
    """Keep tests off a running demo: their own broker folder (filesystem) and their own queue name (any broker).

    The values are also put in os.environ so the worker processes the integration tests start inherit them.
    """
    worker_id = os.environ.get("PYTEST_XDIST_WORKER", "main")
    queue = f"mentorlink-test-{worker_id}-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        folder = Path(tempfile.mkdtemp(prefix="mentorlink-test-broker-"))
        (folder / "queue").mkdir()
        (folder / "processed").mkdir()
        (folder / "control").mkdir()
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        os.environ["CELERY_BROKER_DIR"] = str(folder)
    from mentorship.celery import app

    app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    app.conf.task_default_queue = queue
    # ~190 tests sign a factory user in; PBKDF2 at full strength costs 0.6 s per user on a busy core. Real hashing
    # is Django's concern, so tests hash with MD5 (this conftest is the only place; settings.py never does).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    _allow_flush_to_empty_the_audit_log()
    # The audit checkpoints of this test run (and of the workers it starts) go to a folder of its own.
    checkpoints = Path(tempfile.mkdtemp(prefix="mentorlink-test-audit-checkpoints-"))
    settings.AUDIT_CHECKPOINT_DIR = checkpoints
    os.environ["AUDIT_CHECKPOINT_DIR"] = str(checkpoints)


def _allow_flush_to_empty_the_audit_log() -> None:
    """Transactional tests flush every table between tests; the audit log's triggers refuse that (by design) unless
    the flush runs inside the maintenance switch (mentorship/audit/maintenance.py). Only the flush command gets it."""
    from django.core.management.commands import flush

    from mentorship.audit.maintenance import audit_maintenance

    if getattr(flush.Command.handle, "_audit_maintenance", False):
        return
    original = flush.Command.handle

    def handle(self: Any, **options: Any) -> Any:
        with audit_maintenance(options.get("database") or "default"):
            return original(self, **options)

    handle._audit_maintenance = True  # type: ignore[attr-defined]
    flush.Command.handle = handle  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_audit_checkpoints_from_earlier_tests() -> None:
    """Each test starts with an empty database, so the checkpoints an earlier test signed must not be there either."""
    for leftover in Path(settings.AUDIT_CHECKPOINT_DIR).glob("*.jsonl"):
        leftover.unlink()


@pytest.fixture(autouse=True)
def _sequencer_messages_only_for_the_stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditing commit queues `audit.sequence` (mentorship/audit/sequencer.py). The session's worker process, once an
    integration test started it, consumes this test process's queue and would chain (and lock) the rows of a test that
    is not watching it, even while that test's database is being flushed (a deadlock seen in CI). Tests that run the
    stack keep the message; the others call the sequencer themselves when they need it."""
    if {"stack", "celery_worker"} & set(request.fixturenames):
        return
    from mentorship.audit import services

    def sequencer_kick() -> None:  # the same name: tests count the kicks a commit schedules
        return None

    monkeypatch.setattr(services, "sequencer_kick", sequencer_kick)


COORDINATOR = ProgramRole.Role.COORDINATOR


@pytest.fixture
def program(db):
    return ProgramFactory(name="Learning Support 2026-27", slug="learning-support")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_superuser=True, is_staff=True)


@pytest.fixture
def other_program(db):
    return ProgramFactory(name="Peer Mentors", slug="peer-mentors")


def _with_role(program, role: str, **user_fields):
    user = UserFactory(**user_fields)
    ProgramRoleFactory(program=program, user=user, role=role)
    return user


@pytest.fixture
def coordinator(program):
    return _with_role(program, COORDINATOR, username="coordinator", first_name="Casey", last_name="Coordinator")


@pytest.fixture
def second_coordinator(program):
    return _with_role(program, COORDINATOR, username="coordinator2", first_name="Sam", last_name="Second")


@pytest.fixture
def other_coordinator(other_program):
    return _with_role(other_program, COORDINATOR, username="othercoordinator")


@pytest.fixture
def auditor(program):
    return _with_role(program, ProgramRole.Role.AUDITOR, username="auditor")


@pytest.fixture
def mentor_person(db):
    return PersonFactory(name="Morgan Mentor", sis_user_id="AIDE-001")


@pytest.fixture
def mentor(mentor_person):
    return UserFactory(username="mentor", person=mentor_person)


@pytest.fixture
def student_person(db):
    return PersonFactory(name="Sasha Student", sis_user_id="S-0001")


@pytest.fixture
def other_mentor(db):
    return UserFactory(username="othermentor", person=PersonFactory(name="Olive Other"))


@pytest.fixture
def assignment(program, mentor_person, student_person, coordinator):
    return AssignmentFactory(program=program, mentor=mentor_person, student=student_person, proposed_by=coordinator)


def login(client, user):
    """Sign a test client in as `user` (through the real backend stack, axes included)."""
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def approved_assignment(program, coordinator, second_coordinator, mentor_person, student_person):
    """Morgan mentors Sasha: proposed by the coordinator, approved by the second coordinator."""
    return factories.approved_assignment(
        program=program,
        mentor=mentor_person,
        student=student_person,
        proposed_by=coordinator,
        decided_by=second_coordinator,
    )

"""The access matrix: every URL in the URLconf, as every role, on their own and on someone else's objects.

Each answer must be exactly what the table says: allowed, 404 (outside the viewer's reach looks like nothing there),
or the sign-in redirect (anonymous). The URL list is walked from the resolver, so a new URL without a row in
EXPECTED fails `test_every_url_has_an_expectation` until someone decides who may use it.

While walking, every response is also checked for secrets: the portal's Canvas token never appears, and a pairing
code appears only on its own mentor's pages.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from mentorship.accounts.models import Invitation, ProgramRole
from mentorship.assignments.models import MentorAssignment
from mentorship.people.models import Person
from tests.conftest import login
from tests.factories import PersonFactory, ProgramRoleFactory, UserFactory, approved_assignment

ROLES = ("admin", "coordinator", "other_coordinator", "mentor", "other_mentor", "auditor", "anonymous")
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
CODE_A, CODE_B = "QX7ZK2", "BW9RM4"
MENTOR_ACCESS_TOKEN = "7~mentorAccessToken0123456789"


# --- Walking the URLconf ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # namespaced, e.g. "assignments:detail"
    route: str
    kwargs: tuple[str, ...]


def walk(patterns: list[Any] | None = None, namespace: str = "", prefix: str = "") -> Iterator[Route]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = (
                f"{namespace}:{entry.namespace}" if namespace and entry.namespace else (entry.namespace or namespace)
            )
            yield from walk(entry.url_patterns, inner, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else (entry.name or "")
            if not entry.name:
                name = f"{namespace}:<unnamed {prefix}{entry.pattern}>"
            yield Route(name, prefix + str(entry.pattern), tuple(entry.pattern.regex.groupindex))


ROUTES = list(walk())


# --- The world: program A (the cast's own) and program B (someone else's) ----------------------------------------


@dataclass
class World:
    users: dict[str, Any]
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # side ("own"/"foreign") -> name -> object


@pytest.fixture
def world(
    db,
    program,
    other_program,
    admin_user,
    coordinator,
    second_coordinator,
    other_coordinator,
    auditor,
    mentor,
    other_mentor,
    mentor_person,
    student_person,
) -> World:
    from mentorship.accounts.canvas_tokens import encrypt
    from mentorship.accounts.models import CanvasCredential

    today = timezone.localdate()
    other_student: Person = PersonFactory(name="Bea Student")  # type: ignore[assignment]  # factory_boy returns the model instance
    yesterday = today - datetime.timedelta(days=1)
    # The same approved assignment on each side: ours, and one in a program none of our users may see.
    own, foreign = (
        approved_assignment(program=p, mentor=m, student=s, proposed_by=by, decided_by=approver, starts_on=yesterday)
        for p, m, s, by, approver in (
            (program, mentor_person, student_person, coordinator, second_coordinator),
            (
                other_program,
                other_mentor.person,
                other_student,
                other_coordinator,
                UserFactory(username="otherapprover"),
            ),
        )
    )
    ProgramRoleFactory(program=other_program, user=UserFactory(username="otherauditor"), role=ProgramRole.Role.AUDITOR)
    # The mentor once signed in with Canvas: their token is stored (encrypted) and must never reach a page. It has
    # expired and cannot be refreshed, so no page tries to reach Canvas (which is not running here) with it.
    CanvasCredential.objects.create(
        user=mentor,
        canvas_user_id=mentor_person.canvas_user_id,
        access_token_encrypted=encrypt(MENTOR_ACCESS_TOKEN),
        expires_at=timezone.now() - datetime.timedelta(hours=1),
    )
    objects = {
        "own": _side_objects(own, code=CODE_A, uploader=coordinator),
        "foreign": _side_objects(foreign, code=CODE_B, uploader=other_coordinator),
    }
    users = {
        "admin": admin_user,
        "coordinator": coordinator,
        "other_coordinator": other_coordinator,
        "mentor": mentor,
        "other_mentor": other_mentor,
        "auditor": auditor,
        "anonymous": None,
    }
    return World(users=users, objects=objects)


def _side_objects(assignment: MentorAssignment, *, code: str, uploader: Any) -> dict[str, Any]:
    """One program's objects a page can name by id: a link, its pairing code, a held run with a drift item, an
    upload and a role."""
    from mentorship.assignments.models import BulkApproval, CsvImport
    from mentorship.sync.models import DriftItem, ObserverLink, PairingCode, ReconciliationRun

    today = timezone.localdate()
    link = ObserverLink.objects.create(
        assignment=assignment,
        kind="observee",
        observer_canvas_id=assignment.mentor.canvas_user_id,
        student_canvas_id=assignment.student.canvas_user_id,
        generation=assignment.generation,
        state="failed",
    )
    PairingCode.objects.create(
        assignment=assignment,
        link=link,
        student=assignment.student,
        code=code,
        issued_at=timezone.now(),
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )
    run = ReconciliationRun.objects.create(program=assignment.program, started_at=timezone.now(), status="held")
    item = DriftItem.objects.create(
        run=run,
        program=assignment.program,
        kind="unexpected",
        observer_canvas_id=assignment.mentor.canvas_user_id,
        student_canvas_id=assignment.student.canvas_user_id,
    )
    csv_import = CsvImport.objects.create(
        program=assignment.program,
        uploaded_by=uploader,
        filename="a.csv",
        content=(
            "mentor,student,starts_on,ends_on,reason\n"
            f"{assignment.mentor.sis_user_id},{assignment.student.sis_user_id},{today},"
            f"{today + datetime.timedelta(days=30)},Reading support\n"
        ),
    )
    return {
        "assignment": assignment,
        "link": link,
        "program": assignment.program,
        "student": assignment.student,
        "run": run,
        "drift_item": item,
        "csv_import": csv_import,
        "bulk_approval": BulkApproval.objects.create(requested_by=uploader, assignment_ids=[assignment.pk], total=1),
        "role": ProgramRole.objects.get(user=uploader, program=assignment.program),
        # Accounts are not program-scoped: admins manage every one, so both sides hold one staff user and one
        # invitation; the set-password and reset links take tokens, not ids (a token that matches nothing).
        "staff_user": UserFactory(username=f"staff-{code.lower()}"),
        "invitation": Invitation.objects.create(
            email=f"{code.lower()}@example.edu",
            role=Invitation.Role.ADMIN,
            token_hash=hashlib.sha256(code.encode()).hexdigest(),  # what a real invitation stores
            expires_at=timezone.now() + datetime.timedelta(days=7),
        ),
        "token": SimpleNamespace(pk=f"no-such-token-{code}"),
        "uid": SimpleNamespace(pk="MQ"),
        # The help pages name a guide and a picture, not a row: the same on both sides.
        "guide": SimpleNamespace(pk="auditor"),
        "screenshot": SimpleNamespace(pk="audit-log.png"),
    }


# --- The table -----------------------------------------------------------------------------------------------

OK, NOT_FOUND, SIGN_IN, ADMIN_SIGN_IN = "allowed", "404", "sign-in redirect", "admin sign-in redirect"
MACHINE = "token-authenticated"


@dataclass(frozen=True)
class Expect:
    method: str = "GET"
    # Which object each URL argument names (looked up in World.objects[side]); None for URLs without arguments.
    obj: dict[str, str] | None = None
    # Roles allowed on their own program's object ("own") and on the other program's ("foreign"); for URLs without
    # an object both are the same set. Everyone else signed in gets 404; anonymous gets the sign-in redirect.
    own: frozenset[str] = frozenset()
    foreign: frozenset[str] = frozenset()
    public: bool = False  # anonymous allowed too
    also_ok: frozenset[int] = frozenset()  # statuses that also count as allowed (healthz's 503 when Canvas is down)
    signs_out: bool = False  # the allowed answer is the redirect to the sign-in page
    # Form fields that name the object (POST body instead of the URL), e.g. {"program": "program"}; plus fixed fields.
    body: dict[str, str] | None = None
    fixed: dict[str, str] = field(default_factory=dict)
    # Token-authenticated URLs (/metrics, the SIS API): the status every session role gets, signed in or not. Their
    # own credentials are tested in tests/core/test_metrics.py and tests/api/test_sis_api.py.
    machine: frozenset[int] = frozenset()

    def outcome(self, role: str, side: str) -> str:
        if self.machine:
            return MACHINE
        if role == "anonymous" and not self.public:
            return SIGN_IN
        if self.public:
            return OK
        return OK if role in (self.own if side == "own" else self.foreign) else NOT_FOUND


def everyone_signed_in(method: str = "GET") -> Expect:
    return Expect(method=method, own=SIGNED_IN, foreign=SIGNED_IN)


def only(*roles: str, method: str = "GET") -> Expect:
    return Expect(method=method, own=frozenset(roles), foreign=frozenset(roles))


def per_object(obj: dict[str, str], own: set[str], method: str = "GET", foreign: set[str] | None = None) -> Expect:
    """`own` roles may use the cast's object; on the other program's object only its counterparts (and admins, if
    admins are in `own`) may."""
    mirror = {"coordinator": "other_coordinator", "mentor": "other_mentor", "admin": "admin"}
    if foreign is None:
        foreign = {mirror[r] for r in own if r in mirror}
    return Expect(method=method, obj=obj, own=frozenset(own), foreign=frozenset(foreign))


AUDITORS = ("admin", "auditor")
COORDINATORS = ("coordinator", "other_coordinator")
ASSIGNMENT = {"pk": "assignment"}
PROGRAM = {"pk": "program"}
MENTOR_PAGE = {"assignment_id": "assignment"}
EXPECTED: dict[str, Expect] = {
    "core:home": everyone_signed_in(),
    # The role guides describe the portal, not anyone's data: every signed-in person may read each.
    "core:help": Expect(obj={"role": "guide"}, own=SIGNED_IN, foreign=SIGNED_IN),
    "core:help_screenshot": Expect(obj={"name": "screenshot"}, own=SIGNED_IN, foreign=SIGNED_IN),
    "core:healthz": Expect(public=True, also_ok=frozenset({503})),
    "core:healthz_live": Expect(public=True),
    "core:healthz_ready": Expect(public=True, also_ok=frozenset({503})),
    "accounts:login": Expect(public=True),
    "accounts:logout": Expect(method="POST", own=SIGNED_IN, foreign=SIGNED_IN, signs_out=True),
    "accounts:canvas_start": Expect(public=True),
    # Without Canvas's code and the state from the session the callback refuses with 400: still not a login wall.
    "accounts:canvas_callback": Expect(public=True, also_ok=frozenset({400})),
    # Staff accounts (docs/guides/admin.md, "Accounts"): admins only; the invitee's set-password page and the reset
    # pages are reached from an e-mail, signed out. A token that matches nothing is a 404 page that says so.
    "accounts:users": only("admin"),
    "accounts:invite": only("admin"),
    "accounts:user_active": per_object({"pk": "staff_user"}, {"admin"}, method="POST", foreign={"admin"}),
    "accounts:invitation_withdraw": per_object({"pk": "invitation"}, {"admin"}, method="POST", foreign={"admin"}),
    "accounts:invitation": Expect(public=True, obj={"token": "token"}, also_ok=frozenset({404})),
    "accounts:password_reset": Expect(public=True),
    "accounts:password_reset_done": Expect(public=True),
    "accounts:password_reset_confirm": Expect(public=True, obj={"uidb64": "uid", "token": "token"}),
    "accounts:password_reset_complete": Expect(public=True),
    "accounts:password_change": everyone_signed_in(),
    "accounts:password_change_done": everyone_signed_in(),
    # People are not program-scoped (coordinators look anyone up in Canvas to propose an assignment).
    "people:list": only("admin", *COORDINATORS),
    "people:add": only("admin", *COORDINATORS, method="POST"),
    "people:bulk_add": only("admin", *COORDINATORS),
    "people:detail": per_object({"pk": "student"}, {"admin", *COORDINATORS}, foreign={"admin", *COORDINATORS}),
    "people:refresh": per_object(
        {"pk": "student"}, {"admin", *COORDINATORS}, method="POST", foreign={"admin", *COORDINATORS}
    ),
    # Coordinator pages: admins manage programs and roles, they do not coordinate
    # (docs/architecture.md, "Who sees what").
    "core:dashboard": only(*COORDINATORS),
    "assignments:programs": only("admin", *COORDINATORS),
    "assignments:program_create": only("admin"),
    "assignments:program": per_object(PROGRAM, {"admin", "coordinator"}),
    "assignments:role_grant": per_object(PROGRAM, {"admin"}, method="POST"),
    "assignments:role_revoke": per_object({"pk": "role"}, {"admin"}, method="POST"),
    "assignments:list": only(*COORDINATORS),
    "assignments:bulk": only(*COORDINATORS, method="POST"),
    "assignments:create": only(*COORDINATORS),
    "assignments:person_options": only(*COORDINATORS),
    "assignments:course_options": only(*COORDINATORS),
    "assignments:import": only(*COORDINATORS),
    "assignments:import_template": only(*COORDINATORS),
    "assignments:import_sample": only(*COORDINATORS),
    "assignments:import_confirm": per_object({"pk": "csv_import"}, {"coordinator"}, method="POST"),
    "assignments:import_status": per_object({"pk": "csv_import"}, {"coordinator"}),
    "assignments:bulk_status": per_object({"pk": "bulk_approval"}, {"coordinator"}),
    "assignments:detail": per_object(ASSIGNMENT, {"coordinator"}),
    "assignments:edit": per_object(ASSIGNMENT, {"coordinator"}),
    "assignments:approve": per_object(ASSIGNMENT, {"coordinator"}, method="POST"),
    "assignments:reject": per_object(ASSIGNMENT, {"coordinator"}, method="POST"),
    "assignments:cancel": per_object(ASSIGNMENT, {"coordinator"}, method="POST"),
    "assignments:end": per_object(ASSIGNMENT, {"coordinator"}, method="POST"),
    "sync:connection": only("admin", *COORDINATORS),
    "sync:connection_panel": only("admin", *COORDINATORS),
    # Replacing the portal's own Canvas token: admins only (docs/operations.md, "Replacing the Canvas token").
    "sync:portal_token": only("admin"),
    "sync:link_retry": per_object({"pk": "link"}, {"coordinator"}, method="POST"),
    "sync:assignment_links": per_object(ASSIGNMENT, {"coordinator"}),
    "sync:pairing_code_reissue": per_object(ASSIGNMENT, {"coordinator"}, method="POST"),
    "sync:sis_csv": per_object(PROGRAM, {"coordinator"}),
    "sync:drift": only("admin", *COORDINATORS),
    # Admins run and confirm reconciliation in every program (the recovery step after a restore); coordinators in
    # their own. Removing a link nobody approved stays with coordinators.
    "sync:reconcile_run": Expect(
        method="POST",
        body={"program": "program"},
        fixed={"dry_run": "on"},
        own=frozenset({"coordinator", "admin"}),
        foreign=frozenset({"other_coordinator", "admin"}),
    ),
    "sync:reconcile_confirm": per_object({"pk": "run"}, {"coordinator", "admin"}, method="POST"),
    "sync:drift_remove": per_object({"pk": "drift_item"}, {"coordinator"}, method="POST"),
    "mentors:students": only("mentor", "other_mentor"),
    "mentors:student": per_object(MENTOR_PAGE, {"mentor"}),
    "mentors:link_status": per_object(MENTOR_PAGE, {"mentor"}),
    "mentors:link_now": per_object(MENTOR_PAGE, {"mentor"}, method="POST"),
    "audit:log": only(*AUDITORS),
    "audit:export": only(*AUDITORS),
    "audit:verify": only(*AUDITORS, method="POST"),
    "audit:students": only(*AUDITORS),
    # The other program's student is only in reach of admins (and that program's auditors, not in the cast).
    "audit:evidence": per_object({"person_id": "student"}, {"admin", "auditor"}, foreign={"admin"}),
    "audit:evidence_csv": per_object({"person_id": "student"}, {"admin", "auditor"}, foreign={"admin"}),
    "audit:evidence_pdf": per_object({"person_id": "student"}, {"admin", "auditor"}, foreign={"admin"}),
    # No session opens these: /metrics is a 404 until METRICS_TOKEN is set, the API answers 401 without its token;
    # the schema and its docs page are public (they describe the API, they hold no data).
    "metrics:metrics": Expect(machine=frozenset({404})),
    "sis_api:api-root": Expect(machine=frozenset({404})),
    "sis_api:openapi-json": Expect(machine=frozenset({200})),
    "sis_api:openapi-view": Expect(machine=frozenset({200})),
    "sis_api:list_programs": Expect(machine=frozenset({401})),
    "sis_api:list_assignments": Expect(machine=frozenset({401})),
    "sis_api:list_links": Expect(machine=frozenset({401})),
    "sis_api:get_program": Expect(obj={"program_id": "program"}, machine=frozenset({401})),
    "sis_api:get_assignment": Expect(obj={"assignment_id": "assignment"}, machine=frozenset({401})),
    "sis_api:get_link": Expect(obj={"link_id": "link"}, machine=frozenset({401})),
}


STAFF = "staff: anything but a sign-in wall or a server error"
# Django admin views that are not behind admin_view: the sign-in page itself, the translation catalogue, the
# POST-only sign-out (ends the caller's own session, whoever they are), and contenttypes' "view on site" redirect
# (404 unless a model defines get_absolute_url, which none of the portal's do). The catch-all is Django's 404.
ADMIN_UNGUARDED = {"admin:login", "admin:jsi18n", "admin:logout", "admin:view_on_site"}


def admin_site_outcome(route: Route, role: str) -> str:
    """Django's admin at /django-admin/ is for staff (portal admins) only; everyone else gets its own sign-in page."""
    if route.name in ADMIN_UNGUARDED or route.name.startswith("admin:<unnamed"):
        return "skip"
    return STAFF if role == "admin" else ADMIN_SIGN_IN


def url_for(route: Route, expect: Expect | None, world: World, side: str) -> str:
    if not route.kwargs:
        return reverse(route.name)
    if route.name.startswith("admin:"):
        values = {name: "1" if name != "app_label" else "auth" for name in route.kwargs}
        return reverse(route.name, kwargs=values)
    assert expect is not None and expect.obj is not None, f"{route.name} needs `obj` in EXPECTED"
    kwargs = {arg: world.objects[side][expect.obj[arg]].pk for arg in route.kwargs}
    return reverse(route.name, kwargs=kwargs)


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def check(response: Any, outcome: str, method: str, where: str, expect: Expect | None = None) -> None:
    status = response.status_code
    location = response.get("Location", "")
    login_url = reverse(settings.LOGIN_URL)
    if outcome == MACHINE:
        assert expect is not None and status in expect.machine, f"{where}: expected {set(expect.machine)}, got {status}"
    elif outcome == SIGN_IN:
        assert status == 302 and location.startswith(login_url), f"{where}: expected sign-in redirect, got {status}"
    elif outcome == ADMIN_SIGN_IN:
        assert status == 302 and "/django-admin/login/" in location, f"{where}: expected admin sign-in, got {status}"
    elif outcome == STAFF:
        assert status < 500 and "/login/" not in location, f"{where}: staff refused or failed: {status}"
    elif outcome == NOT_FOUND:
        assert status == 404, f"{where}: expected 404, got {status} {location}"
    else:
        allowed = {200, 302, 303} | ({400} if method == "POST" else set()) | (expect.also_ok if expect else set())
        assert status in allowed, f"{where}: expected allowed, got {status}"
        if not (expect and expect.signs_out):
            assert not location.startswith(login_url), f"{where}: allowed user sent to sign in"


def assert_no_secret(body: str, role: str, route: Route, side: str, where: str) -> None:
    assert settings.CANVAS_TOKEN not in body, f"{where}: the portal's Canvas token is in the page"
    assert MENTOR_ACCESS_TOKEN not in body, f"{where}: the mentor's Canvas token is in the page"
    for code, owner in ((CODE_A, ("mentor", "own")), (CODE_B, ("other_mentor", "foreign"))):
        if code in body:
            assert route.name.startswith("mentors:") and (role, side) == owner, f"{where}: pairing code {code} shown"


# --- Tests ---------------------------------------------------------------------------------------------------


def test_every_url_has_an_expectation():
    missing = [r.name for r in ROUTES if not r.name.startswith("admin:") and r.name not in EXPECTED]
    assert not missing, f"URLs without a row in the access matrix: {missing}"
    stale = set(EXPECTED) - {r.name for r in ROUTES}
    assert not stale, f"Rows for URLs that no longer exist: {sorted(stale)}"


def _sides(route: Route) -> tuple[str, ...]:
    expect = EXPECTED.get(route.name)
    names_object = bool(route.kwargs) or bool(expect and expect.body)
    return ("own", "foreign") if names_object and not route.name.startswith("admin:") else ("own",)


def body_for(expect: Expect | None, world: World, side: str) -> dict[str, Any]:
    if expect is None or expect.method != "POST":
        return {}
    data: dict[str, Any] = dict(expect.fixed)
    for name, obj in (expect.body or {}).items():
        data[name] = world.objects[side][obj].pk
    return data


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_access_matrix(route: Route, world: World):
    expect = EXPECTED.get(route.name)
    if expect is None and not route.name.startswith("admin:"):
        pytest.fail(f"{route.name} has no row in EXPECTED")
    if route.name.startswith("admin:<unnamed"):
        # Django admin's unnamed redirects and catch-all: nothing to reverse; covered by the admin site's own guard.
        assert route.route.startswith("django-admin/")
        return
    method = expect.method if expect else "GET"
    clients: dict[str, Client] = {}
    for role in ROLES:
        client = Client()
        if world.users[role] is not None:
            login(client, world.users[role])
        clients[role] = client
    checked = 0
    for side in _sides(route):
        url = url_for(route, expect, world, side)
        for role in ROLES:
            outcome = admin_site_outcome(route, role) if expect is None else expect.outcome(role, side)
            if outcome == "skip":
                continue
            where = f"{method} {url} as {role} ({side})"
            # Each request runs in a savepoint that is rolled back: an allowed action must not change what the
            # next role sees.
            with transaction.atomic():
                if method == "POST":
                    response = clients[role].post(url, body_for(expect, world, side))
                else:
                    response = clients[role].get(url)
                body = _body(response)
                transaction.set_rollback(True)
            check(response, outcome, method, where, expect)
            assert_no_secret(body, role, route, side, where)
            if world.users[role] is not None:
                # A shared computer's Back button must not show a signed-in page after sign-out.
                assert "no-store" in response.get("Cache-Control", ""), f"{where}: no Cache-Control: no-store"
            checked += 1
    assert checked or route.name.startswith("admin:")


POST_ONLY = [r for r in ROUTES if r.name in EXPECTED and EXPECTED[r.name].method == "POST"]


@pytest.mark.django_db
@pytest.mark.parametrize("route", POST_ONLY, ids=[r.name for r in POST_ONLY])
def test_actions_refuse_get(route: Route, world: World):
    """No state change on GET: every action answers 405 to GET, even for someone allowed to perform it."""
    from mentorship.audit.models import AuditEvent

    expect = EXPECTED[route.name]
    role = sorted(expect.own)[0]
    client = login(Client(), world.users[role])
    before = AuditEvent.objects.count()
    response = client.get(url_for(route, expect, world, "own"))
    assert response.status_code == 405, f"GET {route.name} as {role}: {response.status_code}"
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_every_post_needs_a_csrf_token(route: Route, world: World):
    if route.name.startswith("admin:<unnamed"):
        return
    expect = EXPECTED.get(route.name)
    client = Client(enforce_csrf_checks=True)
    login(client, world.users["admin"])
    response = client.post(url_for(route, expect, world, "own"))
    if expect is not None and expect.machine:
        # Token-authenticated and read-only: a POST is refused before anything runs (the API has no session).
        assert response.status_code in {403, 404, 405}, f"POST {route.name}: {response.status_code}"
        return
    assert response.status_code == 403, f"POST {route.name} without a CSRF token: {response.status_code}"

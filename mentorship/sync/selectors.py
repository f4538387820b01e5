"""Reads that depend on who is asking. Anything outside the viewer's reach is a 404."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from mentorship.accounts.models import User
from mentorship.assignments.models import MentorAssignment, Program
from mentorship.assignments.selectors import programs_for_coordinator
from mentorship.people.models import Person

from .models import CanvasConnection, DriftItem, ObserverLink, PairingCode, ReconciliationRun, SisBatch


def links_for_assignment(*, assignment: MentorAssignment) -> QuerySet[ObserverLink]:
    return ObserverLink.objects.filter(assignment=assignment).order_by("kind", "canvas_course_id", "id")


def programs_for_sync_viewer(*, user: User) -> QuerySet[Program]:
    """Coordinators see their programs; admins see every program."""
    if user.is_portal_admin:
        return Program.objects.all()
    return programs_for_coordinator(user=user)


def can_view_connection(*, user: Any) -> bool:
    return bool(user.is_authenticated and (user.is_portal_admin or programs_for_coordinator(user=user).exists()))


def link_for_coordinator(*, user: User, pk: int) -> ObserverLink:
    """A link of one of the user's programs (coordinators only, not admins: retrying is a program decision)."""
    return get_object_or_404(
        ObserverLink.objects.select_related("assignment__program", "assignment__student"),
        pk=pk,
        assignment__program__in=programs_for_coordinator(user=user),
    )


def assignment_for_coordinator(*, user: User, pk: int) -> MentorAssignment:
    return get_object_or_404(
        MentorAssignment.objects.select_related("program", "mentor", "student"),
        pk=pk,
        program__in=programs_for_coordinator(user=user),
    )


def program_for_coordinator(*, user: User, pk: int) -> Program:
    return get_object_or_404(programs_for_coordinator(user=user), pk=pk)


def pairing_codes_for_mentor(*, person: Person) -> QuerySet[PairingCode]:
    """Codes issued for this mentor that can still be used (the code itself is shown to this mentor only)."""
    return (
        PairingCode.objects.filter(
            assignment__mentor=person, status=PairingCode.Status.ISSUED, expires_at__gt=timezone.now()
        )
        .select_related("assignment", "student")
        .order_by("expires_at")
    )


def pairing_code_for_mentor(*, person: Person, pk: int) -> PairingCode:
    return get_object_or_404(
        PairingCode.objects.select_related("assignment", "student"), pk=pk, assignment__mentor=person
    )


def reconciliation_runs_for_user(*, user: User) -> QuerySet[ReconciliationRun]:
    programs = programs_for_sync_viewer(user=user)
    runs = ReconciliationRun.objects.select_related("program", "started_by", "confirmed_by")
    if user.is_portal_admin:
        return runs
    return runs.filter(program__in=programs)


def run_for_user(*, user: User, pk: int) -> ReconciliationRun:
    return get_object_or_404(reconciliation_runs_for_user(user=user), pk=pk)


def drift_items_for_user(*, user: User) -> QuerySet[DriftItem]:
    items = DriftItem.objects.select_related("run", "program", "assignment")
    if user.is_portal_admin:
        return items
    return items.filter(program__in=programs_for_coordinator(user=user))


def drift_item_for_coordinator(*, user: User, pk: int) -> DriftItem:
    item = DriftItem.objects.select_related("program", "run").filter(pk=pk).first()
    if (
        item is None
        or item.program_id is None
        or not programs_for_coordinator(user=user).filter(pk=item.program_id).exists()
    ):
        raise Http404
    return item


def connection_status() -> dict[str, Any]:
    """The "Canvas connection" panel: circuit, last error, rate-limit headroom, queue depth."""
    from mentorship.core.canvas import shared_limiter

    conn = CanvasConnection.get()
    work = ObserverLink.objects.filter(state__in=ObserverLink.WORK_STATES)
    try:
        limiter: dict[str, Any] | None = shared_limiter().status()
    except Exception:  # the panel must render even when Redis is down
        limiter = None
    now = timezone.now()
    return {
        "connection": conn,
        "limiter": limiter,
        "queue_depth": work.count(),
        "waiting_retry": work.filter(next_attempt_at__gt=now).count(),
        "failed": ObserverLink.objects.filter(state=ObserverLink.State.FAILED).count(),
        "awaiting_redemption": ObserverLink.objects.filter(state=ObserverLink.State.AWAITING_REDEMPTION).count(),
        "sis_running": SisBatch.objects.filter(finished_at__isnull=True).count(),
        "oldest_pending": work.order_by("updated_at").values_list("updated_at", flat=True).first(),
    }


def failed_links_for_user(*, user: User) -> QuerySet[ObserverLink]:
    return ObserverLink.objects.filter(
        Q(state=ObserverLink.State.FAILED), assignment__program__in=programs_for_sync_viewer(user=user)
    ).select_related("assignment__mentor", "assignment__student", "assignment__program")

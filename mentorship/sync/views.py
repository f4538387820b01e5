"""Sync pages: the Canvas connection panel, "Retry now", pairing-code reissue, the drift report, the SIS CSV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from canvas_client import CanvasError
from mentorship.assignments.selectors import programs_for_coordinator, programs_for_reconciliation
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record
from mentorship.core.spreadsheets import csv_attachment
from mentorship.people.models import Person

from . import reconcile, selectors, services
from .forms import ReconcileForm, SisCsvForm
from .models import DriftItem, ObserverLink, SisBatch

T = TypeVar("T")


def _label_people(items: list[DriftItem]) -> None:
    """Canvas ids -> the names coordinators know (one query for the whole page)."""
    ids = {i.observer_canvas_id for i in items} | {i.student_canvas_id for i in items}
    names = dict(Person.objects.filter(canvas_user_id__in=ids).values_list("canvas_user_id", "name"))
    for item in items:
        item.observer_label = names.get(item.observer_canvas_id, f"Canvas user {item.observer_canvas_id}")  # type: ignore[attr-defined]
        item.student_label = names.get(item.student_canvas_id, f"Canvas user {item.student_canvas_id}")  # type: ignore[attr-defined]


def _require_connection_viewer(request: HttpRequest) -> None:
    if not selectors.can_view_connection(user=request.user):
        raise Http404


@login_required
@require_GET
def connection(request: HttpRequest) -> HttpResponse:
    _require_connection_viewer(request)
    context = selectors.connection_status()
    context["failed_links"] = selectors.failed_links_for_user(user=request.user)[:50]  # type: ignore[arg-type]
    context["sis_batches"] = SisBatch.objects.all()[:10]
    return render(request, "sync/connection.html", context)


@login_required
@require_GET
def connection_panel(request: HttpRequest) -> HttpResponse:
    _require_connection_viewer(request)
    return render(request, "sync/_connection_panel.html", selectors.connection_status())


@login_required
@require_GET
def assignment_links(request: HttpRequest, pk: int) -> HttpResponse:
    """The link rows of one assignment as a fragment (htmx polling on the assignment page)."""
    return _links_fragment(request, pk)


def _attempt(request: HttpRequest, action: Callable[..., T], success: Callable[[T], str], **target: Any) -> None:
    """Run one coordinator action on `target` as the signed-in user: a SyncError becomes the page's error, else
    ``success(result)`` its message."""
    try:
        result = action(**target, actor=request.user, request=request)
    except services.SyncError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success(result))


def _links_fragment(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = selectors.assignment_for_coordinator(user=request.user, pk=assignment_id)  # type: ignore[arg-type]
    links = selectors.links_for_assignment(assignment=assignment)
    response = render(request, "sync/_links.html", {"links": links, "assignment": assignment, "hide_retry": False})
    if request.headers.get("HX-Trigger") == "sync-links" and not any(
        link.state in ObserverLink.WORK_STATES for link in links
    ):
        # The wait is over: reload the whole page once, so the status, the actions and the timeline show the
        # outcome too (the fragment stops polling, so this happens once).
        response["HX-Refresh"] = "true"
    return response


@login_required
@require_POST
def link_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    link = selectors.link_for_coordinator(user=request.user, pk=pk)  # type: ignore[arg-type]
    _attempt(
        request, services.link_retry, lambda _: "Retrying now. The status below updates when Canvas answers.", link=link
    )
    if getattr(request, "htmx", False):
        return _links_fragment(request, link.assignment_id)
    return redirect("assignments:detail", pk=link.assignment_id)


@login_required
@require_POST
def pairing_code_reissue(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = selectors.assignment_for_coordinator(user=request.user, pk=pk)  # type: ignore[arg-type]
    try:
        code = services.pairing_code_issue(assignment=assignment, actor=request.user)  # type: ignore[arg-type]
    except services.SyncError as exc:
        messages.error(request, str(exc))
    except CanvasError as exc:
        messages.error(request, exc.user_message)
    else:
        messages.success(
            request,
            f"A new pairing code ({code.masked}) was sent to the mentor. It expires "
            f"{timezone.localtime(code.expires_at):%Y-%m-%d %H:%M}.",
        )
    return redirect("assignments:detail", pk=assignment.pk)


@login_required
@require_GET
def sis_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """The user_observers.csv the portal would send, for a coordinator to load into Canvas by hand."""
    program = selectors.program_for_coordinator(user=request.user, pk=pk)  # type: ignore[arg-type]
    form = SisCsvForm(request.GET or None)
    which = (form.cleaned_data.get("which") or "pending") if form.is_valid() else "pending"
    links = ObserverLink.objects.filter(assignment__program=program, kind=ObserverLink.Kind.OBSERVEE).select_related(
        "assignment__mentor", "assignment__student"
    )
    if which == "pending":
        links = links.filter(state__in=ObserverLink.WORK_STATES)
    elif which == "linked":
        links = links.filter(state=ObserverLink.State.LINKED)
    else:
        links = links.filter(desired=ObserverLink.Desired.PRESENT)
    try:
        body = services.sis_users_csv(links=links)
    except ValueError:
        messages.info(request, "No links with SIS ids for both people match; there is nothing to download.")
        return redirect("sync:drift")
    with transaction.atomic():
        audit_record(
            action=Action.SIS_CSV_DOWNLOADED,
            actor=request.user,
            program=program,
            request=request,
            details={"which": which, "rows": body.count(b"\n") - 1},
        )
    return csv_attachment(body, f"{program.slug}-user_observers.csv")


@login_required
@require_GET
def drift_report(request: HttpRequest) -> HttpResponse:
    _require_connection_viewer(request)
    user = request.user
    coordinated = programs_for_coordinator(user=user)  # type: ignore[arg-type]
    reconcilable = programs_for_reconciliation(user=user)  # type: ignore[arg-type]
    runs = selectors.reconciliation_runs_for_user(user=user)[:20]  # type: ignore[arg-type]
    items = list(
        selectors.drift_items_for_user(user=user)  # type: ignore[arg-type]
        .filter(status__in=[DriftItem.Status.OPEN, DriftItem.Status.HELD, DriftItem.Status.FAILED])
        .order_by("kind", "-id")[:200]
    )
    latest_preview = next((r for r in runs if r.dry_run), None)
    preview_items = list(latest_preview.items.all()[:200]) if latest_preview else []
    _label_people([*items, *preview_items])
    return render(
        request,
        "sync/drift.html",
        {
            "runs": runs,
            "items": items,
            "form": ReconcileForm(programs=reconcilable),
            "preview": latest_preview,
            "preview_items": preview_items,
            # Coordinators run and confirm for their programs, admins for every program (recovery); removing a
            # link nobody approved stays a program decision (coordinators only).
            "can_run": reconcilable.exists(),
            "can_act": coordinated.exists(),
            "csv_programs": coordinated,
        },
    )


@login_required
@require_POST
def reconcile_run_view(request: HttpRequest) -> HttpResponse:
    from .tasks import reconcile_run

    form = ReconcileForm(request.POST, programs=programs_for_reconciliation(user=request.user))  # type: ignore[arg-type]
    if not form.is_valid():
        raise Http404
    try:
        run = reconcile.reconcile_start(
            program=form.cleaned_data["program"],
            dry_run=form.cleaned_data["dry_run"],
            actor=request.user,  # type: ignore[arg-type]
            request=request,
        )
    except reconcile.ReconcileAlreadyRunning as already:
        messages.info(request, str(already))
        return redirect("sync:drift")
    transaction.on_commit(lambda: _start_run(reconcile_run, run.pk))
    messages.success(
        request,
        "Preview started: nothing in Canvas will change." if run.dry_run else "Reconciliation started.",
    )
    return redirect("sync:drift")


def _start_run(task: object, run_id: int) -> None:
    try:
        task.apply_async((run_id,), retry=False)  # type: ignore[attr-defined]
    except Exception:
        # No broker: run it here rather than leave it running forever.
        reconcile.reconcile_execute(run_id=run_id)


@login_required
@require_POST
def reconcile_confirm_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = selectors.run_for_user(user=request.user, pk=pk)  # type: ignore[arg-type]
    reconcilable = programs_for_reconciliation(user=request.user)  # type: ignore[arg-type]
    if run.program_id is None or not reconcilable.filter(pk=run.program_id).exists():
        raise Http404
    _attempt(
        request, reconcile.reconcile_confirm, lambda n: f"Confirmed: {n} stale links were removed from Canvas.", run=run
    )
    return redirect("sync:drift")


@login_required
@require_POST
def drift_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    item = selectors.drift_item_for_coordinator(user=request.user, pk=pk)  # type: ignore[arg-type]
    _attempt(request, reconcile.drift_remove, lambda _: "The link was removed from Canvas.", item=item)
    return redirect("sync:drift")

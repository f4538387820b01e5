"""Bulk decisions from the list: the rows ticked on the page, or every proposal matching the list's filters.

Approval is one service call for all the rows (services.assignments_bulk_approve); above BULK_APPROVE_INLINE_MAX
rows, or when many mentors still need the Canvas check, a worker runs it and the coordinator follows a status page
(as big CSV imports do). docs/decisions.md, "Bulk approve: one transaction, one publish".
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .forms import BulkForm
from .models import BulkApproval, MentorAssignment
from .views import _user, coordinator_required, list_queryset

# Rows listed one by one in the messages after an approval in the request; the rest are summed up.
MESSAGE_ROWS = 50


@coordinator_required
@require_POST
def assignment_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    query = request.POST.get("next", "")
    back = reverse("assignments:list") + ("?" + query if query else "")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(back)
    data = form.cleaned_data
    if data["scope"] == "filter":
        return _approve_matching(request, data, query, back)
    ids = data["ids"]
    assignments = list(selectors.assignments_for_coordinator(user=_user(request)).filter(pk__in=ids).order_by("pk"))
    if len(assignments) != len(set(ids)):
        raise Http404
    if data["decision"] == "approve":
        return _approve(request, [a.pk for a in assignments], data, back)
    try:
        results = services.assignments_bulk_decide(
            assignments=assignments, decision="reject", actor=_user(request), reason=data["reason"], request=request
        )
    except services.AssignmentError as exc:
        messages.error(request, str(exc))
        return redirect(back)
    done = sum(1 for r in results if r.ok)
    level = messages.SUCCESS if done == len(results) else messages.WARNING
    messages.add_message(request, level, f"{done} of {len(results)} selected assignments rejected.")
    for r in results:
        messages.add_message(request, messages.INFO if r.ok else messages.ERROR, r.message)
    return redirect(back)


def _approve_matching(request: HttpRequest, data: dict[str, Any], query: str, back: str) -> HttpResponse:
    """ "Approve all N matching": a confirm page showing N and what will happen, then the approval of exactly the
    proposals that match when the coordinator confirms (shown again if their number changed meanwhile)."""
    _, qs = list_queryset(_user(request), QueryDict(query))
    ids = list(qs.filter(status=MentorAssignment.Status.PROPOSED).order_by("pk").values_list("pk", flat=True))
    if not ids:
        if data["confirmed"] and data["expected"]:
            messages.info(request, "These proposals are already approved or decided: nothing was changed.")
        else:
            messages.info(request, "No proposal matches these filters: nothing to approve.")
        return redirect(back)
    if data["confirmed"] and data["expected"] == len(ids):
        return _approve(request, ids, data, back)
    if data["confirmed"]:
        messages.warning(
            request,
            f"The proposals matching the filters changed since you looked ({data['expected']} then, {len(ids)} now). "
            "Nothing was approved yet; check the number and confirm again.",
        )
    context = {
        "count": len(ids),
        "query": query,
        "back": back,
        "note": data["reason"],
        "acknowledged": data["acknowledge"],
        "in_background": _in_background(ids),
        "mentors": qs.filter(status=MentorAssignment.Status.PROPOSED).order_by().values("mentor_id").distinct().count(),
        "threshold": settings.SIS_BULK_THRESHOLD,
    }
    return render(request, "assignments/bulk_confirm.html", context)


def _in_background(ids: list[int]) -> bool:
    return (
        len(ids) > settings.BULK_APPROVE_INLINE_MAX
        or services.bulk_checks_needed(assignment_ids=ids) > settings.BULK_APPROVE_INLINE_CHECKS
    )


def _approve(request: HttpRequest, ids: list[int], data: dict[str, Any], back: str) -> HttpResponse:
    user = _user(request)
    if _in_background(ids):
        return _queue(request, ids, data, back)
    result = services.assignments_bulk_approve(
        assignment_ids=ids, actor=user, note=data["reason"], acknowledged=data["acknowledge"], request=request
    )
    done = len(result.approved)
    level = messages.SUCCESS if done == len(result.rows) else messages.WARNING
    which = "selected" if data["scope"] == "selected" else "matching"
    messages.add_message(request, level, f"{done} of {len(result.rows)} {which} assignments approved.")
    # Every row when they are few; else the ones not approved (the approved ones are in the list).
    shown = result.rows if len(result.rows) <= MESSAGE_ROWS else result.skipped[:MESSAGE_ROWS]
    for r in shown:
        messages.add_message(request, messages.INFO if r.ok else messages.ERROR, f"{r.label}: {r.message}")
    if len(result.skipped) > MESSAGE_ROWS:
        messages.error(request, f"… and {len(result.skipped) - MESSAGE_ROWS} more not approved.")
    return redirect(back)


def _queue(request: HttpRequest, ids: list[int], data: dict[str, Any], back: str) -> HttpResponse:
    """Hand the approval to a worker, unless the same rows are already on their way (a double submit)."""
    user = _user(request)
    for job in BulkApproval.objects.filter(state=BulkApproval.State.QUEUED, total=len(ids)).select_related(
        "requested_by"
    ):
        if job.assignment_ids == ids:
            if job.requested_by_id == user.pk:
                messages.info(request, "This approval is already on its way: nothing was changed.")
                return redirect("assignments:bulk_status", pk=job.pk)
            who = job.requested_by.get_full_name() or job.requested_by.get_username()
            messages.info(request, f"{who} is already approving these proposals: nothing was changed.")
            return redirect(back)
    job = BulkApproval.objects.create(
        requested_by=user,
        assignment_ids=ids,
        total=len(ids),
        note=data["reason"],
        acknowledged=list(data["acknowledge"]),
    )
    if not services.bulk_approval_enqueue(job=job):
        BulkApproval.objects.filter(pk=job.pk).update(
            state=BulkApproval.State.FAILED,
            problem="The background workers could not take the approval (their queue is not answering).",
            finished_at=timezone.now(),
        )
        messages.error(
            request,
            "The background workers cannot take the approval right now (their queue is not answering). "
            "Nothing was approved; try again in a minute.",
        )
        return redirect(back)
    return redirect("assignments:bulk_status", pk=job.pk)


@coordinator_required
@require_GET
def bulk_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Where a bulk approval on a worker is followed: waiting, running, then approved and skipped with reasons."""
    job = get_object_or_404(BulkApproval, pk=pk, requested_by=_user(request))
    return render(request, "assignments/bulk_status.html", {"job": job})

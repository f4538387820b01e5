"""Auditor pages. Auditors read; the only POST starts a chain verification, which changes no business data.

Reads that disclose data (exports, evidence reports) are audited as they are produced; they are GETs so they can be
bookmarked and linked, and they change nothing but the log itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from mentorship.assignments.models import Program
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.models import AuditVerification
from mentorship.audit.services import audit_record
from mentorship.audit.verification_requests import verification_request

from .export import csv_rows, event_rows, evidence_pdf, evidence_rows
from .forms import EventFilterForm, StudentSearchForm
from .selectors import (
    EventFilters,
    audit_programs_for_viewer,
    events_filtered,
    events_page,
    evidence_for_student,
    student_for_auditor,
    students_for_auditor,
    user_can_audit,
    verification_last_finished,
    verification_latest,
)
from .sentences import describe

View = Callable[..., HttpResponseBase]


def auditor_required(view: View) -> View:
    """Signed-in auditors and admins only; anyone else gets the same 404 as a page that does not exist."""

    @login_required
    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not user_can_audit(user=request.user):
            audit_record(
                action=Action.ACCESS_DENIED,
                actor=request.user,
                outcome=Outcome.REFUSED,
                request=request,
                details={"path": request.path[:200], "area": "audit"},
            )
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


def _query_without_position(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("before", None)
    query.pop("after", None)
    return query.urlencode()


@require_GET
@auditor_required
def event_log(request: HttpRequest) -> HttpResponse:
    form = EventFilterForm(request.GET or None, user=request.user)  # type: ignore[arg-type]
    status = 200
    page = None
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        data = form.cleaned_data if form.is_bound else {}
        filters = form.filters() if form.is_bound else None
        events = events_filtered(user=request.user, filters=filters or EventFilters())  # type: ignore[arg-type]
        page = events_page(events=events, before=data.get("before"), after=data.get("after"))
    context = {
        "form": form,
        "page": page,
        "rows": describe(page.events) if page else [],
        "query": _query_without_position(request),
        "verification": verification_latest(),
        "last_finished": verification_last_finished(),
        "programs": audit_programs_for_viewer(user=request.user),  # type: ignore[arg-type]
        "is_admin": request.user.is_portal_admin,  # type: ignore[union-attr]
    }
    template = "audit/_events.html" if getattr(request, "htmx", False) and status == 200 else "audit/log.html"
    return render(request, template, context, status=status)


@require_GET
@auditor_required
def event_export(request: HttpRequest) -> HttpResponseBase:
    """Stream the filtered log as CSV (constant memory). The export itself is recorded first."""
    form = EventFilterForm(request.GET, user=request.user)  # type: ignore[arg-type]
    if not form.is_valid():
        return render(request, "audit/log.html", {"form": form, "page": None, "query": ""}, status=400)
    filters = form.filters()
    programs = list(audit_programs_for_viewer(user=request.user))  # type: ignore[arg-type]
    scope = filters.program or (programs[0] if len(programs) == 1 else None)
    audit_record(
        action=Action.AUDIT_EXPORTED,
        actor=request.user,
        program=scope,
        request=request,
        details={"format": "csv", "filters": filters.as_details()},
    )
    events = events_filtered(user=request.user, filters=filters)  # type: ignore[arg-type]
    response = StreamingHttpResponse(csv_rows(event_rows(events)), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@auditor_required
def verify(request: HttpRequest) -> HttpResponse:
    verification, inline = verification_request(actor=request.user)
    if verification.state == AuditVerification.State.OK:
        messages.success(request, f"Verified: {verification.message}")
    elif verification.state == AuditVerification.State.BROKEN:
        messages.error(request, f"The audit chain is broken. {verification.message}")
    elif inline:
        messages.error(request, verification.message or "The verification could not finish.")
    else:
        messages.info(request, "Verification started. This page shows the result when it finishes.")
    return redirect("audit:log")


@require_GET
@auditor_required
def student_search(request: HttpRequest) -> HttpResponse:
    form = StudentSearchForm(request.GET or None)
    students = None
    status = 200
    if form.is_bound:
        if form.is_valid() and form.cleaned_data["q"].strip():
            students = students_for_auditor(user=request.user, text=form.cleaned_data["q"].strip())  # type: ignore[arg-type]
        elif not form.is_valid():
            status = 400
    return render(request, "audit/students.html", {"form": form, "students": students}, status=status)


def _evidence(request: HttpRequest, person_id: int, fmt: str) -> Any:
    user = request.user
    student = student_for_auditor(user=user, person_id=person_id)  # type: ignore[arg-type]
    evidence = evidence_for_student(user=user, student=student)  # type: ignore[arg-type]
    # One event per program in the report, so each program's auditors see that the report was produced.
    with transaction.atomic():
        scopes: list[Program | None] = list(evidence.programs) or [None]
        for program in scopes:
            audit_record(
                action=Action.EVIDENCE_REPORT,
                details={"format": fmt, "events": len(evidence.events)},
                actor=user,
                program=program,
                student=student,
                request=request,
            )
    return evidence


@require_GET
@auditor_required
def evidence_page(request: HttpRequest, person_id: int) -> HttpResponse:
    evidence = _evidence(request, person_id, "html")
    rows = describe(evidence.events)  # the views are among the events: one resolution for both tables
    views = [row for row in rows if row.event.action == Action.STUDENT_DATA_VIEWED]
    return render(request, "audit/evidence.html", {"evidence": evidence, "rows": rows, "views": views})


@require_GET
@auditor_required
def evidence_csv(request: HttpRequest, person_id: int) -> HttpResponseBase:
    evidence = _evidence(request, person_id, "csv")
    response = StreamingHttpResponse(csv_rows(evidence_rows(evidence)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="evidence-student-{evidence.student.pk}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@auditor_required
def evidence_pdf_view(request: HttpRequest, person_id: int) -> HttpResponse:
    evidence = _evidence(request, person_id, "pdf")
    pdf = evidence_pdf(evidence, produced_by=request.user.get_username())
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="evidence-student-{evidence.student.pk}.pdf"'
    response["Cache-Control"] = "no-store"
    return response

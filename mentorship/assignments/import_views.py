"""The CSV import pages: upload and preview, confirm, and the status page of a big import.

What a confirm does (inline, queued for a worker, or refused) is decided in csv_import_flow; these views only show it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import csv_import, services
from .forms import CsvUploadForm
from .models import CsvImport
from .selectors import programs_for_coordinator
from .views import _user, coordinator_required


@coordinator_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    programs = programs_for_coordinator(user=user)
    form = CsvUploadForm(request.POST or None, request.FILES or None, programs=programs)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        program = form.cleaned_data["program"]
        if upload.size and upload.size > int(settings.CSV_IMPORT_MAX_BYTES):
            form.add_error("file", csv_import.size_message(upload.size))  # not read: the size alone decides
        else:
            data = upload.read()
            try:
                records = csv_import.read_csv(data)
            except csv_import.ImportFileError as exc:
                form.add_error("file", str(exc))
            else:
                preview = csv_import.validate(program=program, records=records)
                batch = CsvImport.objects.create(
                    program=program,
                    uploaded_by=user,
                    filename=(upload.name or "")[:255],
                    content=data.decode("utf-8-sig"),
                    row_count=len(preview.rows),
                )
                return render(request, "assignments/import_preview.html", _preview_context(preview, batch))
    return render(request, "assignments/import_upload.html", {"form": form})


def _preview_context(preview: csv_import.Preview, batch: CsvImport) -> dict[str, Any]:
    return {
        "preview": preview,
        "batch": batch,
        "in_background": len(preview.rows) > csv_import.INLINE_MAX_ROWS,
    }


def _own_import(request: HttpRequest, pk: int, **conditions: Any) -> CsvImport:
    user = _user(request)
    return get_object_or_404(
        CsvImport, pk=pk, uploaded_by=user, program__in=programs_for_coordinator(user=user), **conditions
    )


@coordinator_required
@require_POST
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    batch = _own_import(request, pk, confirmed_at__isnull=True, state=CsvImport.State.PREVIEWED)
    # Validate again: people, rules and other proposals may have changed since the preview.
    preview = csv_import.validate(program=batch.program, records=csv_import.read_csv(batch.content.encode()))
    if not preview.ok:
        messages.error(request, "Something changed since the preview: some rows now have errors. Nothing was created.")
        return render(request, "assignments/import_preview.html", _preview_context(preview, batch))
    if len(preview.rows) > csv_import.INLINE_MAX_ROWS:
        # A worker creates it (all rows or none); the status page follows it.
        queued = CsvImport.objects.filter(pk=batch.pk, state=CsvImport.State.PREVIEWED).update(
            state=CsvImport.State.QUEUED, queued_at=timezone.now()
        )
        if queued and not csv_import.import_enqueue(batch=batch):
            CsvImport.objects.filter(pk=batch.pk).update(state=CsvImport.State.PREVIEWED, queued_at=None)
            messages.error(
                request,
                "The background workers cannot take the import right now (their queue is not answering). "
                "Nothing was created; confirm again in a minute.",
            )
            return render(request, "assignments/import_preview.html", _preview_context(preview, batch))
        return redirect("assignments:import_status", pk=batch.pk)
    try:
        result = csv_import.commit(preview=preview, actor=user, request=request, source=f"upload:{batch.filename}")
    except services.AssignmentError as exc:
        messages.error(request, str(exc))
        return redirect("assignments:import")
    now = timezone.now()
    won = CsvImport.objects.filter(pk=batch.pk, confirmed_at__isnull=True).update(
        confirmed_at=now,
        finished_at=now,
        state=CsvImport.State.DONE,
        created_count=len(result.created),
        people_added=result.people_added,
    )
    if not won:  # pragma: no cover - the row is only ever confirmed here, and the commit above is one transaction
        raise Http404
    messages.success(
        request,
        f"Imported {len(result.created)} proposed assignment(s); {result.people_added} new people added from Canvas.",
    )
    return redirect(reverse("assignments:list") + f"?status=proposed&program={batch.program_id}")


@coordinator_required
@require_GET
def import_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Where a big import is followed: waiting for a worker, created, or refused with the reason."""
    batch = _own_import(request, pk)
    return render(request, "assignments/import_status.html", {"batch": batch})

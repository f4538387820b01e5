"""The CSV import pages: upload and preview, confirm, and the status page of a big import.

What a confirm does (inline, queued for a worker, or a second submit) is decided in import_batches; these views only
show it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mentorship.core.spreadsheets import csv_attachment

from . import csv_import, csv_reading, import_batches
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
            try:
                records = csv_import.read_csv(upload.chunks())
            except csv_import.ImportFileError as exc:
                form.add_error("file", str(exc))
            else:
                preview = csv_import.validate(program=program, records=records)
                batch = None
                if preview.ok:  # a file with errors is never confirmed, so it is not kept (a NUL cannot be stored)
                    batch = CsvImport.objects.create(
                        program=program,
                        uploaded_by=user,
                        filename=(upload.name or "")[:255],
                        content=records.text,
                        row_count=len(preview.rows),
                    )
                context = _preview_context(preview, batch)
                context["filename"] = upload.name or "CSV"
                return render(request, "assignments/import_preview.html", context)
    return render(request, "assignments/import_upload.html", {"form": form})


def _preview_context(preview: csv_import.Preview, batch: CsvImport | None) -> dict[str, Any]:
    return {
        "preview": preview,
        "batch": batch,
        "filename": batch.filename if batch else "CSV",
        "in_background": len(preview.rows) > csv_import.INLINE_MAX_ROWS,
    }


def _own_import(request: HttpRequest, pk: int) -> CsvImport:
    user = _user(request)
    return get_object_or_404(CsvImport, pk=pk, uploaded_by=user, program__in=programs_for_coordinator(user=user))


@coordinator_required
@require_POST
def import_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    """Any number of submits start the creation once (import_batches.import_confirm); the later ones land on the
    batch's status page with a sentence saying where it stands."""
    batch = _own_import(request, pk)
    outcome = import_batches.import_confirm(batch_id=batch.pk, actor=_user(request), request=request)
    batch = outcome.batch
    if outcome.preview is not None:
        messages.error(
            request,
            "Something changed since the preview: the rows marked below now have errors. Nothing was created; "
            "fix the file and upload it again.",
        )
        return render(request, "assignments/import_preview.html", _preview_context(outcome.preview, batch))
    if not outcome.started:
        if batch.state == CsvImport.State.PREVIEWED:  # the workers' queue did not answer
            messages.error(request, outcome.message)
            return render(request, "assignments/import_status.html", {"batch": batch})
        messages.info(request, outcome.message)
    elif batch.state == CsvImport.State.DONE:
        messages.success(
            request,
            f"Imported {batch.created_count} proposed assignment(s); {batch.people_added} new people added from "
            "Canvas.",
        )
        return redirect(reverse("assignments:list") + f"?status=proposed&program={batch.program_id}")
    return redirect("assignments:import_status", pk=batch.pk)


@coordinator_required
@require_GET
def import_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Where a confirmed import is followed: waiting for a worker, being created, created, or refused with why."""
    batch = _own_import(request, pk)
    return render(request, "assignments/import_status.html", {"batch": batch})


SAMPLE_CSV = Path(__file__).resolve().parent / "data" / "assignments_example.csv"


@coordinator_required
@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    """An empty file with the header row the import reads (the same column names csv_reading checks)."""
    return csv_attachment(",".join(csv_reading.TEMPLATE_COLUMNS) + "\n", "assignments-template.csv")


@coordinator_required
@require_GET
def import_sample(request: HttpRequest) -> HttpResponse:
    """The sample file: three rows, one per link method (the ids are illustrations, see its page)."""
    return csv_attachment(SAMPLE_CSV.read_text(encoding="utf-8"), "assignments-example.csv")

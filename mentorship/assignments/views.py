from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from mentorship.accounts.selectors import programs_for_coordinator

from . import services
from .forms import AssignmentCreateForm, DecisionForm
from .selectors import assignment_for_coordinator, assignments_for_coordinator


@login_required
def assignment_list(request: HttpRequest) -> HttpResponse:
    assignments = assignments_for_coordinator(user=request.user)[:100]  # type: ignore[arg-type]
    return render(request, "assignments/list.html", {"assignments": assignments})


@login_required
@require_http_methods(["GET", "POST"])
def assignment_create(request: HttpRequest) -> HttpResponse:
    programs = programs_for_coordinator(user=request.user)  # type: ignore[arg-type]
    form = AssignmentCreateForm(request.POST or None, programs=programs)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            assignment = services.assignment_propose(
                program=data["program"],
                mentor=data["mentor"],
                student=data["student"],
                starts_on=data["starts_on"],
                ends_on=data["ends_on"],
                link_method=data["link_method"],
                reason=data["reason"],
                actor=request.user,  # type: ignore[arg-type]
                request=request,
            )
        except services.AssignmentError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Assignment proposed.")
            return redirect("assignments:detail", pk=assignment.pk)
    return render(request, "assignments/create.html", {"form": form})


@login_required
def assignment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = assignment_for_coordinator(user=request.user, pk=pk)  # type: ignore[arg-type]
    return render(
        request,
        "assignments/detail.html",
        {"assignment": assignment, "links": assignment.links.all(), "decision_form": DecisionForm()},
    )


@login_required
@require_POST
def assignment_approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    assignment = assignment_for_coordinator(user=request.user, pk=pk)  # type: ignore[arg-type]
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            services.assignment_approve(
                assignment=assignment,
                actor=request.user,  # type: ignore[arg-type]
                note=form.cleaned_data["note"],
                request=request,
            )
        except services.AssignmentError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Assignment approved. The Canvas link is on its way.")
    return redirect("assignments:detail", pk=assignment.pk)

"""Programs and roles: admins create and change programs and grant roles; coordinators read their programs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mentorship.accounts.models import ProgramRole
from mentorship.assignments import program_roles as role_services

from . import selectors, services
from .forms import ProgramForm, RoleGrantForm
from .models import Program
from .selectors import programs_for_coordinator
from .views import _user, admin_required


@login_required
@require_GET
def program_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if user.is_portal_admin:
        programs = Program.objects.all()
    else:
        programs = programs_for_coordinator(user=user)
        if not programs.exists():
            raise Http404
    return render(request, "assignments/programs.html", {"programs": programs, "is_admin": user.is_portal_admin})


@admin_required
@require_http_methods(["GET", "POST"])
def program_create_view(request: HttpRequest) -> HttpResponse:
    form = ProgramForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            program = services.program_create(actor=_user(request), request=request, **form.cleaned_data)
        except services.AssignmentError as exc:
            form.add_error("slug", str(exc))
        else:
            messages.success(request, f"Program {program.name} created. Now give it coordinators.")
            return redirect("assignments:program", pk=program.pk)
    return render(request, "assignments/program_form.html", {"form": form, "program": None})


@login_required
@require_http_methods(["GET", "POST"])
def program_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    if user.is_portal_admin:
        program = get_object_or_404(Program, pk=pk)
    else:
        program = selectors.program_for_coordinator(user=user, pk=pk)
    form = ProgramForm(request.POST or None, instance=program) if user.is_portal_admin else None
    if request.method == "POST":
        if form is None:
            raise Http404
        if form.is_valid():
            try:
                services.program_update(
                    program=Program.objects.get(pk=program.pk), actor=user, request=request, **form.cleaned_data
                )
            except services.AssignmentError as exc:
                form.add_error("slug", str(exc))
            else:
                messages.success(request, "Program settings saved.")
                return redirect("assignments:program", pk=program.pk)
    return render(
        request,
        "assignments/program_detail.html",
        {
            "program": program,
            "form": form,
            "roles": selectors.coordinators_of(program=program),
            "grant_form": RoleGrantForm() if user.is_portal_admin else None,
        },
    )


@admin_required
@require_POST
def role_grant_view(request: HttpRequest, pk: int) -> HttpResponse:
    program = get_object_or_404(Program, pk=pk)
    form = RoleGrantForm(request.POST)
    if form.is_valid():
        try:
            role_services.role_grant(
                program=program,
                user=form.cleaned_data["user"],
                role=form.cleaned_data["role"],
                actor=_user(request),
                request=request,
            )
        except role_services.RoleError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"{form.cleaned_data['user'].get_username()} is now {form.cleaned_data['role']} of {program}."
            )
    else:
        messages.error(request, "Choose a user and a role.")
    return redirect("assignments:program", pk=program.pk)


@admin_required
@require_POST
def role_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    grant = get_object_or_404(ProgramRole.objects.select_related("program", "user"), pk=pk)
    try:
        role_services.role_revoke(grant=grant, actor=_user(request), request=request)
    except role_services.RoleError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{grant.user.get_username()} is no longer {grant.role} of {grant.program}.")
    return redirect("assignments:program", pk=grant.program_id)

"""The admin's account pages (people with a portal account, invitations) and the invitee's set-password page."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import password_validation
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from . import services
from .models import Invitation, ProgramRole, User


def admin_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Account pages answer 404 to anyone but an admin (the same as a page that does not exist)."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_portal_admin", False):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _programs() -> Any:
    # The Program model sits above accounts (docs/architecture.md, "Layers"): reach it through the foreign key.
    return Invitation._meta.get_field("programs").related_model.objects.filter(is_active=True).order_by("name")  # type: ignore[union-attr]


class InviteForm(forms.Form):
    name = forms.CharField(max_length=300, label="Name", help_text="As the portal should show it.")
    email = forms.EmailField(label="E-mail address", help_text="The invitation link is sent here.")
    role = forms.ChoiceField(choices=Invitation.Role.choices, widget=forms.RadioSelect, label="Role")
    programs: forms.ModelMultipleChoiceField[Any] = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Programs",
        help_text="The programs a coordinator or auditor works in. An admin sees every program.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["programs"].queryset = _programs()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("role") in (Invitation.Role.COORDINATOR, Invitation.Role.AUDITOR) and not data.get("programs"):
            self.add_error("programs", f"Choose at least one program for the {data['role']}.")
        return data


@admin_only
@require_http_methods(["GET", "POST"])
def users(request: HttpRequest) -> HttpResponse:
    """Every portal account but the mentors' (they come through Canvas), and the invitations not accepted yet."""
    roles = Prefetch("program_roles", queryset=ProgramRole.objects.select_related("program").order_by("program__name"))
    staff = (
        User.objects.filter(Q(person__isnull=True) | Q(program_roles__isnull=False) | Q(is_superuser=True))
        .distinct()
        .prefetch_related(roles)
        .order_by("-is_active", "last_name", "first_name", "username")
    )
    pending = Invitation.objects.filter(accepted_at__isnull=True, withdrawn_at__isnull=True).prefetch_related(
        "programs"
    )
    return render(
        request,
        "accounts/users.html",
        {"staff": staff, "pending": pending},
    )


@admin_only
@require_http_methods(["GET", "POST"])
def invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.invitation_create(
                email=data["email"],
                name=data["name"],
                role=data["role"],
                programs=data["programs"],
                actor=request.user,  # type: ignore[arg-type]
                request=request,
            )
        except services.AccountError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Invitation sent to {data['email']}. The link works once.")
            return redirect("accounts:users")
    return render(request, "accounts/invite.html", {"form": form})


@admin_only
@require_POST
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Switch an account off (`active=0`) or on again (`active=1`); a second submit says it is already so."""
    user = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        ended = services.account_set_active(user=user, active=active, actor=request.user, request=request)  # type: ignore[arg-type]
    except services.AccountError as exc:
        messages.info(request, str(exc))
    else:
        who = user.get_full_name() or user.get_username()
        if active:
            messages.success(request, f"{who} can sign in again.")
        else:
            messages.success(request, f"{who} is switched off; {ended} open session(s) ended.")
    return redirect("accounts:users")


@admin_only
@require_POST
def invitation_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=pk)
    try:
        services.invitation_withdraw(invitation=invitation, actor=request.user, request=request)  # type: ignore[arg-type]
    except services.AccountError as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, f"The invitation of {invitation.email} was withdrawn; its link no longer works.")
    return redirect("accounts:users")


class SetPasswordForm(forms.Form):
    password1 = forms.CharField(label="New password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="New password again", strip=False, widget=forms.PasswordInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        one, two = data.get("password1"), data.get("password2")
        if one and two and one != two:
            self.add_error("password2", "The two passwords differ; type the same one twice.")
        elif one:
            try:
                password_validation.validate_password(one)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invitee chooses a password; the account and its role are made then. Anyone with the link may open it."""
    invitation = services.invitation_for_token(token=token)
    problem = services.invitation_problem(invitation)
    if problem:
        return render(request, "accounts/invitation.html", {"problem": problem}, status=410 if invitation else 404)
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(token=token, password=form.cleaned_data["password1"], request=request)
        except services.AccountError as exc:
            return render(request, "accounts/invitation.html", {"problem": str(exc)}, status=410)
        messages.success(request, f"Your password is set. Sign in as {user.get_username()}.")
        return redirect("accounts:login")
    return render(request, "accounts/invitation.html", {"form": form, "invitation": invitation})

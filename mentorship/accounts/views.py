from __future__ import annotations

from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record


class PortalLoginView(LoginView):
    """Local sign-in for coordinators, auditors and admins. Lockout is django-axes' job (settings.AXES_*)."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(action=Action.SIGN_IN, actor=form.get_user(), request=self.request, details={"method": "local"})
        return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        audit_record(action=Action.SIGN_OUT, actor=request.user, request=request)  # type: ignore[arg-type]
    logout(request)
    return redirect("accounts:login")

"""Password reset by e-mail and password change: Django's own views, with the portal's templates, a rate limit and
an audit row for each step.

The reset form answers the same whether or not the address belongs to an account, and whether or not the limit was
reached (no account enumeration): the person is told to look in their mailbox either way.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponse
from django.urls import reverse_lazy

from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record, client_ip

from .models import User

_WINDOW_SECONDS = 3600


def _over_limit(*keys: str) -> bool:
    """Count one request under each key for an hour; True when any key passed settings.PASSWORD_RESET_PER_HOUR.

    The counters live in the shared cache (Redis or the database cache), so every web process counts together."""
    over = False
    for key in keys:
        name = "pwreset:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        cache.add(name, 0, _WINDOW_SECONDS)
        try:
            count = cache.incr(name)
        except ValueError:  # expired between add and incr
            cache.set(name, 1, _WINDOW_SECONDS)
            count = 1
        over = over or count > settings.PASSWORD_RESET_PER_HOUR
    return over


class PortalPasswordResetView(auth_views.PasswordResetView):
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        email = str(form.cleaned_data["email"]).strip().lower()
        address = client_ip(self.request) or ""  # the proxy sets REMOTE_ADDR (docs/operations.md)
        limited = _over_limit(f"email:{email}", f"ip:{address}")
        matched = User.objects.filter(email__iexact=email, is_active=True).exists()
        audit_record(
            action=Action.PASSWORD_RESET_REQUESTED,
            outcome=Outcome.REFUSED if limited else Outcome.OK,
            request=self.request,
            details={"email": email, "account_found": matched, **({"reason": "rate_limited"} if limited else {})},
        )
        if limited:
            # The same page as a sent mail: the limit must not tell anyone which addresses have accounts.
            return super(auth_views.PasswordResetView, self).form_valid(form)
        self.extra_email_context = {"portal_base_url": settings.PORTAL_BASE_URL}
        return super().form_valid(form)


class _AuditsNewPassword:
    """The password was set: one audit row, the account's own, once Django's view has saved it."""

    audit_action = ""
    request: Any

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)  # type: ignore[misc]
        audit_record(action=self.audit_action, actor=form.user, request=self.request, details={})
        return response


class PortalPasswordResetConfirmView(_AuditsNewPassword, auth_views.PasswordResetConfirmView):
    """Django's token includes the password hash and the last sign-in, so the link stops working once used."""

    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
    audit_action = Action.PASSWORD_RESET


class PortalPasswordChangeView(_AuditsNewPassword, auth_views.PasswordChangeView):
    """Changing the password ends the account's other sessions (Django's session hash follows the password)."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("accounts:password_change_done")
    audit_action = Action.PASSWORD_CHANGED


# The pages that only say "done" are Django's own views with the portal's templates (accounts/urls.py).

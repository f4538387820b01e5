"""The admin's page for replacing the portal's Canvas token (docs/operations.md, "Replacing the Canvas token")."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from mentorship.accounts.models import User
from mentorship.core.canvas import account_id

from .portal_token import MAX_TOKEN_LENGTH, TokenReplaceError, current_portal_token, portal_token_replace


class PortalTokenForm(forms.Form):
    token = forms.CharField(
        label="New Canvas token",
        max_length=MAX_TOKEN_LENGTH,
        strip=True,
        help_text="In Canvas, signed in as the portal's own account: Account, Settings, New access token.",
        # Never echoed back into the page, and not remembered by the browser.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


def _success_message(result_name: str, admin: bool | None) -> str:
    if admin is True:
        reach = f"it may read Canvas account {account_id()}"
    elif admin is False:
        reach = (
            f"but Canvas refuses it account {account_id()}: its user is not an admin there, so links will fail until "
            "a Canvas administrator makes it one"
        )
    else:
        reach = f"Canvas would not say whether it may use account {account_id()}"
    return f"The portal now uses the token of {result_name}; {reach}. Web and workers use it from their next request."


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def portal_token_view(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    if not user.is_portal_admin:
        raise Http404
    form = PortalTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = portal_token_replace(actor=user, token=form.cleaned_data["token"], request=request)
        except TokenReplaceError as exc:
            form.add_error("token", str(exc))
        else:
            if not result.changed or result.check is None:
                messages.info(request, "This token is already the portal's Canvas token. Nothing was changed.")
            else:
                messages.success(request, _success_message(result.check.name, result.check.account_admin))
                if result.circuit_was_open:
                    messages.success(request, "Canvas work has resumed: the changes that waited are being sent.")
            return redirect("sync:portal_token")
    context = {"form": form, "stored": current_portal_token(), "account_id": account_id()}
    return render(request, "sync/portal_token.html", context)

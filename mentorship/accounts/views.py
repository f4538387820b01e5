from __future__ import annotations

from typing import Any

from django.contrib.auth import login, logout
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record

from . import canvas_tokens, oauth
from .models import CanvasCredential, User


class PortalLoginView(LoginView):
    """Local sign-in for coordinators, auditors and admins. Lockout is django-axes' job (settings.AXES_*).

    Every attempt writes exactly one audit event: ok, failed, or locked (axes flags the request when this attempt
    reached the limit or the pair was already locked; AxesMiddleware then answers with the lockout page, which is
    the same whether or not the username exists).
    """

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form: Any) -> HttpResponse:
        # LoginView calls django.contrib.auth.login, which cycles the session key (no session fixation).
        response = super().form_valid(form)
        self.request.session[oauth.SIGNED_IN_WITH_SESSION_KEY] = "local"
        audit_record(action=Action.SIGN_IN, actor=form.get_user(), request=self.request, details={"method": "local"})
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        locked = bool(getattr(self.request, "axes_locked_out", False))
        username = str(self.request.POST.get("username", ""))[:150]
        audit_record(
            action=Action.SIGN_IN_LOCKED if locked else Action.SIGN_IN_FAILED,
            outcome=Outcome.REFUSED if locked else Outcome.FAILED,
            request=self.request,
            details={"method": "local", "username": username},
        )
        return super().form_invalid(form)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """End the session; a Canvas sign-in also has its token revoked in Canvas and forgotten here."""
    if request.user.is_authenticated:
        user = request.user
        assert isinstance(user, User)
        revoked = canvas_tokens.credential_revoke(user=user)
        audit_record(
            action=Action.SIGN_OUT,
            actor=user,
            request=request,
            details={"canvas_token_revoked": revoked} if revoked else {},
        )
    logout(request)
    return redirect("accounts:login")


@require_GET
@never_cache
def canvas_start(request: HttpRequest) -> HttpResponse:
    """Send the browser to Canvas's sign-in page; `?next=` (a portal address) is where the callback goes after.

    Someone signed in already goes straight on, unless they hold no Canvas token (a mentor who signed in with a
    password, or whose token Canvas refused): then the round trip fetches one.
    """
    next_url = oauth.safe_next(request=request, url=request.GET.get("next"))
    user = request.user
    if user.is_authenticated and CanvasCredential.objects.filter(user=user).exists():
        return redirect(next_url or "core:home")
    return redirect(oauth.authorize_url(request=request, next_url=next_url))


def _sign_in_problem(request: HttpRequest, message: str, *, status: int = 400) -> HttpResponse:
    return render(request, "accounts/canvas_problem.html", {"message": message}, status=status)


@require_GET
@never_cache
def canvas_callback(request: HttpRequest) -> HttpResponse:
    """Canvas sends the browser back here with `code` and `state` (or `error`)."""
    next_url = oauth.state_take(request=request, state=request.GET.get("state"))
    if next_url is None:
        audit_record(
            action=Action.SIGN_IN_FAILED,
            outcome=Outcome.FAILED,
            request=request,
            details={"method": "canvas", "reason": "bad_state"},
        )
        return _sign_in_problem(
            request,
            "This sign-in link is not valid any more (it was used already, took too long, or was started in another "
            "browser). Please start again with “Sign in with Canvas”.",
        )
    if request.GET.get("error") or not request.GET.get("code"):
        audit_record(
            action=Action.SIGN_IN_FAILED,
            outcome=Outcome.FAILED,
            request=request,
            details={"method": "canvas", "reason": str(request.GET.get("error") or "no_code")[:40]},
        )
        return _sign_in_problem(
            request, "Canvas did not sign you in (the sign-in was cancelled or refused). You can try again.", status=200
        )
    try:
        result = oauth.canvas_sign_in(request=request, code=str(request.GET["code"]))
    except oauth.SignInRefused as exc:
        return render(request, "accounts/canvas_refused.html", {"message": str(exc)}, status=403)
    except oauth.SignInError as exc:
        return _sign_in_problem(request, str(exc))
    # login() cycles the session key, so the pre-sign-in session (and its state) cannot be reused.
    login(request, result.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[oauth.SIGNED_IN_WITH_SESSION_KEY] = "canvas"
    return redirect(next_url or "core:home")

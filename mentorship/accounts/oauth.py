"""Sign in with Canvas: the OAuth2 authorization-code flow (docs/canvas.md, "Sign in with Canvas").

The portal sends the browser to Canvas with a random `state` kept in the session and a fixed `redirect_uri`; the
callback checks the state, trades the one-time code for tokens, maps the Canvas user to a Person and signs the
matching portal account in. A first sign-in creates the account only for a person who mentors in some assignment
(the rule the assignments app registers in mentorship/accounts/hooks.py); anyone else is refused with a page that
says why, and their token is revoked at once.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from canvas_client import CanvasError, OAuthToken
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.core.links import canvas_browser_url

from . import canvas_tokens
from .hooks import canvas_sign_in_rule
from .models import User

logger = logging.getLogger(__name__)

STATE_SESSION_KEY = "canvas_oauth_state"
SIGNED_IN_WITH_SESSION_KEY = "signed_in_with"
# A sign-in started more than this long ago is refused at the callback (Canvas's own codes live 10 minutes).
STATE_MAX_AGE_SECONDS = 600


class SignInError(Exception):
    """The sign-in did not complete. The message is a sentence for the person signing in."""


class SignInRefused(SignInError):
    """Canvas knows the person, but the portal has no account for them and will not create one."""


def redirect_uri() -> str:
    """Fixed, so a stolen code cannot be redeemed through some other address."""
    return f"{settings.PORTAL_BASE_URL}/accounts/canvas/callback/"


def safe_next(*, request: HttpRequest, url: str | None) -> str:
    """`url` when it stays on this portal (a path or this host), else "": a sign-in never sends anyone elsewhere."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def authorize_url(*, request: HttpRequest, next_url: str = "") -> str:
    """Where to send the browser to sign in with Canvas; remembers a fresh state (and where to go after) in the
    session."""
    state = secrets.token_urlsafe(32)
    request.session[STATE_SESSION_KEY] = {
        "value": state,
        "at": time.time(),
        "next": safe_next(request=request, url=next_url),
    }
    client = canvas_tokens.oauth_client()
    try:
        url = client.oauth_authorize_url(
            client_id=settings.CANVAS_OAUTH_CLIENT_ID,
            redirect_uri=redirect_uri(),
            state=state,
            purpose="Mentor Link",
        )
    finally:
        client.close()
    # The browser goes to Canvas's public address, which differs from the servers' only in the compose trial.
    return canvas_browser_url() + url.removeprefix(settings.CANVAS_BASE_URL)


def state_take(*, request: HttpRequest, state: str | None) -> str | None:
    """The `next` address ("" for none) when `state` is the one this browser's session was given, else None.

    Each state works once. The address is checked again here: the session is ours, but a check costs nothing.
    """
    saved = request.session.pop(STATE_SESSION_KEY, None)
    if not isinstance(saved, dict) or not state:
        return None
    if time.time() - float(saved.get("at", 0)) > STATE_MAX_AGE_SECONDS:
        return None
    if not secrets.compare_digest(str(saved.get("value", "")), state):
        return None
    return safe_next(request=request, url=str(saved.get("next") or ""))


def state_check(*, request: HttpRequest, state: str | None) -> bool:
    """True when `state` is the one this browser's session was given. Each state works once."""
    return state_take(request=request, state=state) is not None


@dataclass(frozen=True)
class SignInResult:
    user: User
    account_created: bool


def _revoke_quietly(token: OAuthToken) -> None:
    client = canvas_tokens.oauth_client()
    try:
        client.oauth_revoke(token.access_token)
    except CanvasError as exc:
        logger.warning("Could not revoke the Canvas token of a refused sign-in (%s).", exc.status_text)
    finally:
        client.close()


def _refuse(*, request: HttpRequest, canvas_user_id: int | None, reason: str, message: str) -> SignInRefused:
    audit_record(
        action=Action.SIGN_IN_REFUSED,
        outcome=Outcome.REFUSED,
        request=request,
        details={"method": "canvas", "canvas_user_id": canvas_user_id, "reason": reason},
    )
    return SignInRefused(message)


def _exchange_code(*, request: HttpRequest, code: str) -> OAuthToken:
    """The tokens for the one-time code (audited and raised as SignInError when Canvas refuses it)."""
    client = canvas_tokens.oauth_client()
    try:
        return client.oauth_exchange_code(
            client_id=settings.CANVAS_OAUTH_CLIENT_ID,
            client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET,
            redirect_uri=redirect_uri(),
            code=code,
        )
    except CanvasError as exc:
        audit_record(
            action=Action.SIGN_IN_FAILED,
            outcome=Outcome.FAILED,
            request=request,
            details={"method": "canvas", "reason": "code_exchange", "status": exc.status},
        )
        raise SignInError(
            "Canvas did not confirm your sign-in (the link may have been used already or expired). "
            "Please start again with “Sign in with Canvas”."
        ) from None
    finally:
        client.close()


def _new_account(person: Any) -> User:
    """A portal account for a mentor's first Canvas sign-in (no password: they always come through Canvas)."""
    first, _, last = person.name.partition(" ")
    user = User(
        username=f"canvas-{person.canvas_user_id}",
        first_name=first[:150],
        last_name=last[:150],
        email=person.email,
        person=person,
    )
    user.set_unusable_password()
    user.save()
    return user


def _staff_account_for(*, request: HttpRequest, person: Any, canvas_user_id: int | None) -> User | None:
    """A coordinator, auditor or admin invited by e-mail who signs in with Canvas for the first time: the account
    with the Canvas user's address (and no Canvas user yet) is linked to them, once and audited. Their roles stay the
    ones granted in the portal; Canvas only says who they are (docs/decisions.md, "Staff may sign in with Canvas")."""
    email = str(getattr(person, "email", "") or "").strip()
    if not email or not settings.STAFF_CANVAS_SIGN_IN:
        return None
    staff = (
        User.objects.filter(person__isnull=True, email__iexact=email, is_active=True)
        .filter(models.Q(is_superuser=True) | models.Q(program_roles__isnull=False))
        .values_list("pk", flat=True)
        .distinct()
    )
    candidates = list(staff[:2])
    if len(candidates) != 1:  # none, or two accounts with one address: nothing is guessed
        return None
    user = User.objects.select_for_update().filter(pk=candidates[0], person__isnull=True).first()
    if user is None:  # linked by a sign-in at the same moment
        return None
    user.person = person
    user.save(update_fields=["person"])
    details = {"canvas_user_id": canvas_user_id, "matched_by": "email"}
    audit_record(action=Action.ACCOUNT_CANVAS_LINKED, actor=user, obj=user, request=request, details=details)
    return user


def _account_for(*, request: HttpRequest, token: OAuthToken) -> SignInResult | SignInRefused:
    """Find or open the account of the Canvas user and store the tokens. Call inside a transaction.

    Returns (not raises) the audited SignInRefused when the person may not sign in, so the transaction commits the
    refusal's audit row.
    """
    rule = canvas_sign_in_rule()
    person = rule.person_for_canvas_user(token.user_id) if token.user_id else None
    user = User.objects.filter(person=person).first() if person is not None else None
    if user is None and person is not None:
        user = _staff_account_for(request=request, person=person, canvas_user_id=token.user_id)
    if user is not None and not user.is_active:
        return _refuse(
            request=request,
            canvas_user_id=token.user_id,
            reason="account_disabled",
            message="Your Mentor Link account has been switched off. Ask your program coordinator.",
        )
    if user is None and (person is None or not rule.may_open_account(person)):
        return _refuse(
            request=request,
            canvas_user_id=token.user_id,
            reason="not_a_mentor",
            message=(
                "Mentor Link is for mentors with an assignment in a mentor program, and we found none for your "
                "Canvas account. If you expected one, ask your program coordinator to check your assignment."
            ),
        )
    created = user is None
    user = user or _new_account(person)
    canvas_tokens.credential_save(user=user, token=token)
    audit_record(
        action=Action.SIGN_IN, actor=user, request=request, details={"method": "canvas", "account_created": created}
    )
    return SignInResult(user=user, account_created=created)


def canvas_sign_in(*, request: HttpRequest, code: str) -> SignInResult:
    """Trade the code for tokens and find (or create) the portal account. Does not log the user in (the view does).

    Raises SignInError when Canvas refuses the code, SignInRefused (audited) when the person may not sign in.
    """
    token = _exchange_code(request=request, code=code)
    with transaction.atomic():
        outcome = _account_for(request=request, token=token)
    if isinstance(outcome, SignInRefused):
        # We keep no token of a person we refused.
        _revoke_quietly(token)
        raise outcome
    return outcome

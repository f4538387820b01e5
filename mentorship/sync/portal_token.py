"""Replacing the portal's own Canvas token from the portal (docs/operations.md, "Replacing the Canvas token").

The new token is tested against Canvas first (``GET /users/self``, and whether it may read CANVAS_ACCOUNT_ID), and
only a working one is stored: a refused token changes nothing, so the old one stays in use until the new one works.
Storing it is one transaction under the circuit's row lock: the encrypted token, the circuit closed again, the audit
event. Web and workers pick it up at their next Canvas client (core.canvas reads the stored token), without a
restart. It lives in sync because it resets the circuit that sync owns (docs/architecture.md, "Packages").

No function here logs, audits or returns the token itself.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from canvas_client import CanvasAuthError, CanvasError, CanvasPermissionError
from mentorship.accounts.models import User
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record
from mentorship.core import canvas
from mentorship.core.encryption import encrypt
from mentorship.core.models import PortalCanvasToken

from .models import CanvasConnection
from .services import links_requeue_held

logger = logging.getLogger(__name__)

# Canvas tokens are 60-70 characters; anything far longer was pasted with something else.
MAX_TOKEN_LENGTH = 512
# The admin is waiting on the page: fail fast rather than hang on a slow Canvas.
CHECK_TIMEOUT = (3.0, 10.0)


class TokenReplaceError(Exception):
    """The new token was not stored; the message says why in the admin's words."""


@dataclass(frozen=True)
class TokenCheck:
    """What Canvas says about a token: whose it is, and whether it may read the portal's account."""

    canvas_user_id: int
    name: str
    # None: Canvas could not say (another error than a refusal).
    account_admin: bool | None


@dataclass(frozen=True)
class TokenReplaced:
    check: TokenCheck | None
    changed: bool
    circuit_was_open: bool = False


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _cleaned(token: str) -> str:
    token = (token or "").strip()
    if not token:
        raise TokenReplaceError("Paste the new Canvas token. Nothing was changed.")
    if len(token) > MAX_TOKEN_LENGTH or any(c.isspace() for c in token):
        raise TokenReplaceError(
            "That does not look like one Canvas token (it has spaces or is far too long). Paste only the token "
            "Canvas showed when it was generated. Nothing was changed."
        )
    return token


def portal_token_check(*, token: str) -> TokenCheck:
    """Test ``token`` against Canvas. Raises TokenReplaceError when it does not work."""
    client = canvas.portal_client(
        token=token, gated=False, timeout=CHECK_TIMEOUT, max_retries=1, max_throttle_retries=1
    )
    try:
        try:
            me = client.get_self()
        except CanvasAuthError as exc:
            raise TokenReplaceError(
                f"Canvas does not accept this token ({exc.status_text}: {exc.message.rstrip('.')}). Check that it was "
                "copied whole and has not been deleted or expired. Nothing was changed: the portal keeps its "
                "current token."
            ) from None
        except CanvasError as exc:
            raise TokenReplaceError(
                f"The token could not be tested: {exc.user_message} Nothing was changed: the portal keeps its "
                "current token."
            ) from None
        try:
            client.get_account(canvas.account_id())
            admin: bool | None = True
        except CanvasPermissionError:
            admin = False
        except CanvasError:
            admin = None
    finally:
        client.close()
    return TokenCheck(canvas_user_id=me.id, name=me.name, account_admin=admin)


def current_portal_token() -> PortalCanvasToken | None:
    """The stored token's row (who it belongs to, when and by whom it was stored), or None: CANVAS_TOKEN is used."""
    return PortalCanvasToken.objects.select_related("replaced_by").filter(pk=1).first()


def portal_token_replace(*, actor: User, token: str, request: HttpRequest | None = None) -> TokenReplaced:
    """Test ``token`` and, if it works, make it the portal's Canvas token. Safe to submit twice."""
    token = _cleaned(token)
    print_ = fingerprint(token)
    stored = current_portal_token()
    if stored is not None and stored.fingerprint == print_:
        return TokenReplaced(check=None, changed=False)
    try:
        check = portal_token_check(token=token)  # outside the lock: a network call
    except TokenReplaceError as exc:
        audit_record(
            action=Action.CANVAS_TOKEN_REFUSED,
            actor=actor,
            outcome=Outcome.REFUSED,
            details={"reason": str(exc)},
            request=request,
        )
        raise
    result = _token_store(actor=actor, token=token, print_=print_, check=check, request=request)
    if result.changed:
        logger.info("the portal's Canvas token was replaced (Canvas user %s)", check.canvas_user_id)
    return result


def _token_store(
    *, actor: User, token: str, print_: str, check: TokenCheck, request: HttpRequest | None
) -> TokenReplaced:
    """Store a tested token, close the circuit and audit, under the circuit row's lock (the state check inside)."""
    CanvasConnection.get()
    with transaction.atomic():
        conn = CanvasConnection.objects.select_for_update().get(pk=1)
        row = PortalCanvasToken.objects.select_for_update().filter(pk=1).first()
        if row is not None and row.fingerprint == print_:
            return TokenReplaced(check=None, changed=False)  # a second submit got the lock after the first
        previous = {"canvas_user_id": row.canvas_user_id, "name": row.canvas_user_name} if row else "CANVAS_TOKEN"
        now = timezone.now()
        PortalCanvasToken.objects.update_or_create(
            pk=1,
            defaults={
                "token_encrypted": encrypt(token),
                "fingerprint": print_,
                "canvas_user_id": check.canvas_user_id,
                "canvas_user_name": check.name,
                "account_admin": check.account_admin,
                "replaced_by": actor,
                "replaced_at": now,
                "version": (row.version + 1) if row else 1,
            },
        )
        was_open = conn.circuit == CanvasConnection.Circuit.OPEN
        CanvasConnection.objects.filter(pk=1).update(
            circuit=CanvasConnection.Circuit.CLOSED,
            last_error="",
            last_checked_at=now,
            last_success_at=now,
            updated_at=now,
        )
        audit_record(
            action=Action.CANVAS_TOKEN_REPLACED,
            actor=actor,
            details={
                "canvas_user_id": check.canvas_user_id,
                "canvas_user_name": check.name,
                "account_admin": check.account_admin,
                "previous": previous,
                "circuit_was_open": was_open,
            },
            request=request,
        )
        if was_open:
            audit_record(
                action=Action.CANVAS_CIRCUIT_CLOSED, actor=actor, details={"reason": "token replaced"}, request=request
            )
            # Work held while the circuit was open goes out with the new token.
            transaction.on_commit(links_requeue_held)
    return TokenReplaced(check=check, changed=True, circuit_was_open=was_open)


__all__ = [
    "TokenCheck",
    "TokenReplaceError",
    "TokenReplaced",
    "current_portal_token",
    "portal_token_check",
    "portal_token_replace",
]

"""The Canvas OAuth2 tokens of mentors who signed in with Canvas: encrypted at rest, refreshed, revoked.

Tokens are encrypted with Fernet by mentorship.core.encryption (its docstring explains the keys and their rotation).

No function here logs or raises a message that contains a token.
"""

from __future__ import annotations

import datetime
import logging

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from canvas_client import CanvasAuthError, CanvasClient, CanvasError, CanvasValidationError, OAuthToken
from mentorship.core.encryption import TokenDecryptError, decrypt, encrypt, fernet

from .models import CanvasCredential, User

logger = logging.getLogger(__name__)

# Refresh a little before Canvas's expiry so a token never dies between our check and Canvas's.
REFRESH_MARGIN = datetime.timedelta(seconds=60)
# Pages a mentor is waiting on: fail fast and show cached data rather than hang on a slow Canvas.
USER_TIMEOUT = (3.0, 10.0)


# --- encryption (mentorship.core.encryption, shared with the portal's own token) ------------------------------


def credentials_rotate() -> int:
    """Re-encrypt every stored token with the newest key. Returns how many rows changed."""
    multi = fernet()
    count = 0
    for credential in CanvasCredential.objects.all().iterator():
        access = multi.rotate(credential.access_token_encrypted.encode()).decode()
        refresh = (
            multi.rotate(credential.refresh_token_encrypted.encode()).decode()
            if credential.refresh_token_encrypted
            else ""
        )
        CanvasCredential.objects.filter(pk=credential.pk).update(
            access_token_encrypted=access, refresh_token_encrypted=refresh
        )
        count += 1
    return count


# --- clients ----------------------------------------------------------------------------------------------------


def canvas_session() -> requests.Session | None:
    """The HTTP session for Canvas calls made on a mentor's behalf. None: the client makes its own.

    Tests replace this to route calls to the in-process fake Canvas.
    """
    return None


def oauth_client() -> CanvasClient:
    """A client for the OAuth endpoints (they authenticate with the client id/secret or the user's own token)."""
    return CanvasClient(
        settings.CANVAS_BASE_URL, "", timeout=USER_TIMEOUT, session=canvas_session(), max_retries=1, acting_as="user"
    )


def user_client(access_token: str) -> CanvasClient:
    return CanvasClient(
        settings.CANVAS_BASE_URL,
        access_token,
        timeout=USER_TIMEOUT,
        session=canvas_session(),
        max_retries=1,
        max_throttle_retries=2,
        acting_as="user",
    )


# --- storing, refreshing, revoking ------------------------------------------------------------------------------


def _expiry(token: OAuthToken) -> datetime.datetime | None:
    return timezone.now() + datetime.timedelta(seconds=token.expires_in) if token.expires_in else None


def credential_save(*, user: User, token: OAuthToken) -> CanvasCredential:
    """Store (or replace) the user's Canvas tokens, encrypted. Call inside the sign-in transaction."""
    credential, _ = CanvasCredential.objects.update_or_create(
        user=user,
        defaults={
            "canvas_user_id": token.user_id or 0,
            "access_token_encrypted": encrypt(token.access_token),
            "refresh_token_encrypted": encrypt(token.refresh_token) if token.refresh_token else "",
            "expires_at": _expiry(token),
            "refreshed_at": None,
            "created_at": timezone.now(),  # this sign-in's time: credentials_expire() counts from it
        },
    )
    return credential


def _needs_refresh(credential: CanvasCredential) -> bool:
    return credential.expires_at is not None and credential.expires_at - REFRESH_MARGIN <= timezone.now()


def credential_refresh(*, user: User, force: bool = False) -> CanvasCredential | None:
    """A credential whose access token Canvas accepts (refreshed when expired, or always with `force`).

    Returns None when the user has no credential, or when Canvas refuses the refresh token (revoked or deleted in
    Canvas): the row is then deleted and the mentor sees no student data until they sign in with Canvas again.
    Raises CanvasError (transient) when Canvas could not be reached: the caller shows that Canvas is unavailable.
    """
    current = CanvasCredential.objects.filter(user=user).first()
    if current is None or (not force and not _needs_refresh(current)):
        # The common case takes no lock (on SQLite a write transaction would block every other writer).
        return current
    with transaction.atomic():
        # The row lock makes concurrent page loads refresh once: Canvas replaces the access token on refresh, so two
        # refreshes racing would leave one request holding a token that no longer works.
        credential = CanvasCredential.objects.select_for_update().filter(user=user).first()
        if credential is None:
            return None
        if not force and not _needs_refresh(credential):
            return credential  # another request refreshed it while we waited for the lock
        if not credential.refresh_token_encrypted:
            credential.delete()
            return None
        try:
            refresh_token = decrypt(credential.refresh_token_encrypted)
        except TokenDecryptError:
            logger.warning("Canvas credential of user %s could not be decrypted; it was discarded.", user.pk)
            credential.delete()
            return None
        client = oauth_client()
        try:
            token = client.oauth_refresh(
                client_id=settings.CANVAS_OAUTH_CLIENT_ID,
                client_secret=settings.CANVAS_OAUTH_CLIENT_SECRET,
                refresh_token=refresh_token,
            )
        except (CanvasAuthError, CanvasValidationError):
            # 400 invalid_request "refresh_token not found" (docs/canvas-rules.md, section 5): revoked in Canvas.
            logger.info("Canvas refused to refresh the token of user %s; the credential was discarded.", user.pk)
            credential.delete()
            return None
        finally:
            client.close()
        credential.access_token_encrypted = encrypt(token.access_token)
        if token.refresh_token:
            credential.refresh_token_encrypted = encrypt(token.refresh_token)
        credential.expires_at = _expiry(token)
        credential.refreshed_at = timezone.now()
        credential.save(
            update_fields=["access_token_encrypted", "refresh_token_encrypted", "expires_at", "refreshed_at"]
        )
        return credential


def mentor_client(user: object, *, force_refresh: bool = False) -> CanvasClient | None:
    """A CanvasClient acting with the mentor's own (refreshed) token, or None when they did not sign in with Canvas.

    Raises CanvasError only when a needed refresh could not reach Canvas.
    """
    if not isinstance(user, User) or not user.is_authenticated:
        return None
    credential = credential_refresh(user=user, force=force_refresh)
    if credential is None:
        return None
    try:
        access = decrypt(credential.access_token_encrypted)
    except TokenDecryptError:
        logger.warning("Canvas credential of user %s could not be decrypted; it was discarded.", user.pk)
        CanvasCredential.objects.filter(pk=credential.pk).delete()
        return None
    return user_client(access)


def credential_forget(*, user: User) -> None:
    """Drop the stored tokens without calling Canvas: Canvas refused them even fresh, so they are of no use."""
    CanvasCredential.objects.filter(user=user).delete()


def credential_revoke(*, user: User) -> bool:
    """Revoke the user's Canvas token in Canvas (DELETE /login/oauth2/token) and forget it. Sign-out calls this.

    Returns True when Canvas confirmed the revocation. The stored tokens are deleted either way: a token we can no
    longer revoke is at least no longer kept.
    """
    credential = CanvasCredential.objects.filter(user=user).first()
    if credential is None:
        return False
    revoked = False
    try:
        access = decrypt(credential.access_token_encrypted)
    except TokenDecryptError:
        access = ""
    if access:
        client = oauth_client()
        try:
            try:
                client.oauth_revoke(access)
                revoked = True
            except CanvasAuthError:
                # An expired access token cannot revoke itself; a fresh one revokes the whole grant (refresh
                # token included).
                refreshed = credential_refresh(user=user, force=True)
                if refreshed is not None:
                    client.oauth_revoke(decrypt(refreshed.access_token_encrypted))
                    revoked = True
        except CanvasError as exc:
            logger.warning("Could not revoke the Canvas token of user %s at sign-out (%s).", user.pk, exc.status_text)
        finally:
            client.close()
    CanvasCredential.objects.filter(user=user).delete()
    return revoked


def credentials_expire(*, now: datetime.datetime | None = None) -> int:
    """Revoke and forget every Canvas grant older than the longest possible session (SESSION_COOKIE_AGE).

    A mentor who closes the browser instead of signing out leaves a grant behind; no session can use it once the
    absolute session timeout has passed, and the next Canvas sign-in stores a new one. Beat runs this hourly.
    """
    from mentorship.audit.actions import Action
    from mentorship.audit.services import audit_record

    cutoff = (now or timezone.now()) - datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    expired = 0
    for credential in CanvasCredential.objects.filter(created_at__lt=cutoff).select_related("user"):
        revoked = credential_revoke(user=credential.user)
        audit_record(
            action=Action.CANVAS_TOKEN_EXPIRED,
            system_actor="credential expiry",
            obj=credential.user,
            details={"user": credential.user.username, "revoked_in_canvas": revoked},
        )
        expired += 1
    return expired

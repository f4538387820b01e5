"""Issuing, revoking and checking API tokens, each change audited in its own transaction."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from mentorship.accounts.models import User
from mentorship.api.models import ApiToken
from mentorship.assignments.models import Program
from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record

TOKEN_PREFIX = "mlsis_"  # noqa: S105 (how every token starts, so a leaked one is recognisable)


class ApiTokenError(ValueError):
    """A request the person can fix (the message says how)."""


def _digest(raw: str) -> str:
    # A token has 256 random bits: a plain SHA-256 cannot be reversed or guessed, so no slow hash is needed.
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_issue(*, name: str, programs: Iterable[Program], actor: User | None = None) -> tuple[ApiToken, str]:
    """A new token for these programs; returns the row and the token text, which is never stored or shown again."""
    programs = list(programs)
    name = name.strip()
    if not name:
        raise ApiTokenError("Give the token a name that says who uses it.")
    if not programs:
        raise ApiTokenError("Name at least one program the token may read.")
    # Hex, not URL-safe base64: a prefix starting with "-" would read as an option to `api_token revoke PREFIX`.
    raw = TOKEN_PREFIX + secrets.token_hex(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name, prefix=raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 8], digest=_digest(raw), created_by=actor
        )
        token.programs.set(programs)
        audit_record(
            action=Action.API_TOKEN_ISSUED,
            actor=actor,
            system_actor="" if actor else "command",
            obj=token,
            details={"name": name, "prefix": token.prefix, "programs": sorted(p.slug for p in programs)},
        )
    return token, raw


def api_token_revoke(*, prefix: str, actor: User | None = None) -> bool:
    """Revoke the token with this prefix; False (and nothing written) when it was already revoked."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(prefix=prefix).first()
        if token is None:
            raise ApiTokenError(f"No API token starts with {prefix!r}.")
        if token.revoked_at is not None:
            return False
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action=Action.API_TOKEN_REVOKED,
            actor=actor,
            system_actor="" if actor else "command",
            obj=token,
            details={"name": token.name, "prefix": token.prefix},
        )
    return True


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token this text is, or None."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.filter(digest=_digest(raw), revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(raw)):
        return None
    return token


def api_read_record(*, token: ApiToken, request: HttpRequest, returned: int, program: Program | None = None) -> None:
    """Every use is audited: which token read which endpoint with which filters, and how many rows it got."""
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        audit_record(
            action=Action.API_READ,
            system_actor=f"api:{token.prefix}",
            program=program,
            obj=token,
            request=request,
            details={
                "token": token.name,
                "path": request.path,
                "query": {key: request.GET.get(key, "") for key in sorted(request.GET)},
                "returned": returned,
            },
        )

"""Staff accounts: invitations to a role, accepting one, switching an account off and on again.

Every change writes its audit row in the same transaction; every decision locks its row and checks the state under
the lock, so a second submit (a double click, a second tab) changes nothing and says why.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import models, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from mentorship.audit.actions import Action
from mentorship.audit.services import audit_record

from . import canvas_tokens
from .models import Invitation, ProgramRole, User

logger = logging.getLogger(__name__)


class AccountError(Exception):
    """The change cannot be made; the message is a sentence for the person who asked."""


@dataclass(frozen=True)
class Invited:
    invitation: Invitation
    link: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_link(token: str) -> str:
    return f"{settings.PORTAL_BASE_URL}{reverse('accounts:invitation', args=[token])}"


def invitation_create(
    *,
    email: str,
    name: str,
    role: str,
    programs: Iterable[models.Model],
    actor: User,
    request: HttpRequest | None = None,
) -> Invited:
    """Invite `email` to `role` (of `programs` for a coordinator or auditor) and mail the link after commit."""
    email = email.strip().lower()
    programs = list(programs)
    if role not in Invitation.Role.values:
        raise AccountError("Choose a role: coordinator, auditor or admin.")
    if role != Invitation.Role.ADMIN and not programs:
        raise AccountError(f"Choose at least one program for the {role}.")
    if role == Invitation.Role.ADMIN:
        programs = []
    token = secrets.token_urlsafe(32)
    days = settings.INVITATION_VALID_DAYS
    with transaction.atomic():
        # A double submit (or a second admin at the same moment): the inviters' rows serialise the check below.
        User.objects.select_for_update().filter(pk=actor.pk).first()
        waiting = Invitation.objects.select_for_update().filter(
            email__iexact=email, accepted_at__isnull=True, withdrawn_at__isnull=True, expires_at__gt=timezone.now()
        )
        if waiting.exists():
            raise AccountError(
                f"An invitation to {email} is already waiting (the e-mail was sent). Withdraw it first to send a "
                "new one."
            )
        invitation = Invitation.objects.create(
            email=email,
            name=name.strip(),
            role=role,
            token_hash=token_hash(token),
            invited_by=actor,
            expires_at=timezone.now() + datetime.timedelta(days=days),
        )
        invitation.programs.set([p.pk for p in programs])
        audit_record(
            action=Action.ACCOUNT_INVITED,
            actor=actor,
            obj=invitation,
            request=request,
            program=programs[0] if len(programs) == 1 else None,
            details={"email": email, "role": role, "programs": sorted(p.pk for p in programs), "days": days},
        )
        link = invitation_link(token)
        transaction.on_commit(lambda: _mail_invitation(invitation, link=link, inviter=actor))
    return Invited(invitation=invitation, link=link)


def _mail_invitation(invitation: Invitation, *, link: str, inviter: User) -> None:
    programs = ", ".join(p.name for p in invitation.programs.order_by("name"))
    role = invitation.get_role_display().lower()
    what = f"{role} of {programs}" if programs else role
    body = (
        f"Hello {invitation.name or invitation.email},\n\n"
        f"{inviter.get_full_name() or inviter.get_username()} invited you to Mentor Link as {what}.\n"
        f"Choose your password here (the link works once, until {invitation.expires_at:%Y-%m-%d %H:%M %Z}):\n\n"
        f"{link}\n\n"
        "If you did not expect this invitation, you can ignore this message.\n"
    )
    try:
        send_mail("Your invitation to Mentor Link", body, None, [invitation.email])
    except Exception:  # the invitation stands; the admin can copy the link from the page or invite again
        logger.warning("could not mail invitation %s", invitation.pk, exc_info=True)


def invitation_for_token(*, token: str) -> Invitation | None:
    return Invitation.objects.filter(token_hash=token_hash(token)).first()


def invitation_problem(invitation: Invitation | None) -> str:
    """Why this invitation cannot be accepted now, in a sentence, or "" when it can."""
    if invitation is None:
        return (
            "This invitation link is not valid. Check that you copied all of it, or ask your admin to invite you again."
        )
    if invitation.accepted_at is not None:
        return "This invitation was accepted already. Sign in with the password you chose, or use “Forgot password?”."
    if invitation.withdrawn_at is not None:
        return "This invitation was withdrawn. Ask your admin to invite you again if you still need an account."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask your admin to invite you again."
    return ""


def invitation_accept(*, token: str, password: str, request: HttpRequest | None = None) -> User:
    """Open (or find, by e-mail) the invitee's account, set its password and grant the role, once.

    Raises AccountError (nothing changed) when the invitation was used, withdrawn, expired or never existed.
    """
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().filter(token_hash=token_hash(token)).first()
        problem = invitation_problem(invitation)
        if problem:
            raise AccountError(problem)
        assert invitation is not None
        user, created = _account_for_invitation(invitation)
        user.set_password(password)
        if invitation.role == Invitation.Role.ADMIN:
            user.is_superuser = True
            user.is_staff = True
        user.is_active = True
        user.save()
        granted = []
        for program in invitation.programs.all():
            grant, new = ProgramRole.objects.get_or_create(
                program=program, user=user, role=invitation.role, defaults={"granted_by": invitation.invited_by}
            )
            if new:
                granted.append(program.pk)
                details = {"user": user.get_username(), "user_id": user.pk, "role": grant.role, "invitation": True}
                audit_record(
                    action=Action.ROLE_GRANTED, actor=invitation.invited_by, program=program, obj=grant, details=details
                )
        invitation.accepted_at = timezone.now()
        invitation.accepted_user = user
        invitation.save(update_fields=["accepted_at", "accepted_user"])
        details = {"email": invitation.email, "role": invitation.role, "account_created": created, "programs": granted}
        audit_record(action=Action.INVITATION_ACCEPTED, actor=user, obj=invitation, request=request, details=details)
    return user


def _account_for_invitation(invitation: Invitation) -> tuple[User, bool]:
    """The account with the invited address (a mentor who becomes a coordinator keeps one account), or a new one."""
    user = User.objects.select_for_update().filter(email__iexact=invitation.email).order_by("pk").first()
    if user is not None:
        return user, False
    first, _, last = invitation.name.partition(" ")
    username = invitation.email[:150]
    if User.objects.filter(username=username).exists():
        username = f"{username[:140]}-{secrets.token_hex(3)}"
    return User(username=username, email=invitation.email, first_name=first[:150], last_name=last[:150]), True


def invitation_withdraw(*, invitation: Invitation, actor: User, request: HttpRequest | None = None) -> None:
    """Make an unused invitation's link stop working. Raises AccountError when it was used or withdrawn already."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None:
            raise AccountError("That invitation was accepted already; switch the account off instead.")
        if locked.withdrawn_at is not None:
            raise AccountError("That invitation was withdrawn already.")
        locked.withdrawn_at = timezone.now()
        locked.save(update_fields=["withdrawn_at"])
        details = {"email": locked.email, "role": locked.role}
        audit_record(action=Action.INVITATION_WITHDRAWN, actor=actor, obj=locked, request=request, details=details)


def account_set_active(*, user: User, active: bool, actor: User, request: HttpRequest | None = None) -> int:
    """Switch an account off (every session of it ends now) or on again. Returns the sessions ended.

    Raises AccountError when the account is already in that state, or when an admin would switch themselves off
    (the school could be left without an admin).
    """
    if not active and user.pk == actor.pk:
        raise AccountError("You cannot switch off your own account; ask another admin.")
    ended = 0
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.is_active == active:
            state = "on" if active else "off"
            raise AccountError(f"{_label(locked)} is switched {state} already.")
        locked.is_active = active
        locked.save(update_fields=["is_active"])
        if not active:
            ended = sessions_end(user=locked)
        audit_record(
            action=Action.ACCOUNT_REACTIVATED if active else Action.ACCOUNT_DEACTIVATED,
            actor=actor,
            obj=locked,
            request=request,
            details={"user": locked.get_username(), "user_id": locked.pk, "sessions_ended": ended},
        )
    if not active:
        # The Canvas grant goes too (a network call, so after the commit): a switched-off account keeps no token.
        transaction.on_commit(lambda: _revoke_canvas(locked))
    user.is_active = active
    return ended


def _revoke_canvas(user: User) -> None:
    try:
        canvas_tokens.credential_revoke(user=user)
    except Exception:  # the row is what lets the portal use the token; credential_revoke deletes it first
        logger.warning("could not revoke the Canvas token of user %s", user.pk, exc_info=True)


def sessions_end(*, user: Any) -> int:
    """Delete every stored session of this user (docs/decisions.md, "Switching an account off ends its sessions").

    The session store keeps the user id inside the encoded data, so the live sessions are decoded one by one: a
    school has a few hundred at most. ModelBackend refuses an inactive user on every request as well, so a session
    missed here (one being saved at this moment) is still signed out on its next request.
    """
    ids = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            ids.append(session.pk)
    Session.objects.filter(pk__in=ids).delete()
    return len(ids)


def _label(user: User) -> str:
    return user.get_full_name() or user.get_username()

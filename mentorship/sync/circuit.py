"""The circuit breaker: when Canvas rejects the portal's token, every Canvas call would fail the same way, so all
Canvas work stops (tasks leave their rows pending) until a probe shows the token works again."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from canvas_client import CanvasAuthError
from mentorship.accounts.models import ProgramRole, User
from mentorship.audit.actions import Action, Outcome
from mentorship.audit.services import audit_record

from .models import CanvasConnection

logger = logging.getLogger(__name__)


def circuit_is_open() -> bool:
    return CanvasConnection.objects.filter(pk=1, circuit=CanvasConnection.Circuit.OPEN).exists()


def _alert_recipients() -> list[str]:
    users = User.objects.filter(is_active=True).filter(
        Q(is_superuser=True) | Q(program_roles__role=ProgramRole.Role.COORDINATOR)
    )
    return sorted({u.email for u in users if u.email})


def _send_alert(message: str) -> None:
    recipients = _alert_recipients()
    if not recipients:
        return
    try:
        send_mail(
            "Mentor Link: Canvas work has stopped",
            (
                "Canvas rejected the portal's access token, so Mentor Link has stopped making changes in Canvas.\n\n"
                f"{message}\n\nNothing is lost: approved changes wait and resume by themselves once the token works "
                f"again. Status: {settings.PORTAL_BASE_URL}/sync/connection/\n"
            ),
            None,
            recipients,
        )
    except Exception:  # mail trouble must not hide the circuit state, which the banner also shows
        logger.warning("could not send the circuit alert email", exc_info=True)


def circuit_open(*, error: CanvasAuthError) -> bool:
    """Open the circuit (compare-and-set: only the first caller audits and alerts). Returns True if this call
    opened it."""
    CanvasConnection.get()
    message = error.user_message
    now = timezone.now()
    with transaction.atomic():
        won = CanvasConnection.objects.filter(pk=1, circuit=CanvasConnection.Circuit.CLOSED).update(
            circuit=CanvasConnection.Circuit.OPEN, opened_at=now, last_error=message, alerted_at=now, updated_at=now
        )
        if won:
            audit_record(
                action=Action.CANVAS_CIRCUIT_OPENED,
                system_actor="worker",
                outcome=Outcome.FAILED,
                details={"status": error.status, "error": message},
            )
            transaction.on_commit(lambda: _send_alert(message))
    if won:
        logger.error("Canvas rejected the portal token; circuit opened, Canvas work stopped")
    return bool(won)


__all__ = ["circuit_is_open", "circuit_open"]

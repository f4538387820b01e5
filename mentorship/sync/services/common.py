"""What every part of the sync services shares: the row states, the lifetimes Canvas imposes, the error type."""

from __future__ import annotations

import datetime

from ..models import ObserverLink

State = ObserverLink.State
Desired = ObserverLink.Desired
WORKING = (State.LINKING, State.UNLINKING)
PAIRING_CODE_LIFETIME = datetime.timedelta(days=7)  # Canvas: codes expire 7 days after issue (docs/canvas.md)
PAIRING_REMIND_BEFORE = datetime.timedelta(days=1)
BACKOFF_CAP_SECONDS = 300.0  # far below Redis's visibility_timeout (3600 s), so no broker redelivery races a retry


class SyncError(Exception):
    """A request a person made cannot be done; the message is a sentence for them."""

"""Re-encrypt stored Canvas tokens with the newest key in FIELD_ENCRYPTION_KEYS (run after adding a key first)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from mentorship.accounts.canvas_tokens import credentials_rotate
from mentorship.core.encryption import rotate
from mentorship.core.models import PortalCanvasToken


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Canvas token (mentors' and the portal's own) with the first key of "
        "FIELD_ENCRYPTION_KEYS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = credentials_rotate()
        self.stdout.write(f"Re-encrypted the Canvas tokens of {count} account(s) with the newest key.")
        for row in PortalCanvasToken.objects.all():
            PortalCanvasToken.objects.filter(pk=row.pk).update(token_encrypted=rotate(row.token_encrypted))
            self.stdout.write("Re-encrypted the portal's own Canvas token with the newest key.")

"""`manage.py audit_verify`: recompute the audit hash chain; exit 1 naming the first broken event."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from mentorship.audit.models import AuditVerification
from mentorship.audit.verification import verification_run


class Command(BaseCommand):
    help = "Verify the audit log's hash chain. Exits 1 and names the first broken event when it is not intact."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        verification = AuditVerification.objects.create(requested_via="command", started_at=timezone.now())
        verification = verification_run(verification=verification)
        elapsed = time.monotonic() - started
        if verification.state == AuditVerification.State.OK:
            self.stdout.write(f"{verification.message} ({verification.events_checked:,} checked in {elapsed:.1f} s)")
            return
        raise CommandError(
            f"Audit chain broken at event #{verification.first_broken_seq}. {verification.message}", returncode=1
        )

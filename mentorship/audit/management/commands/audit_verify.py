"""`manage.py audit_verify`: verify the audit chain (exit 1 naming the first broken event), or export a bundle.

- no arguments: verify every chained event, its MAC and the signed checkpoints, and that nothing has waited too
  long for the sequencer (docs/operations.md, "Audit keys, checkpoints and verification"). It does not chain the
  pending events itself: a stopped sequencer must show, not be papered over;
- `--export FROM TO OUT`: write the bundle of the events of those days (YYYY-MM-DD, UTC) into the folder OUT, for
  tools/verify_audit_bundle.py;
- `--public-key`: print the checkpoint-signing public key (base64) to hand to auditors.
"""

from __future__ import annotations

import base64
import datetime
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mentorship.audit.bundle import BundleError, bundle_export
from mentorship.audit.keys import public_key_bytes
from mentorship.audit.models import AuditVerification
from mentorship.audit.verification import verification_run


def _day(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-09-01.") from None


class Command(BaseCommand):
    help = "Verify the audit log's chain and checkpoints (exit 1 naming the first broken event), or export a bundle."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--export", nargs=3, metavar=("FROM", "TO", "OUT"), help="Write the bundle of these days into OUT."
        )
        parser.add_argument("--public-key", action="store_true", help="Print the checkpoint-signing public key.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["public_key"]:
            self.stdout.write(base64.b64encode(public_key_bytes()).decode())
            return
        if options["export"]:
            self._export(*options["export"])
            return
        started = time.monotonic()
        verification = AuditVerification.objects.create(requested_via="command", started_at=timezone.now())
        verification = verification_run(verification=verification)
        elapsed = time.monotonic() - started
        if verification.state == AuditVerification.State.OK:
            self.stdout.write(f"{verification.message} ({verification.events_checked:,} checked in {elapsed:.1f} s)")
            return
        where = f" at event #{verification.first_broken_seq}" if verification.first_broken_seq else ""
        raise CommandError(f"Audit chain broken{where}. {verification.message}", returncode=1)

    def _export(self, first: str, last: str, out: str) -> None:
        try:
            bundle = bundle_export(date_from=_day(first), date_to=_day(last), folder=Path(out))
        except BundleError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Wrote {bundle.events:,} events (#{bundle.first_seq} to #{bundle.last_seq}) and {bundle.checkpoints} "
            f"checkpoint(s) to {bundle.folder}. Check it with: python tools/verify_audit_bundle.py {bundle.folder}"
        )

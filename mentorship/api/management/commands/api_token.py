"""Issue, list and revoke SIS API tokens: `manage.py api_token issue --name "SIS nightly" --program tutoring`.

The token is printed once, on issue, and never stored: only its hash is kept (docs/operations.md, "The SIS API").
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mentorship.api.models import ApiToken
from mentorship.api.services import ApiTokenError, api_token_issue, api_token_revoke
from mentorship.assignments.models import Program


class Command(BaseCommand):
    help = "Issue, list or revoke the SIS API's tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        issue = sub.add_parser("issue", help="A new token for one or more programs (printed once).")
        issue.add_argument("--name", required=True, help="Who uses it, e.g. 'SIS nightly sync'.")
        issue.add_argument("--program", action="append", required=True, help="A program's slug; repeat for more.")
        sub.add_parser("list", help="Every token: prefix, name, programs, last use, revoked.")
        revoke = sub.add_parser("revoke", help="Revoke the token with this prefix.")
        revoke.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['verb']}")(options)
        except ApiTokenError as exc:
            raise CommandError(str(exc)) from None

    def _issue(self, options: dict[str, Any]) -> None:
        slugs = list(dict.fromkeys(options["program"]))
        programs = list(Program.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {p.slug for p in programs})
        if unknown:
            raise CommandError(f"No program with the slug {', '.join(unknown)}. Nothing was issued.")
        token, raw = api_token_issue(name=options["name"], programs=programs)
        self.stdout.write(f"Token {token.prefix}… for {', '.join(sorted(slugs))}. Shown once; keep it safe:")
        self.stdout.write(raw)

    def _list(self, options: dict[str, Any]) -> None:
        for token in ApiToken.objects.prefetch_related("programs"):
            programs = ",".join(sorted(p.slug for p in token.programs.all()))
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "live"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(f"{token.prefix}  {token.name}  [{programs}]  last used {used}  {state}")

    def _revoke(self, options: dict[str, Any]) -> None:
        if api_token_revoke(prefix=options["prefix"]):
            self.stdout.write(f"Token {options['prefix']}… revoked.")
        else:
            self.stdout.write(f"Token {options['prefix']}… was already revoked; nothing changed.")

"""What counts as a secret in free text: bearer tokens, OAuth secrets, pairing codes and the portal's own secrets.

Plain functions with no app behind them, so both the log filter (mentorship.core.logging) and the audit log's
masking (mentorship.audit.services) use one definition from below both (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import re

_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9~._\-+/=]+"), r"\1[redacted]"),
    (
        re.compile(
            r"(?i)((?:access_token|refresh_token|client_secret|pairing_code|code|token)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]+"
        ),
        r"\1[redacted]",
    ),
]
_MIN_LITERAL = 8  # shorter configured values would redact ordinary words


def _configured_secrets() -> list[str]:
    """The portal's own secrets, redacted wherever they appear even without a `token=` in front of them."""
    try:
        from django.conf import settings

        values = [settings.CANVAS_TOKEN, settings.CANVAS_OAUTH_CLIENT_SECRET, settings.SECRET_KEY]
    except Exception:  # settings not configured (a plain script): the patterns still apply
        return []
    return [value for value in values if isinstance(value, str) and len(value) >= _MIN_LITERAL]


def redact(text: str) -> str:
    for secret in _configured_secrets():
        if secret in text:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_bearer_and_configured(text: str) -> str:
    """Only the portal's configured secrets and bearer tokens: what the audit log masks inside free text."""
    for secret in _configured_secrets():
        text = text.replace(secret, "[redacted]")
    bearer_pattern, replacement = _PATTERNS[0]
    return bearer_pattern.sub(replacement, text)

"""A logging filter that keeps bearer tokens, OAuth secrets and pairing codes out of every log line."""

from __future__ import annotations

import logging
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


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        # Tracebacks carry exception messages (a URL with a token, a request body): format and redact them here,
        # because the formatter would otherwise print the raw text after this filter ran.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True

"""A logging filter that keeps bearer tokens, OAuth secrets and pairing codes out of every log line."""

from __future__ import annotations

import logging
import re

_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9~._\-+/=]+"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:access_token|refresh_token|client_secret|pairing_code|code|token)[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]+"), r"\1[redacted]"),
]


def redact(text: str) -> str:
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
        return True

"""A logging filter that keeps bearer tokens, OAuth secrets and pairing codes out of every log line.

The patterns live in mentorship.redaction, below every app, because the audit log masks free text with them too.
"""

from __future__ import annotations

import logging

from mentorship.redaction import redact


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            # A structlog event (mentorship.core.structured_logging): its fields stay fields, each one redacted.
            record.msg = {key: _redacted(value) for key, value in record.msg.items()}
            return True
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


def _redacted(value: object) -> object:
    return redact(value) if isinstance(value, str) else value

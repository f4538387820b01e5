"""Sentry: nothing starts without SENTRY_DSN; with it, events leave with no personal data and no secret
(docs/operations.md, "Sentry")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mentorship.core.error_tracking import scrub_breadcrumb, scrub_event

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
django.setup()
import sentry_sdk
client = sentry_sdk.get_client()
print(json.dumps({"active": client.is_active(), "pii": client.options.get("send_default_pii")}))
if client.is_active():
    sent = []

    class Capture(sentry_sdk.transport.Transport):
        def capture_envelope(self, envelope):
            for item in envelope.items:
                if item.payload.json:
                    sent.append(item.payload.json)

    client.transport = Capture(client.options)
    sentry_sdk.set_user({"id": 7, "email": "student@school.test", "username": "sasha"})
    try:
        raise RuntimeError("Canvas said no to access_token=tok-SECRET-1234 for Bearer abcdefghij")
    except RuntimeError:
        sentry_sdk.capture_exception()
    sentry_sdk.flush()
    print(json.dumps(sent))
"""


def _probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SENTRY_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "mentorship.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def test_nothing_starts_without_a_dsn() -> None:
    lines = _probe()
    assert json.loads(lines[0])["active"] is False
    assert len(lines) == 1


def test_with_a_dsn_an_error_is_sent_without_personal_data_or_secrets() -> None:
    lines = _probe(SENTRY_DSN="http://public@127.0.0.1:9/1")
    state, sent = json.loads(lines[0]), json.loads(lines[1])
    assert state == {"active": True, "pii": False}
    assert len(sent) == 1
    text = json.dumps(sent)
    assert "RuntimeError" in text
    assert "tok-SECRET-1234" not in text and "abcdefghij" not in text
    assert "student@school.test" not in text and "sasha" not in text
    assert sent[0]["user"] == {"id": 7}
    frames = sent[0]["exception"]["values"][0]["stacktrace"]["frames"]
    assert all("vars" not in frame for frame in frames)


def test_the_scrubber_drops_bodies_cookies_and_secret_headers() -> None:
    event = {
        "message": "pairing_code=AB12CD34 rejected",
        "request": {
            "url": "https://portal.example/sync/",
            "query_string": "token=abc123456",
            "data": {"password": "correct-horse-battery"},
            "cookies": {"sessionid": "s3ss10n"},
            "headers": {"Authorization": "Bearer zzzzzzzzzz", "Cookie": "sessionid=s3ss10n", "Accept": "text/html"},
            "env": {"REMOTE_ADDR": "198.51.100.7"},
        },
        "user": {"id": 3, "ip_address": "198.51.100.7", "email": "coordinator@school.test"},
        "extra": {"nested": ["client_secret: hush-hush-123"]},
        "exception": {"values": [{"stacktrace": {"frames": [{"function": "f", "vars": {"token": "t0k3n-value"}}]}}]},
    }
    scrubbed = scrub_event(event)
    text = json.dumps(scrubbed)
    for secret in ("AB12CD34", "abc123456", "correct-horse-battery", "s3ss10n", "zzzzzzzzzz", "198.51.100.7"):
        assert secret not in text, secret
    assert "coordinator@school.test" not in text and "hush-hush-123" not in text and "t0k3n-value" not in text
    assert scrubbed["user"] == {"id": 3}
    assert scrubbed["request"]["headers"]["Accept"] == "text/html"
    assert scrubbed["request"]["url"] == "https://portal.example/sync/"
    crumb = scrub_breadcrumb({"message": "GET /x?access_token=qwertyuiop", "category": "httplib"})
    assert "qwertyuiop" not in json.dumps(crumb) and crumb["category"] == "httplib"

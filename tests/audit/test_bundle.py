"""An audit bundle checked outside the portal: tools/verify_audit_bundle.py as a subprocess, with the venv's python,
no Django settings and no database in its environment."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from mentorship.audit.actions import Action
from mentorship.audit.keys import public_key_bytes
from mentorship.audit.models import AuditEvent
from mentorship.audit.services import audit_record
from mentorship.audit.tasks import sequence

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
VERIFIER = ROOT / "tools" / "verify_audit_bundle.py"


def _verify(folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "DATABASE", "CELERY", "REDIS", "AUDIT")) and k != "PYTHONPATH"
    }
    return subprocess.run(
        [sys.executable, "-I", str(VERIFIER), str(folder), *extra],
        cwd=folder,  # not the checkout: the portal's packages are not importable from here
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def bundle(tmp_path, coordinator, program, settings) -> Path:
    settings.AUDIT_CHECKPOINT_EVERY = 4
    for n in range(10):
        audit_record(
            action=Action.STUDENT_DATA_VIEWED,
            actor=coordinator,
            program=program,
            details={"n": n, "name": "Zoë «quoted»", "ratio": 0.25},
        )
        if n % 3 == 2:
            sequence()  # the worker's task: chains, and signs a checkpoint every 4 events
    today = timezone.now().date().isoformat()
    out = tmp_path / "bundle"
    call_command("audit_verify", "--export", today, today, str(out))
    return out


def _public_key() -> str:
    return base64.b64encode(public_key_bytes()).decode()


def test_the_verifier_accepts_a_good_bundle(bundle):
    result = _verify(bundle, "--public-key", _public_key())
    assert result.returncode == 0, result.stderr
    assert "Intact:" in result.stdout and "the pinned key" in result.stdout
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert f"#{manifest['first_seq']} to #{manifest['last_seq']}" in result.stdout
    assert AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED, details__format="bundle").exists()


def test_the_verifier_names_the_first_altered_event(bundle):
    events = (bundle / "events.jsonl").read_text().splitlines()
    altered = json.loads(events[4])
    altered["actor_label"] = "someone-else"
    events[4] = json.dumps(altered, ensure_ascii=False)
    (bundle / "events.jsonl").write_text("\n".join(events) + "\n")
    result = _verify(bundle, "--public-key", _public_key())
    assert result.returncode == 1
    assert f"Event #{altered['seq']} has been altered" in result.stderr


def test_the_verifier_catches_a_recomputed_chain_at_its_checkpoint(bundle):
    """Recomputing every later hash hides the edit from the links, not from the signature."""
    import hashlib

    lines = [json.loads(line) for line in (bundle / "events.jsonl").read_text().splitlines()]
    lines[2]["details"] = {"n": 999}
    previous = lines[2]["prev_hash"]
    for event in lines[2:]:
        event["prev_hash"] = previous
        payload = {k: v for k, v in event.items() if k not in {"prev_hash", "hash", "mac", "key_id"}}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        event["hash"] = previous = hashlib.sha256(text.encode() + event["prev_hash"].encode()).hexdigest()
    (bundle / "events.jsonl").write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in lines))
    result = _verify(bundle, "--public-key", _public_key())
    assert result.returncode == 1
    signed = sorted(json.loads(line)["seq"] for line in (bundle / "checkpoints.jsonl").read_text().splitlines())
    caught_at = min(seq for seq in signed if seq >= lines[2]["seq"])
    assert f"Event #{caught_at} differs from the signed checkpoint" in result.stderr
    assert len(signed) >= 2


def test_the_verifier_refuses_a_checkpoint_signed_by_another_key(bundle):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().public_key()
    raw = other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    result = _verify(bundle, "--public-key", base64.b64encode(raw).decode())
    assert result.returncode == 1
    assert "signature does not match" in result.stderr


def test_the_verifier_refuses_a_bundle_whose_checkpoint_was_edited(bundle):
    lines = (bundle / "checkpoints.jsonl").read_text().splitlines()
    last = json.loads(lines[-1])
    last["hash"] = "0" * 64
    lines[-1] = json.dumps(last)
    (bundle / "checkpoints.jsonl").write_text("\n".join(lines) + "\n")
    result = _verify(bundle)
    assert result.returncode == 1
    assert f"Checkpoint line {len(lines)}" in result.stderr


def test_a_range_with_no_events_is_refused_in_words(tmp_path):
    with pytest.raises(CommandError, match="No chained audit events occurred from 2001-01-01 to 2001-01-31"):
        call_command("audit_verify", "--export", "2001-01-01", "2001-01-31", str(tmp_path / "b"))
    with pytest.raises(CommandError, match="is not a date"):
        call_command("audit_verify", "--export", "yesterday", "2001-01-31", str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()


def test_the_portal_hashes_the_fields_the_verifier_checks():
    """One list: the portal reads the stand-alone verifier's, and the file run as a script has the same one."""
    import importlib.util

    from mentorship.audit.chain import CANONICAL_FIELDS
    from tools.verify_audit_bundle import HASHED_FIELDS

    assert CANONICAL_FIELDS is HASHED_FIELDS
    spec = importlib.util.spec_from_file_location("verify_audit_bundle_as_handed_over", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.HASHED_FIELDS == CANONICAL_FIELDS
